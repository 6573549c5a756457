"""Carriers, hostile input, API misuse, error accounting, and the two twins agreeing, on both twins."""

import logging
import string

import pytest
from conformance import w3c_member
from fuzz import fuzz_propagation
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ddfast._pure import propagation as pure

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE = 0x0AF7651916CD43DD8448EB211C80319C
ALL = ("datadog", "tracecontext", "b3multi", "b3", "baggage")


def ids_of(ctx):
    return ctx.trace_id, ctx.span_id, ctx.sampling_priority


# -- carriers -------------------------------------------------------------------------------------


def test_header_names_are_case_insensitive(prop):
    headers = {"X-Datadog-Trace-Id": "5", "X-DATADOG-PARENT-ID": "6", "x-DataDog-Sampling-Priority": "1"}
    assert ids_of(prop.extract(headers, prop.Settings())) == (5, 6, 1)


def test_wsgi_environ(prop):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "HTTP_HOST": "example",
        "HTTP_X_DATADOG_TRACE_ID": "5",
        "HTTP_X_DATADOG_PARENT_ID": "6",
        "HTTP_X_DATADOG_SAMPLING_PRIORITY": "2",
        "HTTP_TRACEPARENT": TP,
        "HTTP_BAGGAGE": "user.id=u",
        "wsgi.input": object(),
    }
    ctx = prop.extract(environ, prop.Settings())
    assert ids_of(ctx) == (5, 6, 2)
    assert ctx.baggage == {"user.id": "u"}
    assert len(ctx.span_links) == 1 and ctx.span_links[0].trace_id == TRACE


def test_asgi_header_list_of_bytes(prop):
    scope_headers = [
        (b"host", b"example"),
        (b"x-datadog-trace-id", b"5"),
        (b"x-datadog-parent-id", b"6"),
        (b"tracestate", b"a=1"),
        (b"tracestate", b"b=2"),
        (b"traceparent", TP.encode()),
    ]
    ctx = prop.extract(scope_headers, prop.Settings(extract_styles=("tracecontext",)))
    assert ctx.trace_id == TRACE
    assert ctx.meta["tracestate"] == "a=1,b=2"  # repeated list header joined, in order


def test_repeated_single_header_keeps_the_last(prop):
    pairs = [("x-datadog-trace-id", "5"), ("X-Datadog-Trace-Id", "7")]
    assert prop.extract(pairs, prop.Settings()).trace_id == 7


def test_mapping_and_get_only_carriers(prop):
    class ItemsOnly:
        def __init__(self, d):
            self.d = d

        def items(self):
            return self.d.items()

    class GetOnly:
        def __init__(self, d):
            self.d = d

        def get(self, name, default=None):
            return self.d.get(name, default)

    raw = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6"}
    assert ids_of(prop.extract(ItemsOnly(raw), prop.Settings())) == (5, 6, None)
    assert ids_of(prop.extract(GetOnly(raw), prop.Settings())) == (5, 6, None)


def test_values_of_other_types_are_ignored_not_fatal(prop):
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": 6, "x-datadog-sampling-priority": None, 7: "x"}
    before = prop.ERRORS.get("header_value_type", 0)
    ctx = prop.extract(headers, prop.Settings())
    assert ids_of(ctx) == (5, None, None)
    assert prop.ERRORS["header_value_type"] == before + 1


def test_malformed_pair_items_are_skipped(prop):
    ctx = prop.extract([("x-datadog-trace-id", "5"), "junk", (1, 2, 3), None], prop.Settings())
    assert ctx.trace_id == 5


def test_empty_and_none_carriers(prop):
    empty = prop.Context()
    assert prop.extract(None, prop.Settings()) == empty
    assert prop.extract({}, prop.Settings()) == empty
    assert prop.extract([], prop.Settings()) == empty


# -- API misuse -----------------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", [42, "x-datadog-trace-id: 5", 3.5, object()])
def test_extract_rejects_non_carriers(prop, carrier):
    with pytest.raises(TypeError, match="extract"):
        prop.extract(carrier, prop.Settings())


@pytest.mark.parametrize("headers", [None, 42, "headers", ("a", "b"), frozenset()])
def test_inject_rejects_immutable_headers(prop, headers):
    with pytest.raises(TypeError, match="mutable mapping"):
        prop.http_inject(prop.Context(trace_id=5, span_id=6), headers)


@pytest.mark.parametrize("context", [None, 42, "ctx", {"trace_id": 5}])
def test_inject_rejects_non_contexts(prop, context):
    with pytest.raises(TypeError, match="Context or a Span"):
        prop.http_inject(context, {})


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"extract_styles": "datadog"}, TypeError),
        ({"extract_styles": ("datadog", "zipkin")}, ValueError),
        ({"inject_styles": ("B3",)}, ValueError),
        ({"behavior_extract": "drop"}, ValueError),
        ({"tags_max_length": -1}, ValueError),
        ({"tags_max_length": "512"}, TypeError),
        ({"baggage_max_items": 1.5}, TypeError),
        ({"baggage_tag_keys": "user.id"}, TypeError),
    ],
)
def test_settings_reject_misuse(prop, kwargs, error):
    with pytest.raises(error):
        prop.Settings(**kwargs)


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"trace_id": -1}, ValueError),
        ({"trace_id": 2**128}, ValueError),
        ({"trace_id": "5"}, TypeError),
        ({"span_id": 2**64}, ValueError),
        ({"span_id": 1.0}, TypeError),
        ({"sampling_priority": "1"}, TypeError),
        ({"dd_origin": 5}, TypeError),
        ({"meta": [("a", "b")]}, TypeError),
        ({"baggage": "a=b"}, TypeError),
        ({"span_links": "x"}, TypeError),
    ],
)
def test_context_rejects_misuse(prop, kwargs, error):
    with pytest.raises(error, match="Context"):
        prop.Context(**kwargs)


