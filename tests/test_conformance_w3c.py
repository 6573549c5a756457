"""Datadog's cross-language conformance scenarios for W3C Trace Context, on both twins.

Transcribed from ``tests/parametric/test_headers_tracecontext.py`` and
``test_headers_tracestate_dd.py`` of DataDog/system-tests (the vectors and what each test asserts,
written as data here; each case is named after the suite's test function). Every case runs through
``tests/conformance.py``: extract a header list, start a child span, inject it, read the span as the
agent receives it. What the suite's Python manifest excuses for ddtrace is expected here too.

What is not expressed, and why: ``conformance.NOT_EXPRESSED``.
"""

import pytest
from conformance import dd_items
from conformance import traceparent
from conformance import tracestate
from conformance import tracestate_text

TC = {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "tracecontext", "DD_TRACE_PROPAGATION_STYLE_INJECT": "tracecontext"}
TC_SINGLE_KEY = {"DD_TRACE_PROPAGATION_STYLE": "tracecontext"}
TC_DD = {
    "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "tracecontext,Datadog",
    "DD_TRACE_PROPAGATION_STYLE_INJECT": "tracecontext,Datadog",
}
DD_TC = {"DD_TRACE_PROPAGATION_STYLE": "datadog,tracecontext"}

TID = "12345678901234567890123456789012"
PARENT = "1234567890123456"


def tp(version="00", trace_id=TID, parent=PARENT, flags="01"):
    return "%s-%s-%s-%s" % (version, trace_id, parent, flags)


# -- traceparent: one request, the trace continued ("same") or a new one started ("new") -----------

# (suite test, env, the traceparent header name and value, expectation)
TRACEPARENT_CASES = [
    ("test_single_key_traceparent_included_tracestate_missing", TC_SINGLE_KEY, [("traceparent", tp())], "same"),
    ("test_traceparent_included_tracestate_missing", TC, [("traceparent", tp())], "same"),
    ("test_traceparent_duplicated", TC, [("traceparent", tp(trace_id=TID[:-1] + "1")), ("traceparent", tp())], "new"),
    ("test_traceparent_header_name", TC, [("trace-parent", tp())], "new"),
    ("test_traceparent_header_name", TC, [("trace.parent", tp())], "new"),
    ("test_traceparent_header_name_valid_casing", TC, [("TraceParent", tp())], "same"),
    ("test_traceparent_header_name_valid_casing", TC, [("TrAcEpArEnT", tp())], "same"),
    ("test_traceparent_header_name_valid_casing", TC, [("TRACEPARENT", tp())], "same"),
    ("test_traceparent_version_0x00", TC, [("traceparent", tp() + ".")], "new"),
    ("test_traceparent_version_0x00", TC, [("traceparent", tp() + "-what-the-future-will-be-like")], "new"),
    ("test_traceparent_version_0xcc", TC, [("traceparent", tp(version="cc"))], "same"),
    (
        "test_traceparent_version_0xcc",
        TC,
        [("traceparent", tp(version="cc") + "-what-the-future-will-be-like")],
        "same",
    ),
    ("test_traceparent_version_0xcc", TC, [("traceparent", tp(version="cc") + ".what-the-future-will-be-like")], "new"),
    ("test_traceparent_version_0xff", TC, [("traceparent", tp(version="ff"))], "new"),
    ("test_traceparent_version_illegal_characters", TC, [("traceparent", tp(version=".0"))], "new"),
    ("test_traceparent_version_illegal_characters", TC, [("traceparent", tp(version="0."))], "new"),
    ("test_traceparent_version_too_long", TC, [("traceparent", tp(version="000"))], "new"),
    ("test_traceparent_version_too_long", TC, [("traceparent", tp(version="0000"))], "new"),
    ("test_traceparent_version_too_short", TC, [("traceparent", tp(version="0"))], "new"),
    ("test_traceparent_trace_id_all_zero", TC, [("traceparent", tp(trace_id="0" * 32))], "new"),
    ("test_traceparent_trace_id_illegal_characters", TC, [("traceparent", tp(trace_id="." + TID[1:]))], "new"),
    ("test_traceparent_trace_id_illegal_characters", TC, [("traceparent", tp(trace_id=TID[:-1] + "."))], "new"),
    ("test_traceparent_trace_id_too_long", TC, [("traceparent", tp(trace_id=TID + "3"))], "new"),
    ("test_traceparent_trace_id_too_short", TC, [("traceparent", tp(trace_id=TID[:-1]))], "new"),
    ("test_traceparent_parent_id_all_zero", TC, [("traceparent", tp(parent="0" * 16))], "new"),
    ("test_traceparent_parent_id_illegal_characters", TC, [("traceparent", tp(parent="." + PARENT[1:]))], "new"),
    ("test_traceparent_parent_id_illegal_characters", TC, [("traceparent", tp(parent=PARENT[:-1] + "."))], "new"),
    ("test_traceparent_parent_id_too_long", TC, [("traceparent", tp(parent=PARENT + "7"))], "new"),
    ("test_traceparent_parent_id_too_short", TC, [("traceparent", tp(parent=PARENT[:-1]))], "new"),
    ("test_traceparent_trace_flags_illegal_characters", TC, [("traceparent", tp(flags=".0"))], "new"),
    ("test_traceparent_trace_flags_illegal_characters", TC, [("traceparent", tp(flags="0."))], "new"),
    ("test_traceparent_trace_flags_too_long", TC, [("traceparent", tp(flags="001"))], "new"),
    ("test_traceparent_trace_flags_too_short", TC, [("traceparent", tp(flags="1"))], "new"),
    ("test_traceparent_ows_handling", TC, [("traceparent", " " + tp())], "same"),
    ("test_traceparent_ows_handling", TC, [("traceparent", "\t" + tp())], "same"),
    ("test_traceparent_ows_handling", TC, [("traceparent", tp() + " ")], "same"),
    ("test_traceparent_ows_handling", TC, [("traceparent", tp() + "\t")], "same"),
    ("test_traceparent_ows_handling", TC, [("traceparent", "\t " + tp() + " \t")], "same"),
]


