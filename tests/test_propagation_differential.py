"""Differential tests: ddfast (both twins) against ddtrace 4.16, the reference, on generated input.

Injection: for random contexts and settings, the headers (and what injection records in the context's
meta) equal ddtrace's byte for byte. Extraction: for random valid header sets and mutations of them
(truncated, corrupted, dropped, re-cased), the extracted trace id, parent id, priority, origin,
``_dd.p.*`` tags, propagation error, W3C state, baggage and span links equal ddtrace's.

Where ddtrace is knowingly lenient or wrong, the case is not compared here but pinned in
``test_known_differences`` (and listed in the README): ``known_difference()`` says which inputs.
"""

import contextlib
import string

import pytest
from conformance import w3c_member
from ddtrace._trace.context import Context as DDContext
from ddtrace.internal.settings._config import config as dd_config
from ddtrace.propagation.http import HTTPPropagator as DDPropagator
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

STYLES = ("datadog", "tracecontext", "b3multi", "b3", "baggage")
U64 = 2**64 - 1


@contextlib.contextmanager
def ddtrace_settings(s):
    """ddtrace's global config set to the ddfast Settings ``s`` for the duration."""
    saved = {
        "_propagation_style_extract": dd_config._propagation_style_extract,
        "_propagation_style_inject": dd_config._propagation_style_inject,
        "_propagation_extract_first": dd_config._propagation_extract_first,
        "_propagation_behavior_extract": dd_config._propagation_behavior_extract,
        "_x_datadog_tags_max_length": dd_config._x_datadog_tags_max_length,
        "_x_datadog_tags_enabled": dd_config._x_datadog_tags_enabled,
        "_128_bit_trace_id_enabled": dd_config._128_bit_trace_id_enabled,
        "_baggage_tag_keys": dd_config._baggage_tag_keys,
        "_propagation_http_baggage_enabled": dd_config._propagation_http_baggage_enabled,
    }
    dd_config._propagation_style_extract = list(s.extract_styles)
    dd_config._propagation_style_inject = list(s.inject_styles)
    dd_config._propagation_extract_first = s.extract_first
    dd_config._propagation_behavior_extract = s.behavior_extract
    dd_config._x_datadog_tags_max_length = s.tags_max_length
    dd_config._x_datadog_tags_enabled = s.tags_max_length > 0
    dd_config._128_bit_trace_id_enabled = s.trace_id_128
    dd_config._baggage_tag_keys = list(s.baggage_tag_keys)
    dd_config._propagation_http_baggage_enabled = s.http_baggage
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(dd_config, name, value)


# -- strategies --------------------------------------------------------------------------------------

printable = st.text(alphabet=string.printable[:95], max_size=12)  # ASCII 0x20-0x7E, no \t\n\r
tag_text = st.text(alphabet=string.ascii_letters + string.digits + " ._-=,;~:", min_size=1, max_size=10)
style_lists = st.lists(st.sampled_from(STYLES), unique=True, max_size=5)


@st.composite
def settings_strategy(draw, prop):
    return prop.Settings(
        extract_styles=tuple(draw(style_lists)),
        inject_styles=tuple(draw(style_lists)),
        extract_first=False,
        behavior_extract=draw(st.sampled_from(["continue", "continue", "restart"])),
        tags_max_length=draw(st.sampled_from([512, 512, 40, 0])),
        trace_id_128=draw(st.booleans()),
        baggage_tag_keys=draw(st.sampled_from([("user.id", "account.id", "session.id"), ("*",), ()])),
        http_baggage=draw(st.booleans()),
    )


trace_ids = st.one_of(
    st.integers(1, U64),
    st.builds(lambda hi, lo: (hi << 64) | lo, st.integers(1, U64), st.integers(0, U64)),
)