def test_context_api(prop):
    ctx = prop.Context(trace_id=5, span_id=6, dd_origin="rum", sampling_priority=1, meta={"_dd.p.dm": "-4"})
    assert ctx == prop.Context(trace_id=5, span_id=6, dd_origin="rum", sampling_priority=1, meta={"_dd.p.dm": "-4"})
    assert ctx != prop.Context(trace_id=5, span_id=7)
    assert "trace_id=5" in repr(ctx) and "dd_origin='rum'" in repr(ctx)
    assert ctx.is_remote is True and ctx._is_remote is True
    assert ctx.meta is ctx._meta
    assert ctx._trace_id_64bits == 5
    ctx.set_baggage_item("k", "v")
    assert ctx.get_baggage_item("k") == "v" and ctx.get_all_baggage_items() == {"k": "v"}
    ctx.remove_baggage_item("k")
    assert ctx.baggage == {}
    ctx.dd_origin = "caf\u00e9"  # not printable ASCII: dropped, as ddtrace does
    assert ctx.dd_origin is None
    assert ctx._traceparent == "00-00000000000000000000000000000005-0000000000000006-01"
    assert ctx._tracestate == "dd=s:1;t.dm:-4"


# -- hostile input ----------------------------------------------------------------------------------

NAMES = list(pure.HEADERS) + ["ot-baggage-x", "HTTP_X_DATADOG_TRACE_ID", "X-B3-TRACEID"]
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.hexdigits + "-,;=:~ \t", max_size=80),
    st.sampled_from(["", " ", "\x00", "\ud800", "0" * 5000, "9" * 30, "-" * 100, "dd=" * 50, "," * 600]),
    st.binary(max_size=40),
)
any_settings = st.builds(
    lambda ex, inj, first, beh, tid, http: (ex, inj, first, beh, tid, http),
    st.lists(st.sampled_from(ALL), unique=True),
    st.lists(st.sampled_from(ALL), unique=True),
    st.booleans(),
    st.sampled_from(["continue", "restart", "ignore"]),
    st.booleans(),
    st.booleans(),
)


def make_settings(prop, spec):
    ex, inj, first, beh, tid, http = spec
    return prop.Settings(ex, inj, first, beh, 512, tid, 64, 8192, ("*",), http)


@settings(max_examples=500)
@given(headers=st.dictionaries(st.sampled_from(NAMES), hostile_text, max_size=8), spec=any_settings)
def test_fuzz_extract_never_raises_and_reinject_never_raises(prop, headers, spec):
    s = make_settings(prop, spec)
    ctx = prop.extract(headers, s)
    assert isinstance(ctx, prop.Context)
    out = {}
    prop.inject(ctx, out, s)  # whatever was extracted can be sent on
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.items())
    for value in out.values():
        assert "\n" not in value and "\r" not in value  # no header injection downstream


@settings(max_examples=300)
@given(headers=st.dictionaries(st.sampled_from(NAMES), hostile_text, max_size=8), spec=any_settings)
def test_twins_agree_on_hostile_input(compiled_prop, headers, spec):
    compiled = compiled_prop
    ours = compiled.extract(headers, make_settings(compiled, spec))
    theirs = pure.extract(headers, make_settings(pure, spec))
    assert repr(ours) == repr(theirs)
    out_c, out_p = {}, {}
    compiled.inject(ours, out_c, make_settings(compiled, spec))
    pure.inject(theirs, out_p, make_settings(pure, spec))
    assert out_c == out_p


TRACESTATE_MEMBERS = st.one_of(
    st.sampled_from(
        [
            "dd=s:1;p:1234567890abcdef;t.dm:-0",
            "dd=s:2",
            "ot=th:8",
            "rojo=00f067aa0ba902b7",
            "congo=t61rcWkgMzE",
            "",
            " ",
            " a=1",
            "b=2 ",
            "x" * 130 + "=1",
            "k=v\t",
            "\u00e9=1",
        ]
    ),
    st.text(alphabet="abdot=;: ,-_", max_size=12),
)


@settings(max_examples=300)
@given(members=st.lists(TRACESTATE_MEMBERS, max_size=40), with_datadog=st.booleans())
def test_twins_agree_on_tracestates(compiled_prop, members, with_datadog):
    # member shapes around every limit and fast path: padded, empty, dd= and ot= anywhere, long, many
    headers = {"traceparent": TP, "tracestate": ",".join(members)}
    styles = ("tracecontext",)
    if with_datadog:
        headers.update({"x-datadog-trace-id": "2", "x-datadog-parent-id": "3"})
        styles = ("datadog", "tracecontext")
    s_c, s_p = compiled_prop.Settings(extract_styles=styles, inject_styles=styles), pure.Settings(styles, styles)
    ours, theirs = compiled_prop.extract(headers, s_c), pure.extract(headers, s_p)
    assert repr(ours) == repr(theirs)
    out_c, out_p = {}, {}
    compiled_prop.inject(ours, out_c, s_c)
    pure.inject(theirs, out_p, s_p)
    assert out_c == out_p