@pytest.mark.parametrize("env,headers,expected", [pytest.param(*case[1:], id=case[0]) for case in TRACEPARENT_CASES])
def test_traceparent_vectors(library, env, headers, expected):
    out = library(env).make_child_span_and_get_headers(headers)
    parsed = traceparent(out)
    assert parsed is not None  # whatever came in, a valid traceparent goes out
    sent = headers[-1][1].strip(" \t")
    sent_trace_id = sent.split("-")[1] if sent.count("-") >= 3 else None
    if expected == "same":
        assert parsed.trace_id == TID
        assert parsed.parent_id != PARENT
    else:
        assert parsed.trace_id not in (TID, TID[:-1] + "1", sent_trace_id, TID[1:] + "3")


def test_both_traceparent_and_tracestate_missing(library):
    assert traceparent(library(TC).make_child_span_and_get_headers([])) is not None


# -- tracestate ---------------------------------------------------------------------------------------


def _tracestate_of(library, *members, env=TC, flags="00"):
    """``tracestate`` members sent after a valid traceparent: (traceparent, tracestate) sent on."""
    out = library(env).make_child_span_and_get_headers([("traceparent", tp(flags=flags))] + list(members))
    return traceparent(out), tracestate(out)


def test_tracestate_included_traceparent_missing(library):
    lib = library(TC)
    one = tracestate(lib.make_child_span_and_get_headers([("tracestate", "foo=1")]))
    two = tracestate(lib.make_child_span_and_get_headers([("tracestate", "foo=1,bar=2")]))
    assert len(one) == len(two)  # discarded: only ddfast's own member in both
    assert "foo" not in one and "bar" not in two