@st.composite
def context_args(draw):
    meta = {}
    for key in draw(st.lists(st.sampled_from(["dm", "usr.id", "a", "b c", "x,y", "tid", "ts"]), unique=True)):
        meta["_dd.p." + key] = draw(st.sampled_from(["-4", "-3"]) if key == "dm" else tag_text)
    for i in range(draw(st.sampled_from([0, 0, 0, 30, 40]))):  # more tags than one inject pass holds
        meta["_dd.p.n%d" % i] = draw(tag_text)
    if draw(st.booleans()):
        meta["tracestate"] = draw(
            st.sampled_from(
                ["foo=1,bar=2", "dd=s:1;o:x,congo=t61", "ot=p:8;r:62", "", " ot=x , ot=", "ot=", "a=1,ot=",
                 "a=1,ot=" + "x" * 300, "ot=x,ot=" + "y" * 300, "dd=s:1,ot=q", " , ", "x,ot=" + "z" * 256,
                 "dd=s:1;t.dm:-0", " dd=s:2 , rojo=00f0 ", "dd=a:1,x=1,dd=b:2", "x=1,,y=2",
                 ",".join("m%d=1" % i for i in range(40)), "k=" + "v" * 520, "a=1," + "b" * 130]
            )
        )  # fmt: skip
    if draw(st.booleans()):
        meta["_dd.parent_id"] = "%016x" % draw(st.integers(1, U64))
    return {
        "trace_id": draw(trace_ids),
        "span_id": draw(st.integers(1, U64)),
        "sampling_priority": draw(st.sampled_from([None, -1, 0, 1, 2])),
        "dd_origin": draw(st.one_of(st.none(), st.sampled_from(["rum", "synthetics"]), printable)),
        "meta": meta,
        "baggage": draw(
            st.dictionaries(
                st.text(min_size=1, max_size=8).filter(lambda k: k.strip() and "%" not in k),
                st.text(min_size=1, max_size=8).filter(lambda v: v.strip() and "%" not in v),
                max_size=4,
            )
        ),
        "is_remote": draw(st.booleans()),
    }


# -- injection ----------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(data=st.data())
def test_inject_matches_ddtrace(prop, data):
    s = data.draw(settings_strategy(prop))
    args = data.draw(context_args())
    ours = prop.Context(**dict(args, meta=dict(args["meta"]), baggage=dict(args["baggage"])))
    theirs = DDContext(**dict(ddtrace_context_args(args), baggage=dict(args["baggage"])))
    our_headers, their_headers = {}, {}
    prop.inject(ours, our_headers, s)
    with ddtrace_settings(s):
        DDPropagator.inject(theirs, their_headers)
    as_ddfast_sends(our_headers, their_headers)
    assert our_headers == their_headers
    # what injection records in meta (_dd.p.tid, _dd.propagation_error, _dd.origin) matches too; the stored
    # upstream tracestate is left out: ddtrace's Context rewrites its ot= member on construction (an internal form)
    their_meta = {k: v for k, v in theirs._meta.items() if k != "tracestate"}
    assert {k: v for k, v in ours.meta.items() if k != "tracestate"} == their_meta


@pytest.mark.parametrize("upstream", [" , ", ",", " ", "ot=th:8", "ot=th:8, ", " ,ot=th:8", "a=b"])
def test_inject_upstream_tracestate_without_members_as_ddtrace(prop, upstream):
    """Found by the test above: an upstream tracestate of blanks has ddtrace trim our member."""
    meta = {"_dd.p.dm": "-4", "_dd.p.usr.id": "x ", "tracestate": upstream}
    our_headers, their_headers = {}, {}
    prop.inject(prop.Context(trace_id=1, span_id=1, meta=dict(meta)), our_headers, prop.Settings())
    with ddtrace_settings(prop.Settings()):
        DDPropagator.inject(DDContext(trace_id=1, span_id=1, meta=dict(meta)), their_headers)
    assert our_headers["tracestate"] == their_headers["tracestate"]


# -- extraction ---------------------------------------------------------------------------------------