@settings(max_examples=300)
@given(members=st.lists(TRACESTATE_MEMBERS, max_size=40), decided=st.booleans(), remote=st.booleans())
def test_twins_agree_on_injecting_upstream_tracestates(compiled_prop, members, decided, remote):
    # an undecided trace has an empty dd= member of its own: the upstream one is sent on instead
    meta = {"tracestate": ",".join(members)}
    args = {"trace_id": 5, "span_id": 6, "is_remote": remote, "sampling_priority": 1 if decided else None}
    out_c, out_p = {}, {}
    compiled_prop.inject(compiled_prop.Context(meta=dict(meta), **args), out_c, compiled_prop.Settings())
    pure.inject(pure.Context(meta=dict(meta), **args), out_p, pure.Settings())
    assert out_c == out_p


# -- hostile tracestates and x-datadog-tags: the twins agree, and nothing W3C forbids is sent ----------------

_KEY_CHARS = string.ascii_lowercase + string.digits + "_-*/"
w3c_keys = st.one_of(
    st.text(_KEY_CHARS, min_size=1, max_size=8),  # valid, or starting with a digit or "_-*/"
    st.builds("{}@{}".format, st.text(_KEY_CHARS, max_size=6), st.text(_KEY_CHARS, max_size=4)),
    st.sampled_from(["FOO", "Foo", "fOo", "@foo", "foo@", "a@b@c", "dd", "ot", "", " a", "a b", "k" * 256, "k" * 257,
                     "t" * 241 + "@s", "t" * 242 + "@s", "t@" + "s" * 14, "t@" + "s" * 15, "\u00e9"]),
)  # fmt: skip
_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != ",")  # "=" and spaces included
w3c_values = st.one_of(
    st.text(_VALUE_CHARS, max_size=10),
    st.integers(0, 300).map(lambda n: "v" * n),
    st.sampled_from(["", " ", "1 ", " 1", "a=b", "=", "~", "\u00e9", "\x00", "\ud800", "v\t"]),
)
dd_items = st.one_of(
    st.sampled_from(["s:1", "s:2", "s:-1", "s:x", "s:", "o:rum", "o:", "p:0123456789abcdef", "p:XYZ", "t.dm:-4",
                     "t.dm:", "t.tid:0af7651916cd43dd", "t.tid:zz", "t.usr.id:baz~~", "x", ":", "", "t.a:b:c"]),
    st.integers(0, 300).map(lambda n: "t.x:" + "y" * n),
    st.integers(0, 300).map(lambda n: "o:" + "o" * n),
)  # fmt: skip
hostile_members = st.one_of(
    st.builds(lambda k, eq, v: k + eq + v, w3c_keys, st.sampled_from(["=", "=", "=", "", "=="]), w3c_values),
    st.lists(dd_items, max_size=5).map(lambda items: "dd=" + ";".join(items)),  # repeated dd= members too
    st.sampled_from(["ot=th:8", "ot=th:8;rv:0123456789abcd", "ot=", "ot=a=b", "ot=x ", " rojo=00f067aa0ba902b7 "]),
    st.integers(0, 400).map(lambda n: "x" * n),  # no "=" at all
    st.integers(120, 140).map(lambda n: "k=" + "v" * n),  # around the 128-char preference for dropping
)
hostile_tracestates = st.one_of(
    st.lists(hostile_members, max_size=12),
    st.lists(hostile_members, min_size=30, max_size=70),  # over the 32 members
).map(",".join)
hostile_tags = st.one_of(
    st.lists(
        st.builds(
            "{}={}".format,
            st.sampled_from(
                ["_dd.p.dm", "_dd.p.tid", "_dd.p.usr.id", "_dd.p.x", "_dd.p.", "x", "_dd.p.a b", "_dd.p.k=v"]
            ),
            st.one_of(w3c_values, st.integers(0, 600).map(lambda n: "t" * n)),
        ),
        max_size=40,
    ).map(",".join),
    st.integers(400, 700).map(lambda n: "_dd.p.k=" + "v" * n),
)


def assert_w3c_tracestate(out):
    """A tracestate sent is W3C's: every member as its grammar says, at most 32 of them in 512 chars."""
    ts = out.get("tracestate")
    if ts:
        members = ts.split(",")
        assert len(members) <= 32 and len(ts) <= 512, ts
        assert all(w3c_member(m.strip(" ")) for m in members), ts


@settings(max_examples=400)
@given(
    ts=hostile_tracestates,
    tags=st.one_of(st.none(), hostile_tags),
    words=st.sampled_from(["t t", "dt dt", "td td", "t t 6", "dt t s", "t dt f"]),
    upstream=st.one_of(st.none(), hostile_tracestates),
)
def test_twins_agree_on_hostile_tracestates_and_tags(compiled_prop, ts, tags, words, upstream):
    # extraction, injection of what was extracted (remote, and a local child: p: added), injection of a
    # tracestate set in code; the same contexts, headers and problems counted, and nothing W3C forbids sent
    lines = [words, "traceparent:" + TP, "tracestate:" + ts]
    if tags is not None:
        lines += ["x-datadog-trace-id:" + str(TRACE & (2**64 - 1)), "x-datadog-parent-id:5", "x-datadog-tags:" + tags]
    if upstream is not None:
        lines.append("@tracestate:" + upstream)
    fuzz_propagation.check("\n".join(lines).encode("utf-8", "surrogatepass"), compiled_prop, pure)