def test_tracestate_included_traceparent_included(library):
    parsed, members = _tracestate_of(library, ("tracestate", "foo=1,bar=2"))
    assert parsed.trace_id == TID and members["foo"] == "1" and members["bar"] == "2"


@pytest.mark.parametrize("name", ["trace-state", "trace.state"])
def test_tracestate_header_name(library, name):
    assert "foo" not in _tracestate_of(library, (name, "foo=1"))[1]


@pytest.mark.parametrize("name", ["TraceState", "TrAcEsTaTe", "TRACESTATE"])
def test_tracestate_header_name_valid_casing(library, name):
    assert _tracestate_of(library, (name, "foo=1"))[1]["foo"] == "1"


@pytest.mark.parametrize(
    "members,foo",
    [
        ([("tracestate", "")], None),
        ([("tracestate", "foo=1"), ("tracestate", "")], "1"),
        ([("tracestate", ""), ("tracestate", "foo=1")], "1"),
    ],
)
def test_tracestate_empty_header(library, members, foo):
    parsed, state = _tracestate_of(library, *members)
    assert parsed.trace_id == TID
    assert state.get("foo") == foo
    assert "" not in state


def test_tracestate_multiple_headers_different_keys(library):
    sent = [("tracestate", "foo=1,bar=2"), ("tracestate", "rojo=1,congo=2"), ("tracestate", "baz=3")]
    parsed, state = _tracestate_of(library, *sent)
    text = tracestate_text(state)
    assert parsed.trace_id == TID
    positions = [text.index(member) for member in ("foo=1", "bar=2", "rojo=1", "congo=2", "baz=3")]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "members,allowed",
    [
        ([("tracestate", "foo=1,foo=1")], {"1"}),
        ([("tracestate", "foo=1,foo=2")], {"1", "2"}),
        ([("tracestate", "foo=1"), ("tracestate", "foo=1")], {"1"}),
        ([("tracestate", "foo=1"), ("tracestate", "foo=2")], {"1", "2"}),
    ],
)
def test_tracestate_duplicated_keys(library, members, allowed):
    parsed, state = _tracestate_of(library, *members)
    assert parsed.trace_id == TID and state["foo"] in allowed


def test_tracestate_all_allowed_characters(library):
    key = "".join(map(chr, range(0x61, 0x7B))) + "0123456789_-*/"
    value = "".join(map(chr, [*range(0x20, 0x2C), *range(0x2D, 0x3D), *range(0x3E, 0x7F)]))
    for sent_key in (key, key + "@a-z0-9_-*/"):
        assert _tracestate_of(library, ("tracestate", sent_key + "=" + value))[1][sent_key] == value


@pytest.mark.parametrize(
    "member",
    ["FOO=1", "@foo=1", "foo@=1", "foo@0bar=1", "_foo=1", "0foo=1", "foo=bar=baz", "foo=", "foo", "=1", "=",
     "foo =1", "foo@" + "b" * 15 + "=1", "t" * 242 + "@sys=1", "k" * 257 + "=1", "foo=" + "v" * 257],
)  # fmt: skip
def test_tracestate_member_breaking_the_grammar_is_dropped(library, member):
    # W3C level 2's suite sends each and reads the members sent on with its grammar: the other vendors'
    # members stay, in order, and the broken one is not sent on (tracestate() fails on an illegal member)
    parsed, state = _tracestate_of(library, ("tracestate", "bar=1," + member + ",baz=2"))
    assert parsed.trace_id == TID and list(state) == ["dd", "bar", "baz"]


@pytest.mark.parametrize(
    "value",
    ["foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3", " foo=1", "\tfoo=1", "foo=1 ", "foo=1\t",
     "\t foo=1 \t"],
)  # fmt: skip
def test_tracestate_ows_handling(library, value):
    parsed, state = _tracestate_of(library, ("tracestate", value))
    assert parsed.trace_id == TID and state["foo"] == "1"
    if "bar" in value:
        assert state["bar"] == "2" and state["baz"] == "3"