@st.composite
def header_sets(draw):
    """Valid headers (ddtrace's own injection of a random context), then 0..3 mutations."""
    args = draw(context_args())
    args["meta"].pop("_dd.parent_id", None)
    ctx = DDContext(**dict(args, is_remote=draw(st.booleans())))
    headers = {}
    inject_styles = draw(st.lists(st.sampled_from(STYLES), unique=True, min_size=1))
    with ddtrace_settings(_PlainSettings(inject_styles=inject_styles, http_baggage=draw(st.booleans()))):
        DDPropagator.inject(ctx, headers)
    if draw(st.booleans()):  # a second, different trace in another style
        other = DDContext(trace_id=draw(trace_ids), span_id=draw(st.integers(1, U64)), sampling_priority=1)
        other_headers = {}
        with ddtrace_settings(_PlainSettings(inject_styles=[draw(st.sampled_from(STYLES[:4]))])):
            DDPropagator.inject(other, other_headers)
        headers.update(other_headers)
    for _ in range(draw(st.integers(0, 3))):
        if not headers:
            break
        name = draw(st.sampled_from(sorted(headers)))
        value = headers[name]
        how = draw(st.sampled_from(["truncate", "replace", "drop", "recase", "insert", "empty"]))
        if how == "truncate":
            headers[name] = value[: draw(st.integers(0, max(len(value) - 1, 0)))]
        elif how == "replace" and value:
            i = draw(st.integers(0, len(value) - 1))
            headers[name] = value[:i] + draw(st.sampled_from(string.printable[:95] + "\u00e9")) + value[i + 1 :]
        elif how == "insert":
            i = draw(st.integers(0, len(value)))
            headers[name] = value[:i] + draw(st.sampled_from(list(",;=:~-0a") + ["dd=", "t.x:1"])) + value[i:]
        elif how == "drop":
            del headers[name]
        elif how == "recase":
            headers[name.upper()] = headers.pop(name)
        elif how == "empty":
            headers[name] = ""
    return headers


class _PlainSettings:
    """Only what ``ddtrace_settings`` reads, for driving ddtrace's own injection."""

    def __init__(self, inject_styles=(), extract_styles=(), http_baggage=False):
        self.extract_styles = tuple(extract_styles)
        self.inject_styles = tuple(inject_styles)
        self.extract_first = False
        self.behavior_extract = "continue"
        self.tags_max_length = 512
        self.trace_id_128 = True
        self.baggage_tag_keys = ("user.id", "account.id", "session.id")
        self.http_baggage = http_baggage


def _lenient_int(text, base=10):
    try:
        return int(text, base)
    except ValueError:
        return None


def _strict_matches(text, alphabet, max_len):
    return 0 < len(text) <= max_len and all(c in alphabet for c in text)