@pytest.mark.parametrize("member", ["FOO=1", "@foo=1", "foo=bar=baz", "foo=", "x" * 300, "0@=1", "a=" + "b" * 257])
def test_a_member_breaking_w3c_is_dropped_and_counted_the_rest_kept_in_order(prop, member):
    before = prop.ERRORS.get("tracestate_member", 0) + prop.ERRORS.get("tracestate_member_size", 0)
    ctx = prop.extract({"traceparent": TP, "tracestate": "a=1," + member + ",dd=s:1,b=2"}, prop.Settings())
    assert ctx.meta["tracestate"] == "dd=s:1,a=1,b=2"
    assert prop.ERRORS.get("tracestate_member", 0) + prop.ERRORS.get("tracestate_member_size", 0) == before + 1
    for is_remote in (True, False):  # set in code: not sent either, counted
        ctx = prop.Context(trace_id=5, span_id=6, sampling_priority=1, is_remote=is_remote,
                           meta={"tracestate": "a=1," + member + ",b=2"})  # fmt: skip
        out = {}
        prop.inject(ctx, out, prop.Settings(inject_styles=("tracecontext",)))
        assert out["tracestate"].split(",")[1:] == ["a=1", "b=2"]
        assert_w3c_tracestate(out)


def test_a_dd_member_over_256_chars_is_dropped_by_both_twins(prop):
    # W3C's value limit holds for Datadog's own member: no origin, no tags read from it (ddtrace reads it)
    ts = "dd=s:2;o:synthetics;t.dm:-4;t.x:" + "y" * 230 + ",other=1"
    ctx = prop.extract({"traceparent": TP, "tracestate": ts}, prop.Settings())
    assert ctx.dd_origin is None and "_dd.p.dm" not in ctx.meta and ctx.meta["tracestate"] == "other=1"


def test_p_never_pushes_a_member_or_the_header_past_its_limit(prop):
    # an upstream dd= member sent on as ours (ours is empty) with no room for p:, a full header, 32 members
    for meta in (
        {"tracestate": "dd=" + "q" * 250},
        {"tracestate": ",".join("k%02d=%s" % (i, "v" * 60) for i in range(8))},
        {"tracestate": "ot=x," + ",".join("m%d=%d" % (i, i) for i in range(31))},  # a dd= member for p: is one more
    ):
        out = {}
        prop.inject(prop.Context(trace_id=5, span_id=6, is_remote=False, meta=meta), out, prop.Settings())
        assert out["tracestate"].startswith("dd=p:0000000000000006")
        assert_w3c_tracestate(out)
        assert all(len(m) <= 256 for m in out["tracestate"].split(","))


@pytest.mark.parametrize("key", ["_dd.p.\u0100x", "_dd.p.\udcff-y", "_dd.p.\U0001f600", "_dd.\u0100"])
def test_twins_agree_on_a_propagated_tag_key_beyond_latin1(compiled_prop, key):
    # a key that is not one byte per character is still a propagated tag when it starts with _dd.p.
    outs = []
    for prop in (compiled_prop, pure):
        out = {}
        ctx = prop.Context(trace_id=5, span_id=6, sampling_priority=1, is_remote=False, meta={key: "1"})
        prop.inject(ctx, out, prop.Settings(inject_styles=("datadog", "tracecontext")))
        outs.append(out)
    assert outs[0] == outs[1]
    assert ("t._" in outs[0]["tracestate"]) == key.startswith("_dd.p.")


@pytest.mark.parametrize("is_remote", [True, False])
def test_an_item_left_out_of_the_dd_member_is_counted_once(prop, is_remote):
    # an upstream tracestate of 500 chars leaves no room for our member whole: the compiled twin's one-buffer
    # path gives up after writing it, and the slow path writes it again; t.dm (300 chars) is counted once
    upstream = "a=" + "v" * 246 + ",b=" + "v" * 249
    meta = {"tracestate": upstream, "_dd.p.dm": "-" * 300, "_dd.parent_id": "0000000000000001"}
    ctx = prop.Context(trace_id=5, span_id=6, sampling_priority=1, dd_origin="rum", is_remote=is_remote, meta=meta)
    before = prop.ERRORS.get("inject_dd_member_size", 0)
    out = {}
    prop.inject(ctx, out, prop.Settings(inject_styles=("tracecontext",)))
    assert prop.ERRORS["inject_dd_member_size"] == before + 1
    assert_w3c_tracestate(out)


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "\x00", "x\x7f"])
def test_baggage_sent_as_ot_baggage_headers_never_splits_a_header(prop, bad):
    # a baggage value (or key) holding a CR or LF, as a hostile baggage header can bring it, is not written
    # raw into an ot-baggage-* header; the other pairs are
    s = prop.Settings(extract_styles=ALL, inject_styles=ALL, http_baggage=True)
    before = prop.ERRORS.get("inject_http_baggage", 0)
    ctx = prop.Context(trace_id=5, span_id=6, baggage={"ok": "1", "v": bad, bad: "k"})
    out = {}
    prop.inject(ctx, out, s)
    assert out["ot-baggage-ok"] == "1" and not any(k.startswith("ot-baggage-") for k in out if k != "ot-baggage-ok")
    assert prop.ERRORS["inject_http_baggage"] == before + 2


def test_oversized_headers_are_bounded(prop):
    huge = {
        "x-datadog-trace-id": "5",
        "x-datadog-tags": "_dd.p.a=" + "x" * 100_000,
        "traceparent": TP,
        "tracestate": ",".join("k%d=%s" % (i, "v" * 50) for i in range(5000)),
        "baggage": ",".join("k%d=v" % i for i in range(100_000)),
    }
    ctx = prop.extract(huge, prop.Settings(extract_styles=ALL))
    assert ctx.meta["_dd.propagation_error"] == "extract_max_size"
    assert len(ctx.span_links[0].tracestate) <= 512  # the tracecontext trace differs: it became a link
    assert len(ctx.baggage) == 64