# -- the last Datadog parent (tracestate p:) -----------------------------------------------------------

P_SET = [("traceparent", tp()), ("tracestate", "key1=value1,dd=s:2;o:rum;p:0123456789abcdef;t.dm:-4;t.usr.id:12345~")]
P_INVALID = [
    ("traceparent", tp(trace_id=TID[:-1] + "3", parent=PARENT[:-1] + "7")),
    ("tracestate", "key1=value1,dd=s:2;t.dm:-4;p:XX!X"),
]


@pytest.mark.parametrize(
    "headers,last_parent", [(P_SET, "0123456789abcdef"), (P_INVALID, "XX!X")], ids=["set", "invalid"]
)
def test_tracestate_w3c_p_extract(library, headers, last_parent):
    lib = library()
    with lib.extract_headers_and_make_child_span("p", headers):
        pass
    assert lib.only_span()["meta"]["_dd.parent_id"] == last_parent


def test_tracestate_w3c_p_inject(library):
    lib = library()
    span = lib.start_span("new_span")
    out = lib.inject(span)
    span.finish()
    assert "p:%016x" % span.span_id in dd_items(out)


@pytest.mark.parametrize(
    "headers,last_parent", [(P_SET, "0123456789abcdef"), (P_INVALID, "XX!X")], ids=["set", "invalid"]
)
def test_tracestate_w3c_p_extract_and_inject(library, headers, last_parent):
    lib = library()
    with lib.extract_headers_and_make_child_span("p", headers) as span:
        out = lib.inject(span)  # never raises, whatever p: came in
    assert lib.only_span()["meta"]["_dd.parent_id"] == last_parent
    assert "p:%016x" % span.span_id in dd_items(out)


# (case of the suite, headers, expected parent_id of the child, expected _dd.parent_id or None)
P_DATADOG_W3C = [
    ("identical_trace_info", [("traceparent", "00-11111111111111110000000000000001-000000003ade68b1-01"),
     ("tracestate", "dd=s:2;p:000000003ade68b1,foo=1"), ("x-datadog-trace-id", "1"),
     ("x-datadog-tags", "_dd.p.tid=1111111111111111"), ("x-datadog-parent-id", "987654321")], 987654321, None),
    ("trace_ids_do_not_match", [("traceparent", "00-11111111111111110000000000000002-000000003ade68b1-01"),
     ("tracestate", "dd=s:2;p:000000000000000a,foo=1"), ("x-datadog-parent-id", "10"), ("x-datadog-trace-id", "2"),
     ("x-datadog-tags", "_dd.p.tid=2222222222222222")], 10, None),
    ("same_trace_non_matching_parent_ids", [("traceparent", "00-11111111111111110000000000000003-000000003ade68b1-01"),
     ("tracestate", "dd=s:2;p:000000000000000a,foo=1"), ("x-datadog-trace-id", "3"),
     ("x-datadog-tags", "_dd.p.tid=1111111111111111"), ("x-datadog-parent-id", "10")], 987654321, "000000000000000a"),
    ("non_matching_span_missing_p_value", [("traceparent", "00-00000000000000000000000000000004-000000003ade68b1-01"),
     ("tracestate", "dd=s:2,foo=1"), ("x-datadog-trace-id", "4"), ("x-datadog-parent-id", "10")], 987654321,
     "000000000000000a"),
    ("non_matching_span_non_matching_p_value",
     [("traceparent", "00-00000000000000000000000000000005-000000003ade68b1-01"),
     ("tracestate", "dd=s:2;p:8fffffffffffffff,foo=1"), ("x-datadog-parent-id", "10"), ("x-datadog-trace-id", "5")],
     987654321, "8fffffffffffffff"),
]  # fmt: skip