def known_difference(headers):
    """Why ddfast and ddtrace knowingly differ on ``headers`` (README, "Known differences"), or None."""
    h = {k.lower(): v for k, v in headers.items()}
    dec, hexd = string.digits, string.hexdigits
    for name in ("x-datadog-trace-id", "x-datadog-parent-id"):
        if name in h and _lenient_int(h[name]) is not None and not _strict_matches(h[name], dec, 20):
            return "ddtrace parses ids with int(): spaces, signs, underscores, non-ASCII digits"
        if name in h and _strict_matches(h[name], dec, 40) and int(h[name]) > U64:
            return "ddtrace accepts parent ids over 64 bits"
    prio = h.get("x-datadog-sampling-priority")
    if prio is not None and _lenient_int(prio) is not None and prio.lstrip("-") != str(abs(int(prio))):
        return "ddtrace parses the priority with int()"
    if prio is not None and _lenient_int(prio) is not None and len(prio.lstrip("-")) > 18:
        return "ddtrace accepts a priority of any size (a corrupt header for the Go and Java tracers)"
    b3_values = [h.get("x-b3-traceid"), h.get("x-b3-spanid")] + (h.get("b3") or "").split("-")[:2]
    for v in b3_values:
        if v and _lenient_int(v, 16) is not None and not _strict_matches(v, hexd, 32):
            return "ddtrace parses b3 ids with int(x, 16)"
        if v and _strict_matches(v, hexd, 64) and len(v) > 16 and v in (h.get("x-b3-spanid"),):
            return "ddtrace accepts b3 span ids over 64 bits"
    if "b3" in h and len(h["b3"].split("-")) >= 2 and len(h["b3"].split("-")[1]) > 16:
        return "ddtrace accepts b3 span ids over 64 bits"
    if "x-b3-spanid" in h and len(h["x-b3-spanid"]) > 16:
        return "ddtrace accepts b3 span ids over 64 bits"
    tags = h.get("x-datadog-tags", "")
    if "_dd.p.tid=" in tags:
        tid = tags.split("_dd.p.tid=", 1)[1].split(",", 1)[0].strip(" ")
        lenient = _lenient_int(tid, 16) is not None
        if lenient and (tid != tid.strip(" +_") or tid.startswith("0x")) or "_" in tid or "+" in tid:
            return "ddtrace validates _dd.p.tid with int(x, 16)"
    state = h.get("tracestate", "")
    for member in state.split(","):
        member = member.strip()
        if member.startswith("dd="):
            for item in member[3:].split(";"):
                key, _, value = item.partition(":")
                if key == "s" and _lenient_int(value) is not None and value.lstrip("-") != str(abs(int(value))):
                    return "ddtrace parses tracestate s: with int()"
                if key == "p" and value and not _strict_matches(value, hexd, 16) or key == "p" and len(value) != 16:
                    return "ddtrace keeps a malformed tracestate p: (and raises on re-inject)"
    if len(h.get("x-datadog-origin") or "") > 128 or len(_dd_items(state).get("o", "")) > 128:
        return "ddtrace forwards an origin of any length"
    for member in state.split(","):
        key, _, value = member.strip().partition("=")
        if len(key) > 256 or len(value) > 256:
            return "ddtrace forwards a tracestate member over W3C's 256-character key or value"
    tp = h.get("traceparent", "").strip(" \t")
    if len(tp) >= 55 and tp[2:3] == "-":
        if tp[:2] != "00" or len(tp) != 55:
            return "ddtrace keeps a later traceparent version and its extra fields"
        flags = _lenient_int(tp[53:55], 16)
        if flags is not None and flags & ~0x03:
            return "ddtrace forwards traceparent flags W3C does not define"
        dd = _dd_items(state)
        if "t.tid" in dd and dd["t.tid"] != tp[3:19]:
            return "ddtrace keeps a tracestate t.tid the traceparent contradicts"
        sampled = flags & 1 if flags is not None else None
        s_item = _lenient_int(dd.get("s", ""))
        if "t.dm" in dd and s_item is not None and sampled is not None and (s_item > 0) != bool(sampled):
            return "ddtrace keeps the decision maker of a decision the traceparent flag changed"
    return None


def _dd_items(tracestate):
    """The ``k:v`` items of the last ``dd=`` member of a tracestate text."""
    items = {}
    for member in tracestate.split(","):
        member = member.strip()
        if member.startswith("dd="):
            items = dict(item.partition(":")[::2] for item in member[3:].split(";"))
    return items


def ddtrace_dropped_everything(headers, s, theirs):
    """ddtrace returns an empty context when tracecontext shares the trace of a datadog context that has
    no parent id (it formats None as hex and swallows the error); ddfast keeps the context (README)."""
    h = {k.lower(): v for k, v in headers.items()}
    parent = h.get("x-datadog-parent-id", "0")
    return (
        theirs["trace_id"] is None
        and not theirs["links"]
        and "datadog" in s.extract_styles
        and "tracecontext" in s.extract_styles
        and (not parent.isdigit() or int(parent) == 0)
    )


def _extracted(ctx):
    meta = ctx._meta
    return {
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "sampling_priority": ctx.sampling_priority,
        "dd_origin": ctx.dd_origin,
        "meta": {k: v for k, v in meta.items() if k != "_dd.origin"},
        "baggage": dict(ctx._baggage),
        "links": [
            (link.trace_id, link.span_id, link.flags, link.tracestate, dict(link.attributes))
            for link in ctx._span_links
        ],
    }


def w3c_members_only(tracestate):
    """``tracestate`` without the printable members that break W3C's grammar (sizes aside: those differences
    are ``known_difference``'s): what ddfast drops (and ddtrace forwards, README) before any limit, so that
    ddtrace given this reads what ddfast read."""
    kept = []
    for member in tracestate.split(","):
        m = member.strip()
        kept.append("" if m and m.isascii() and m.isprintable() and not w3c_member(m, sized=False) else member)
    return ",".join(kept) or (" " if tracestate else "")  # a header of only broken members was still sent