# -- error accounting ---------------------------------------------------------------------------------


def test_errors_are_counted_and_logged_at_most_once_a_minute(prop, caplog):
    before = prop.ERRORS.get("traceparent", 0)
    with caplog.at_level(logging.DEBUG, logger="ddfast.propagation"):
        for _ in range(50):
            prop.extract({"traceparent": "garbage"}, prop.Settings(extract_styles=("tracecontext",)))
    assert prop.ERRORS["traceparent"] == before + 50
    messages = [r for r in caplog.records if "traceparent" in r.getMessage()]
    assert len(messages) <= 1
    assert all(r.levelno == logging.DEBUG and r.exc_info is None for r in caplog.records)


# -- foreign contexts (ddtrace users switching the import) --------------------------------------------


def test_inject_accepts_ddtrace_context_and_span(prop):
    from ddtrace._trace.context import Context as DDContext
    from ddtrace._trace.span import Span as DDSpan

    dd_ctx = DDContext(trace_id=(7 << 64) | 5, span_id=6, sampling_priority=2, dd_origin="rum", meta={"_dd.p.dm": "-4"})
    headers = {}
    prop.configure(prop.Settings(inject_styles=("datadog",)))
    try:
        prop.http_inject(dd_ctx, headers)
        assert headers == {
            "x-datadog-trace-id": "5",
            "x-datadog-parent-id": "6",
            "x-datadog-sampling-priority": "2",
            "x-datadog-origin": "rum",
            "x-datadog-tags": "_dd.p.dm=-4,_dd.p.tid=0000000000000007",
        }
        assert dd_ctx._meta["_dd.p.tid"] == "0000000000000007"  # recorded on the caller's context, as ddtrace does
        span = DDSpan("web.request", trace_id=9, span_id=10)
        headers = {}
        prop.http_inject(span, headers)
        assert headers["x-datadog-trace-id"] == "9" and headers["x-datadog-parent-id"] == "10"
        pure_ctx = pure.Context(trace_id=11, span_id=12)
        headers = {}
        prop.http_inject(pure_ctx, headers)
        assert headers["x-datadog-trace-id"] == "11"
    finally:
        prop.configure(prop.Settings())


@settings(max_examples=300)
@given(
    baggage=st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=5),
    raw=st.lists(st.sampled_from(list("abAB09%=,; ~\u00e9+") + ["%2", "%C3", "%A9", "%zz"]), max_size=12).map("".join),
)
def test_twins_agree_on_baggage_codec(compiled_prop, baggage, raw):
    compiled = compiled_prop
    both = ("baggage",)
    out_c, out_p = {}, {}
    compiled.inject(compiled.Context(baggage=dict(baggage)), out_c, compiled.Settings(inject_styles=both))
    pure.inject(pure.Context(baggage=dict(baggage)), out_p, pure.Settings(inject_styles=both))
    assert out_c == out_p
    for header in (out_c.get("baggage", ""), raw, "k=" + raw):
        ours = compiled.extract({"baggage": header}, compiled.Settings(extract_styles=both))
        theirs = pure.extract({"baggage": header}, pure.Settings(extract_styles=both))
        assert ours.baggage == theirs.baggage


def test_context_pickles_and_copies(prop):
    import copy
    import pickle

    ctx = prop.Context(trace_id=5, span_id=6, dd_origin="rum", sampling_priority=1, meta={"a": "b"}, baggage={"k": "v"})
    assert pickle.loads(pickle.dumps(ctx)) == ctx
    clone = copy.deepcopy(ctx)
    assert clone == ctx and clone.meta is not ctx.meta


@st.composite
def traceparents(draw):
    """Traceparents near the rules: versions, case, zero ids, separators, a later version's extra
    fields, newlines, non-ASCII tails, padding."""
    version = draw(st.sampled_from(["00", "01", "cc", "fe", "ff", "0A", "z0"]))
    chars = draw(st.sampled_from(["0123456789abcdef", "0123456789abcdefABC", "0-\n \u00e9\t"]))
    text = "-".join([version, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "01"])
    for _ in range(draw(st.integers(0, 3))):  # a few characters replaced from the chosen alphabet
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(chars)) + text[i + 1 :]
    tail = draw(st.sampled_from(["", "-", "-x", "-extra-fields", "\n", "-a\nb", "x", "-\u00e9", "-\u0100"]))
    return draw(st.sampled_from(["", " ", "\t"])) + text + tail


@settings(max_examples=400)
@given(text=traceparents())
@example(text=TP)
@example(text="01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-\u0100")
@example(text="01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-a\nb")
def test_twins_agree_on_traceparents(compiled_prop, text):
    # the compiled parser reads 1-byte text as bytes, other text as before: both parse every shape alike
    assert compiled_prop.parse_traceparent(text) == pure.parse_traceparent(text)
    headers = {"traceparent": text}
    ours = compiled_prop.extract(headers, compiled_prop.Settings(extract_styles=("tracecontext",)))
    theirs = pure.extract(headers, pure.Settings(extract_styles=("tracecontext",)))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("char", ["\x00", "\x1f", " ", "~", "\x7f", "\x80", "\xff", "\u0100"])