@pytest.mark.parametrize("headers,parent_id,last_parent", [pytest.param(*c[1:], id=c[0]) for c in P_DATADOG_W3C])
def test_tracestate_w3c_p_extract_datadog_w3c(library, headers, parent_id, last_parent):
    lib = library(DD_TC)
    with lib.extract_headers_and_make_child_span("child", headers):
        pass
    span = lib.only_span()
    assert span["parent_id"] == parent_id
    assert span["meta"].get("_dd.parent_id") == last_parent


def test_tracestate_w3c_p_phase_3_extract_first(library):
    lib = library({"DD_TRACE_PROPAGATION_EXTRACT_FIRST": "true", **DD_TC})
    headers = [("traceparent", "00-11111111111111110000000000000001-000000000000000f-01"),
               ("tracestate", "dd=s:2;p:0123456789abcdef,foo=1"), ("x-datadog-trace-id", "1"),
               ("x-datadog-parent-id", "987654320"), ("x-datadog-tags", "_dd.p.tid=1111111111111111")]  # fmt: skip
    with lib.extract_headers_and_make_child_span("child", headers):
        pass
    span = lib.only_span()
    assert span["parent_id"] == 987654320 and "_dd.parent_id" not in span["meta"]


def test_tracestate_w3c_context_leak(library):
    lib = library(DD_TC)
    headers = [("traceparent", "00-33333333333333330000000000000003-000000003ade68b1-01"),
               ("tracestate", "dd=s:2;p:000000000000000a,foo=1"), ("x-datadog-trace-id", "3"),
               ("x-datadog-tags", "_dd.p.tid=3333333333333333"), ("x-datadog-parent-id", "10")]  # fmt: skip
    with lib.extract_headers_and_make_child_span("high_order_64_bits_set", headers):
        pass
    assert lib.only_span()["meta"].get("_dd.p.tid") == "3333333333333333"
    with lib.extract_headers_and_make_child_span("high_order_64_bits_unset", P_DATADOG_W3C[3][1]):
        pass
    assert lib.only_span()["meta"].get("_dd.p.tid") is None


# -- the dd= member (test_headers_tracestate_dd) --------------------------------------------------------

DD_HEADERS = [("x-datadog-trace-id", "7890123456789012"), ("x-datadog-parent-id", "1234567890123456")]

# (sub-case, headers, x-datadog-sampling-priority sent on, sampled flag sent on, allowed s: items (None: no s:))
PRIORITY_CASES = [
    ("datadog_keep", DD_HEADERS + [("x-datadog-sampling-priority", "2")], "2", "01", {"s:2"}),
    ("datadog_reject", DD_HEADERS + [("x-datadog-sampling-priority", "-1")], "-1", "00", {"s:-1"}),
    ("sampled_no_s", [("traceparent", tp())], "1", "01", {"s:1", None}),
    ("sampled_s_reject", [("traceparent", tp()), ("tracestate", "foo=1,dd=s:-1")], "1", "01", {"s:1", None}),
    ("sampled_s_keep", [("traceparent", tp()), ("tracestate", "foo=1,dd=s:2")], "2", "01", {"s:2"}),
    ("unsampled_no_s", [("traceparent", tp(flags="00"))], "0", "00", {"s:0", None}),
    ("unsampled_s_reject", [("traceparent", tp(flags="00")), ("tracestate", "foo=1,dd=s:-1")], "-1", "00", {"s:-1"}),
    ("unsampled_s_keep", [("traceparent", tp(flags="00")), ("tracestate", "foo=1,dd=s:1")], "0", "00", {"s:0", None}),
]


def _s_item(out):
    items = [item for item in dd_items(out) if item.startswith("s:")]
    return items[0] if items else None


@pytest.mark.parametrize("headers,priority,flags,s_items", [pytest.param(*c[1:], id=c[0]) for c in PRIORITY_CASES])
def test_headers_tracestate_dd_propagate_samplingpriority(library, headers, priority, flags, s_items):
    out = library(TC_DD).make_child_span_and_get_headers(headers)
    assert out["x-datadog-sampling-priority"] == priority
    assert traceparent(out).flags == flags
    assert _s_item(out) in s_items