def as_ddfast_sends(ours, theirs):
    """ddtrace's injected headers ``theirs`` as ddfast sends them on purpose (README): no ``ot-baggage-*``
    header holding a control character; and, as ddtrace adds p: after the limits, past 512 chars or 32
    members where ddfast drops other members, a tracestate that is over is checked to be ours but with
    members in order left out, then taken as ours."""
    for name in [n for n in theirs if n.startswith("ot-baggage-")]:
        if any(c < " " or c == "\x7f" for c in name + theirs[name]):
            del theirs[name]
    ts = theirs.get("tracestate", "")
    if len(ts) > 512 or ts.count(",") >= 32:
        ours_m, theirs_m = ours["tracestate"].split(","), ts.split(",")
        assert len(ours["tracestate"]) <= 512 and len(ours_m) <= 32 and ours_m[0] == theirs_m[0]
        rest = iter(theirs_m)
        assert all(m in rest for m in ours_m)
        theirs["tracestate"] = ours["tracestate"]


def ddtrace_context_args(args):
    """``context_args`` for ddtrace's Context: the meta's tracestate without what breaks W3C's grammar."""
    meta = dict(args["meta"])
    if "tracestate" in meta:
        meta["tracestate"] = w3c_members_only(meta["tracestate"])
    return dict(args, meta=meta)


def w3c_members_only_headers(headers):
    return {k: w3c_members_only(v) if k.lower() in ("tracestate", "http_tracestate") else v for k, v in headers.items()}


def _ddtrace_extract(headers, s):
    with ddtrace_settings(s):
        ctx = DDPropagator.extract(w3c_members_only_headers(headers))
    return _extracted(ctx)


@settings(max_examples=400)
@given(data=st.data())
def test_extract_matches_ddtrace(prop, data):
    s = data.draw(settings_strategy(prop))
    headers = data.draw(header_sets())
    assume(known_difference(headers) is None)
    ours = _extracted(prop.extract(headers, s))
    theirs = _ddtrace_extract(headers, s)
    assume(not ddtrace_dropped_everything(headers, s, theirs))
    assert ours == theirs


@settings(max_examples=300)
@given(data=st.data())
def test_extract_random_values_match_ddtrace(prop, data):
    """Header values from fragments of the formats, shuffled: mostly invalid, sometimes not."""
    fragments = st.sampled_from(
        ["0", "1", "2", "-1", "00", "01", "ff", "-", ",", ";", "=", ":", "~", " ", "dd=", "s:", "o:", "t.dm:",
         "p:", "_dd.p.", "tid", "dm", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "rum", "d",
         "a=b", "%20", "%E9", "\u00e9", "18446744073709551615", "18446744073709551616"]
    )  # fmt: skip
    values = st.lists(fragments, max_size=6).map("".join)
    names = st.sampled_from(
        ["x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority", "x-datadog-origin",
         "x-datadog-tags", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled",
         "x-b3-flags", "b3", "baggage"]
    )  # fmt: skip
    headers = data.draw(st.dictionaries(names, values, max_size=6))
    s = data.draw(settings_strategy(prop))
    assume(known_difference(headers) is None)
    ours = _extracted(prop.extract(headers, s))
    theirs = _ddtrace_extract(headers, s)
    assume(not ddtrace_dropped_everything(headers, s, theirs))
    assert ours == theirs


# -- known differences, pinned ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers,why",
    [
        ({"x-datadog-trace-id": " 5", "x-datadog-parent-id": "6"}, "whitespace in an id"),
        ({"x-datadog-trace-id": "+5", "x-datadog-parent-id": "6"}, "sign in an id"),
        ({"x-datadog-trace-id": "1_000", "x-datadog-parent-id": "6"}, "underscore in an id"),
        ({"x-datadog-trace-id": "\u0665", "x-datadog-parent-id": "6"}, "non-ASCII digit"),
        ({"x-datadog-trace-id": "5", "x-datadog-parent-id": str(2**64)}, "parent id over 64 bits"),
        ({"x-b3-traceid": "0x1f", "x-b3-spanid": "1"}, "0x prefix in a b3 id"),
    ],
)
def test_known_differences_strict_ids(prop, headers, why):
    s = prop.Settings(extract_styles=("datadog", "b3multi"))
    assert known_difference(headers) is not None, why
    with ddtrace_settings(s):
        theirs = DDPropagator.extract(headers)
    assert theirs.trace_id is not None  # ddtrace accepts it
    assert prop.extract(headers, s).trace_id is None  # ddfast refuses it, as the other Datadog tracers do