def test_twins_agree_on_a_boundary_character_anywhere_in_a_tracestate(compiled_prop, char):
    # the compiled printable-ASCII check reads 1-byte text eight bytes at a time: a character just in or
    # out of 0x20-0x7E at every position (in a full word, in the tail) must be judged as one at a time
    ts = "dd=s:1;o:rum;t.dm:-4,rojo=00f067aa0ba902b7,ot=th:8,congo=t61rcWkgMzE"
    styles = ("tracecontext",)
    s_c, s_p = compiled_prop.Settings(extract_styles=styles, inject_styles=styles), pure.Settings(styles, styles)
    for i in range(len(ts)):
        headers = {"traceparent": TP, "tracestate": ts[:i] + char + ts[i + 1 :]}
        ours, theirs = compiled_prop.extract(headers, s_c), pure.extract(headers, s_p)
        assert repr(ours) == repr(theirs), headers
        out_c, out_p = {}, {}
        compiled_prop.inject(ours, out_c, s_c)
        pure.inject(theirs, out_p, s_p)
        assert out_c == out_p, headers
        origin = "synthetics-browser"[: i % 19] + char + "-rum"
        assert (
            compiled_prop.Context(trace_id=1, dd_origin=origin).dd_origin
            == pure.Context(trace_id=1, dd_origin=origin).dd_origin
        )


def _baggage_as_split(value, max_items, max_bytes):
    """The baggage header read as the split/partition/strip reading it replaced: the oracle of the
    in-place parsers (but for a lone surrogate, which now makes the header malformed, not an exception)."""
    from urllib.parse import unquote

    items, total = {}, 0
    pairs = value.split(",")
    for index, pair in enumerate(pairs):
        if index >= max_items:
            break
        if "=" not in pair or "\ud800" in pair:
            return {}
        size = len(pair.encode("utf-8")) + (1 if items else 0)
        if total + size > max_bytes:
            break
        key, _, item = pair.partition("=")
        key, item = unquote(key.strip()), unquote(item.strip())
        if not key or not item:
            return {}
        items[key] = item
        total += size
    return items


BAGGAGE_PIECES = list("ab=,%9 \t\x1c\u00a0\u2003\u00e9") + ["%41", "%C3%A9", "%zz", "\U0001f600", "\ud800", "k=v"]


@settings(max_examples=500)
@example(value="k=v,\ud800", max_items=1, max_bytes=24)
@example(value="k=v,\ud800", max_items=2, max_bytes=24)
@given(
    value=st.lists(st.sampled_from(BAGGAGE_PIECES), min_size=1, max_size=20).map("".join),
    max_items=st.integers(0, 4),
    max_bytes=st.integers(0, 24),
)
def test_baggage_header_is_read_as_its_members_say(compiled_prop, value, max_items, max_bytes):
    # whitespace of every kind str.strip() knows, multi-byte and 4-byte characters against the byte
    # limit, empty members, '=' inside values, lone surrogates (malformed: the header is dropped)
    expected = _baggage_as_split(value, max_items, max_bytes)
    for prop in (compiled_prop, pure):
        s = prop.Settings(extract_styles=("baggage",), baggage_max_items=max_items, baggage_max_bytes=max_bytes)
        assert prop.extract({"baggage": value}, s).baggage == expected, prop


@pytest.mark.parametrize("dm", ["-0", "-9", "-10", "-15", "-16", "-1a", "-", "-00", "0", "-4~"])
def test_decision_maker_and_tid_values_come_through_as_sent(prop, dm):
    # the compiled core hands out shared strings for the usual _dd.p.dm and _dd.p.tid values (and keeps
    # the last tid): whatever is shared, every value must read exactly as sent, one request after another
    tids = ["6553a1b200000000", "6553a1b200000000", "6553a1b300000000", "6553a1b200000000"]
    for tid in tids:
        tags = "_dd.p.dm=%s,_dd.p.tid=%s" % (dm, tid)
        headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-tags": tags}
        ctx = prop.extract(headers, prop.Settings(extract_styles=("datadog",)))
        if "~" in dm:
            assert ctx.meta.get("_dd.propagation_error") == "decoding_error"
            continue
        assert ctx.meta.get("_dd.p.tid") == tid and ctx.trace_id == (int(tid, 16) << 64) + 5
        assert ctx.meta.get("_dd.p.dm", dm) == dm  # as sent, or dropped as an invalid decision maker
        assert (ctx.meta.get("_dd.p.dm") is None) == (dm in ("-", "-00", "0", "-1a"))
        tp = "00-%s0000000000000005-0000000000000006-01" % tid
        ts = "dd=s:1;t.dm:%s;t.tid:%s" % (dm.replace("=", "~"), tid)
        w3c = prop.extract({"traceparent": tp, "tracestate": ts}, prop.Settings(extract_styles=("tracecontext",)))
        assert w3c.meta.get("_dd.p.tid") == tid and w3c.meta.get("_dd.p.dm") == dm.replace("~", "=")


@pytest.mark.parametrize("tid", ["0~f7651916cd43dd", "0af7651916cd43d~", "0af7651916cd43dd"])
def test_twins_agree_on_a_tilde_in_a_16_char_tid(compiled_prop, tid):
    # "~" stands for "=" in tracestate: the compiled twin's shared 16-char tid text must not skip that
    headers = {"traceparent": TP, "tracestate": "dd=s:1;t.tid:" + tid}
    ours, theirs = compiled_prop.extract(headers, compiled_prop.Settings()), pure.extract(headers, pure.Settings())
    assert ours.meta == theirs.meta
    assert ours.meta.get("_dd.propagation_error", "").endswith(tid.replace("~", "=") if "~" in tid else "")