# (sub-case, headers, x-datadog-origin sent on (None: absent), o: item)
ORIGIN_CASES = [
    ("well_known", DD_HEADERS + [("x-datadog-origin", "synthetics-browser")], "synthetics-browser",
     {"o:synthetics-browser"}),
    ("not_well_known", DD_HEADERS + [("x-datadog-origin", "tracing2.0")], "tracing2.0", {"o:tracing2.0"}),
    ("invalid_characters", DD_HEADERS + [("x-datadog-origin", "synthetics~;=web,z")],
     {"synthetics~;=web,z", "synthetics~;=web"},
     {"o:synthetics__~web_z", "o:synthetics__~web"}),
    ("tracestate_no_o", [("traceparent", tp()), ("tracestate", "foo=1,dd=s:-1")], None, {None}),
    ("tracestate_well_known", [("traceparent", tp()), ("tracestate", "foo=1,dd=s:-1;o:synthetics-browser")],
     "synthetics-browser", {"o:synthetics-browser"}),
    ("tracestate_not_well_known", [("traceparent", tp()), ("tracestate", "foo=1,dd=s:-1;o:tracing2.0")], "tracing2.0",
     {"o:tracing2.0"}),
]  # fmt: skip


@pytest.mark.parametrize("headers,origin,o_items", [pytest.param(*c[1:], id=c[0]) for c in ORIGIN_CASES])
def test_headers_tracestate_dd_propagate_origin(library, headers, origin, o_items):
    out = library(TC_DD).make_child_span_and_get_headers(headers)
    sent = out.get("x-datadog-origin")
    assert sent in origin if isinstance(origin, set) else sent == origin
    items = [item for item in dd_items(out) if item.startswith("o:")]
    assert (items[0] if items else None) in o_items


# (sub-case, headers, x-datadog-tags sent on, t.* items that must be in dd=)
TAGS_CASES = [
    ("well_known", DD_HEADERS + [("x-datadog-tags", "_dd.p.usr.id=MTIz")], None, ["t.usr.id:MTIz"]),
    ("equals_signs",
     DD_HEADERS + [("x-datadog-tags", "_dd.p.dm=-4,_dd.p.usr.id=baz64=="), ("x-datadog-sampling-priority", "1")],
     "_dd.p.dm=-4,_dd.p.usr.id=baz64==", ["t.dm:-4", "t.usr.id:baz64~~"]),
    ("unrecognized", DD_HEADERS + [("x-datadog-tags", "_dd.p.dm=-4,_dd.p.usr.id=baz64==,_dd.p.url=http://localhost"),
     ("x-datadog-sampling-priority", "1")], "_dd.p.dm=-4,_dd.p.usr.id=baz64==,_dd.p.url=http://localhost",
     ["t.dm:-4", "t.usr.id:baz64~~", "t.url:http://localhost"]),
]  # fmt: skip


@pytest.mark.parametrize("headers,tags,items", [pytest.param(*c[1:], id=c[0]) for c in TAGS_CASES])
def test_headers_tracestate_dd_propagate_propagatedtags(library, headers, tags, items):
    out = library(TC_DD).make_child_span_and_get_headers(headers)
    if tags is None:
        assert "_dd.p.usr.id=MTIz" in out["x-datadog-tags"]
    else:
        assert out["x-datadog-tags"] == tags
    assert set(items) <= set(dd_items(out))


def test_headers_tracestate_dd_propagate_propagatedtags_none_in_tracestate(library):
    out = library(TC_DD).make_child_span_and_get_headers([("traceparent", tp()), ("tracestate", "foo=1,dd=s:-1")])
    items = dd_items(out)
    for tag in filter(None, out.get("x-datadog-tags", "").split(",")):
        key, _, value = tag.partition("=")
        assert key.startswith("_dd.p.")
        assert (key == "_dd.p.tid" and "t.tid" not in items) or "t.%s:%s" % (key[6:], value.replace("=", "~")) in items