def test_known_difference_0x_prefixed_tid_is_malformed(prop):
    headers = {
        "x-datadog-trace-id": "1",
        "x-datadog-parent-id": "1",
        "x-datadog-tags": "_dd.p.tid=0x00000000000001",
    }
    assert known_difference(headers) is not None
    s = prop.Settings(extract_styles=("datadog",))
    with ddtrace_settings(s):
        theirs = DDPropagator.extract(headers)
    assert theirs.trace_id == (1 << 64) | 1  # ddtrace: int("0x00000000000001", 16)
    ours = prop.extract(headers, s)
    assert ours.trace_id == 1 and ours._meta["_dd.propagation_error"] == "malformed_tid 0x00000000000001"


def test_known_difference_non_hex_p_never_raises(prop):
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "dd=p:XYZ;s:1"}
    s = prop.Settings(extract_styles=("tracecontext",), inject_styles=("tracecontext",))
    with ddtrace_settings(s):
        theirs = DDPropagator.extract(headers)
        with pytest.raises(ValueError):
            DDPropagator.inject(theirs, {})
    out = {}
    prop.inject(prop.extract(headers, s), out, s)
    assert out["tracestate"] == "dd=s:1"


def test_known_difference_add_p_keeps_other_vendors_intact(prop):
    ctx_args = {"trace_id": 5, "span_id": 6, "is_remote": False, "meta": {"tracestate": "odd=1"}}
    s = prop.Settings(inject_styles=("tracecontext",))
    with ddtrace_settings(s):
        theirs = {}
        DDPropagator.inject(DDContext(**dict(ctx_args, meta=dict(ctx_args["meta"]))), theirs)
    ours = {}
    prop.inject(prop.Context(**dict(ctx_args, meta=dict(ctx_args["meta"]))), ours, s)
    assert theirs["tracestate"] == "odd=p:0000000000000006;1"  # ddtrace rewrites another vendor's member
    assert ours["tracestate"] == "dd=p:0000000000000006,odd=1"


def test_known_difference_baggage_percent_is_encoded(prop):
    s = prop.Settings(inject_styles=("baggage",), extract_styles=("baggage",))
    ctx = prop.Context(baggage={"k": "100%25"})
    out = {}
    prop.inject(ctx, out, s)
    assert out == {"baggage": "k=100%2525"}
    assert prop.extract(out, s).baggage == {"k": "100%25"}


def test_known_difference_extract_first_tries_the_next_style(prop):
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    s = prop.Settings(extract_styles=("datadog", "tracecontext"), extract_first=True)
    with ddtrace_settings(s):
        theirs = DDPropagator.extract(headers)
    assert theirs is None  # ddtrace tries only the first style, and returns None instead of a Context
    assert prop.extract(headers, s).trace_id == 0x0AF7651916CD43DD8448EB211C80319C


# (what is sent, what ddtrace 4.16 sends on, what ddfast sends on): header values of one re-injection
W3C_ONLY = ("tracecontext",)
TP_FF = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff"


def _reinjected(prop, headers, styles=W3C_ONLY):
    """(ddtrace's headers, ddfast's headers) after extracting ``headers`` and injecting the context again."""
    s = prop.Settings(extract_styles=styles, inject_styles=styles)
    with ddtrace_settings(s):
        theirs = {}
        DDPropagator.inject(DDPropagator.extract(headers), theirs)
    ours = {}
    prop.inject(prop.extract(headers, s), ours, s)
    return theirs, ours