def test_injected_tid_follows_each_trace_id(prop):
    # the compiled core shares the last _dd.p.tid string between traces of the same upper half
    for high in (0x6553A1B2, 0x6553A1B2, 0x6553A1B3, 0xFFFFFFFF00000000, 0x6553A1B2):
        ctx = prop.Context(trace_id=(high << 64) + 7, span_id=8, sampling_priority=1)
        headers = {}
        prop.inject(ctx, headers, prop.Settings(inject_styles=("datadog",)))
        assert headers["x-datadog-tags"] == "_dd.p.tid=%016x" % high
        assert ctx.meta["_dd.p.tid"] == "%016x" % high


# -- no amplification: every injected header within its limits, whatever came in ------------------------


def assert_within_limits(prop, out):
    """Every header ``out`` holds is within what its spec (or Datadog's convention) allows."""
    if "x-datadog-origin" in out:
        assert len(out["x-datadog-origin"]) <= prop.ORIGIN_MAX_CHARS
    if "x-datadog-tags" in out:
        assert len(out["x-datadog-tags"]) <= 512
    if "traceparent" in out:
        assert len(out["traceparent"]) == 55
    if "tracestate" in out:
        members = out["tracestate"].split(",")
        assert len(out["tracestate"]) <= 512 and len(members) <= 32
        for member in members:
            key, _, value = member.partition("=")
            assert len(key) <= 256 and len(value) <= 256, member
            if key == "dd":
                assert len(member) <= prop.DD_MEMBER_MAX_CHARS
    if "baggage" in out:
        assert len(out["baggage"].encode("utf-8")) <= 8192 and len(out["baggage"].split(",")) <= 64
    if "b3" in out:
        assert len(out["b3"]) <= 32 + 1 + 16 + 2 + 17


HOSTILE_SIZES = st.integers(min_value=0, max_value=20_000)