# A sampling decision that changes on extraction (the traceparent flag wins over s:) re-decides the
# decision maker: a keep becomes the default decision (-0), a drop carries none.
# (suite test, sub-case, headers, priority sent on, dm in x-datadog-tags / t.dm in dd= (None: absent))
DECISION_MAKER_CASES = [
    ("test_headers_tracestate_dd_propagate_propagatedtags_change_sampling_same_dm", "keep",
     [("traceparent", tp()), ("tracestate", "foo=1,dd=s:0;t.dm:-0;t.usr.id:baz64~~")], "1", "-0"),
    ("test_headers_tracestate_dd_propagate_propagatedtags_change_sampling_same_dm", "drop",
     [("traceparent", tp(flags="00")), ("tracestate", "foo=1,dd=s:1;t.dm:-0;t.usr.id:baz64~~;t.url:http://localhost")],
     "0", None),
    ("test_headers_tracestate_dd_propagate_propagatedtags_change_sampling_reset_dm", "keep",
     [("traceparent", tp()), ("tracestate", "foo=1,dd=s:-1;t.dm:-4;t.usr.id:baz64~~")], "1", "-0"),
    ("test_headers_tracestate_dd_propagate_propagatedtags_change_sampling_reset_dm", "drop",
     [("traceparent", tp(flags="00")), ("tracestate", "foo=1,dd=s:2;t.dm:-4;t.usr.id:baz64~~;t.url:http://localhost")],
     "0", None),
]  # fmt: skip


@pytest.mark.parametrize(
    "headers,priority,dm", [pytest.param(*c[2:], id="%s-%s" % c[:2]) for c in DECISION_MAKER_CASES]
)
def test_headers_tracestate_dd_propagate_propagatedtags_change_sampling(library, headers, priority, dm):
    out = library(TC_DD).make_child_span_and_get_headers(headers)
    tags, items = out["x-datadog-tags"].split(","), dd_items(out)
    assert out["x-datadog-sampling-priority"] == priority
    assert _s_item(out) in ("s:" + priority, None)
    assert "_dd.p.usr.id=baz64==" in tags and "t.usr.id:baz64~~" in items
    if "localhost" in headers[1][1]:
        assert "_dd.p.url=http://localhost" in tags and "t.url:http://localhost" in items
    if dm is None:
        assert not [tag for tag in tags if tag.startswith("_dd.p.dm")]
        assert not [item for item in items if item.startswith("t.dm:")]
    else:
        assert "_dd.p.dm=" + dm in tags and "t.dm:" + dm in items


OTHER_VENDORS = ",".join("key%d=value%d" % (i, i) for i in range(1, 32))


@pytest.mark.parametrize(
    "sent,count",
    [(OTHER_VENDORS + ",dd=s:-1", 32), ("dd=s:-1," + OTHER_VENDORS, 32), (OTHER_VENDORS, 32), (None, 1)],
    ids=["dd_last", "dd_first", "no_dd", "no_tracestate"],
)
def test_headers_tracestate_dd_keeps_32_or_fewer_list_members(library, sent, count):
    headers = [("traceparent", tp())] + ([("tracestate", sent)] if sent else [])
    text = tracestate_text(tracestate(library(TC_DD).make_child_span_and_get_headers(headers)))
    assert text.startswith("dd=") and len(text.split(",")) == count
    assert sent is None or "key31=value31" in text


def test_headers_tracestate_dd_evicts_32_or_greater_list_members(library):
    headers = [("traceparent", tp()), ("tracestate", OTHER_VENDORS + ",key32=value32")]
    text = tracestate_text(tracestate(library(TC_DD).make_child_span_and_get_headers(headers)))
    assert text.startswith("dd=") and len(text.split(",")) == 32 and "key32=value32" not in text