def test_known_difference_undefined_traceparent_flags_are_not_kept(prop):
    # sent on, both keep the sampled and random-trace-id flags only; the extracted context differs
    theirs, ours = _reinjected(prop, {"traceparent": TP_FF})
    assert known_difference({"traceparent": TP_FF}) is not None
    assert theirs["traceparent"].endswith("-03") and ours["traceparent"].endswith("-03")
    s = prop.Settings(extract_styles=W3C_ONLY)
    with ddtrace_settings(s):
        assert DDPropagator.extract({"traceparent": TP_FF})._meta["traceparent"] == TP_FF
    assert prop.extract({"traceparent": TP_FF}, s).meta["traceparent"] == TP_FF[:-2] + "03"


def test_known_difference_a_contradicting_tid_is_replaced_and_recorded(prop):
    headers = {"traceparent": TP_FF[:-2] + "01", "tracestate": "dd=s:1;t.tid:1111111111111111"}
    s = prop.Settings(extract_styles=W3C_ONLY)
    assert known_difference(headers) is not None
    with ddtrace_settings(s):
        assert DDPropagator.extract(headers)._meta["_dd.p.tid"] == "1111111111111111"
    ours = prop.extract(headers, s)
    assert ours.meta["_dd.p.tid"] == "0af7651916cd43dd"
    assert ours.meta["_dd.propagation_error"] == "inconsistent_tid 1111111111111111"


def test_known_difference_the_decision_maker_follows_a_flag_that_overrides_s(prop):
    headers = {"traceparent": TP_FF[:-2] + "00", "tracestate": "dd=s:2;t.dm:-4"}
    theirs, ours = _reinjected(prop, headers)
    assert known_difference(headers) is not None
    assert "t.dm:-4" in theirs["tracestate"] and "s:0" in theirs["tracestate"]
    assert "t.dm" not in ours["tracestate"] and "s:0" in ours["tracestate"]


def test_known_difference_an_origin_longer_than_any_real_one_is_not_sent_on(prop):
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-origin": "o" * 5000}
    theirs, ours = _reinjected(prop, headers, ("datadog", "tracecontext"))
    assert known_difference(headers) is not None
    assert len(theirs["x-datadog-origin"]) == 5000 and len(theirs["tracestate"]) > 5000
    assert "x-datadog-origin" not in ours and len(ours["tracestate"]) <= 256


def test_known_difference_an_oversized_tracestate_member_is_dropped(prop):
    headers = {"traceparent": TP_FF[:-2] + "01", "tracestate": "big=" + "v" * 300 + ",ok=1"}
    theirs, ours = _reinjected(prop, headers)
    assert known_difference(headers) is not None
    assert "big=" in theirs["tracestate"]
    assert "big=" not in ours["tracestate"] and "ok=1" in ours["tracestate"]


@pytest.mark.parametrize("member", ["FOO=1", "@foo=1", "foo=bar=baz", "foo=", "x"])
def test_known_difference_a_member_breaking_the_grammar_is_dropped(prop, member):
    headers = {"traceparent": TP_FF[:-2] + "01", "tracestate": "a=1," + member + ",b=2"}
    before = prop.ERRORS.get("tracestate_member", 0)
    ours, theirs = {}, {}
    prop.inject(prop.extract(headers, prop.Settings()), ours, prop.Settings())
    assert prop.ERRORS["tracestate_member"] == before + 1
    with ddtrace_settings(prop.Settings()):
        DDPropagator.inject(DDPropagator.extract(headers), theirs)
    assert member in theirs["tracestate"].split(",")  # ddtrace sends it on
    assert ours["tracestate"].split(",")[1:] == ["a=1", "b=2"]


def test_known_difference_a_repeated_traceparent_of_another_trace_restarts(prop):
    other = "00-%032x-b7ad6b7169203331-01" % 5
    pairs = [("traceparent", TP_FF[:-2] + "01"), ("traceparent", other)]
    assert prop.extract(pairs, prop.Settings(extract_styles=W3C_ONLY)).trace_id is None
    # ddtrace reads a dict, where the last value wins (it does not take header lists)
    with ddtrace_settings(prop.Settings(extract_styles=W3C_ONLY)):
        assert DDPropagator.extract(dict(pairs)).trace_id == 5