@settings(max_examples=200)
@given(
    sizes=st.fixed_dictionaries({name: HOSTILE_SIZES for name in ("origin", "tags", "dd", "tracestate", "baggage")}),
    filler=st.sampled_from(["x", "~", "=", ";", "a=b", "é", " "]),
)
def test_no_injected_header_exceeds_its_limits_whatever_the_sizes_sent(prop, sizes, filler):
    def fill(n):
        return (filler * (n // len(filler) + 1))[:n]

    headers = {
        "x-datadog-trace-id": "5",
        "x-datadog-parent-id": "6",
        "x-datadog-sampling-priority": "1",
        "x-datadog-origin": "o" + fill(sizes["origin"]),
        "x-datadog-tags": "_dd.p.usr.id=" + fill(sizes["tags"]),
        "traceparent": "00-00000000000000000000000000000005-0000000000000006-01",
        "tracestate": "dd=s:1;o:" + fill(sizes["dd"]) + ",k=" + fill(sizes["tracestate"]),
        "baggage": "k=" + fill(sizes["baggage"]),
    }
    s = prop.Settings(extract_styles=ALL, inject_styles=ALL)
    ctx = prop.extract(headers, s)
    for context in (ctx, prop.Context(trace_id=ctx.trace_id, span_id=7, meta=dict(ctx.meta), is_remote=False,
                                      dd_origin=ctx.dd_origin, sampling_priority=1)):  # fmt: skip
        out = {}
        prop.inject(context, out, s)
        assert_within_limits(prop, out)


@pytest.mark.parametrize("header", ["x-datadog-origin", "tracestate"])
def test_an_origin_longer_than_any_real_one_is_not_sent_on(prop, header):
    long_origin = "synthetics" + "x" * 5000
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "traceparent": TP}
    headers[header] = long_origin if header == "x-datadog-origin" else "dd=s:1;o:" + long_origin[:200]
    before = prop.ERRORS.get("origin_too_long", 0)
    styles = ("datadog",) if header == "x-datadog-origin" else ("tracecontext",)
    ctx = prop.extract(headers, prop.Settings(extract_styles=styles))
    assert ctx.dd_origin is None
    assert prop.ERRORS["origin_too_long"] == before + 1
    out = {}
    prop.inject(ctx, out, prop.Settings(inject_styles=ALL))
    assert "x-datadog-origin" not in out and "o:" not in out["tracestate"]
    ok = prop.extract({"x-datadog-trace-id": "5", "x-datadog-origin": "o" * prop.ORIGIN_MAX_CHARS}, prop.Settings())
    assert ok.dd_origin == "o" * prop.ORIGIN_MAX_CHARS


def test_a_dd_member_item_that_does_not_fit_is_left_out_and_counted(prop):
    # an origin set in code (not capped: the caller's choice) still never breaks the W3C member limit
    ctx = prop.Context(trace_id=5, span_id=6, sampling_priority=1, dd_origin="o" * 300, is_remote=False,
                       meta={"_dd.p.usr.id": "u" * 300, "_dd.p.dm": "-4"})  # fmt: skip
    before = prop.ERRORS.get("inject_dd_member_size", 0)
    out = {}
    prop.inject(ctx, out, prop.Settings(inject_styles=("datadog", "tracecontext")))
    assert out["x-datadog-origin"] == "o" * 300
    assert out["tracestate"] == "dd=p:0000000000000006;s:1;t.dm:-4"
    assert prop.ERRORS["inject_dd_member_size"] == before + 2
    assert_within_limits(prop, {"tracestate": out["tracestate"]})


# -- header values given as bytes (Kafka headers, gRPC metadata) ------------------------------------------

BYTES_VALUE_NAMES = ["x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority", "x-datadog-tags"]
BYTES_VALUE_NAMES += ["x-datadog-origin", "traceparent", "tracestate", "baggage", "b3", "x-b3-traceid"]
bytes_values = st.one_of(
    st.sampled_from(
        [
            b"",
            b"0",
            b"1",
            b"-1",
            b"-",
            b"18446744073709551615",  # 2**64 - 1: the largest id
            b"18446744073709551616",
            b"18446744073709551620",
            b"28446744073709551615",
            b"0000000000000000000000001",  # more than 20 characters
            b"01844674407370955161",
            b"1" * 18,
            b"-" + b"1" * 18,
            b"1" * 19,
            b"_dd.p.dm=-1,_dd.p.tid=6b06331600000000",
            b"_dd.p.dm=-0256,_dd.p.tid=6b0633160000000g",
            b"_dd.p.dm=-4,_dd.p.tid=6B06331600000000,_dd.p.ksr=0.5,_dd.p.usr.id=u,_dd.p.ts=02",
            b"_dd.p.dm=-1,_dd.p.dm=-2,_dd.p.tid=6b06331600000000,_dd.p.tid=6b06331600000001,",
            b"_dd.p.upstream_services=x,a=b,_dd.p.x= y ",
            b"00-6b06331600000000484834fd2e2ec424-1234567890abcdef-01",
            b"00-6b06331600000000484834fd2e2ec424-1234567890abcdeF-01",
            b"dd=s:1;p:1234567890abcdef;t.dm:-1;t.tid:6b06331600000000",
            b"\xe2\x82\xac",  # UTF-8 of a character beyond latin-1
            b"\xff\xfe12",  # not UTF-8: decoded with escapes
            b"12\xc3\xa9",
        ]
    ),
    st.lists(st.sampled_from(list(b"0123456789abcdefABCDEF-=,_.:;p dt\xc3\xa9")), max_size=64).map(bytes),
    st.binary(max_size=40),
)


def _extract_counting(prop, carrier, s):
    before = dict(prop.ERRORS)
    ctx = prop.extract(carrier, s)
    errors = {k: v - before.get(k, 0) for k, v in prop.ERRORS.items() if v != before.get(k, 0)}
    return repr(ctx), errors


@settings(max_examples=400)
@given(
    pairs=st.lists(st.tuples(st.sampled_from(BYTES_VALUE_NAMES), bytes_values), max_size=8),
    spec=any_settings,
    as_bytes_names=st.booleans(),
)
def test_bytes_values_read_as_their_decoded_text(prop, pairs, spec, as_bytes_names):
    # a value given as bytes is what its UTF-8 text (escaped where invalid) would give: the compiled twin
    # keeps ASCII bytes as they are and parses ids, priorities and tags from them; the same errors counted
    s = make_settings(prop, spec)
    text_pairs = [(name, value.decode("utf-8", "backslashreplace")) for name, value in pairs]
    byte_pairs = [(name.encode() if as_bytes_names else name, value) for name, value in pairs]
    assert _extract_counting(prop, byte_pairs, s) == _extract_counting(prop, text_pairs, s)


@settings(max_examples=300)
@given(pairs=st.lists(st.tuples(st.sampled_from(BYTES_VALUE_NAMES), bytes_values), max_size=8), spec=any_settings)
def test_twins_agree_on_bytes_values(compiled_prop, pairs, spec):
    ours = _extract_counting(compiled_prop, pairs, make_settings(compiled_prop, spec))
    theirs = _extract_counting(pure, pairs, make_settings(pure, spec))
    assert ours == theirs


@pytest.mark.parametrize(
    "text, expected",
    [
        ("18446744073709551615", 2**64 - 1),
        ("18446744073709551616", None),
        ("18446744073709551619", None),
        ("18446744073709551710", None),
        ("99999999999999999999", None),
        ("1844674407370955161", 1844674407370955161),
        ("01844674407370955161", 1844674407370955161),
        ("9" * 19, 10**19 - 1),
        ("0", None),  # not a trace id
        ("", None),
        ("1 ", None),
        ("\u0661", None),  # a digit beyond ASCII
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_datadog_trace_id_bounds(prop, text, expected, as_bytes):
    value = text.encode() if as_bytes else text
    headers = [("x-datadog-trace-id", value), ("x-datadog-parent-id", value)]
    ctx = prop.extract(headers, prop.Settings(extract_styles=("datadog",)))
    assert ctx.trace_id == expected
    assert ctx.span_id == expected


@pytest.mark.parametrize(
    "text, expected",
    [("1", 1), ("-1", -1), ("2", 2), ("0", 0), ("-0", 0), ("1" * 18, int("1" * 18)), ("-" + "9" * 18, -int("9" * 18))]
    + [("1" * 19, "bad"), ("-", "bad"), ("", "bad"), ("+1", "bad"), (" 1", "bad"), ("1.0", "bad"), ("\u0661", "bad")],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_datadog_sampling_priority_as_text_or_bytes(prop, text, expected, as_bytes):
    value = text.encode() if as_bytes else text
    headers = [("x-datadog-trace-id", b"5"), ("x-datadog-sampling-priority", value)]
    ctx = prop.extract(headers, prop.Settings(extract_styles=("datadog",)))
    if expected == "bad":
        assert ctx.trace_id is None
    else:
        assert (ctx.trace_id, ctx.sampling_priority) == (5, expected)


def test_twins_agree_on_every_one_byte_character_anywhere_in_a_traceparent_id(compiled_prop):
    # the compiled parser reads the 16-digit fields of 1-byte text eight characters at a time: each
    # character of each field, replaced by every character U+0000..U+00FF, is judged as the pure twin does
    fields = [i for i in range(3, 52) if i != 35]
    for i in fields:
        for c in range(256):
            text = TP[:i] + chr(c) + TP[i + 1 :]
            assert compiled_prop.parse_traceparent(text) == pure.parse_traceparent(text), (i, c)
