"""Datadog's cross-language conformance scenarios for what travels beside the trace ids: the extract
behaviour (continue, restart, ignore), span links made from headers, W3C baggage, and the
OpenTelemetry ``ot=`` tracestate member, on both twins.

Transcribed from ``tests/parametric/`` of DataDog/system-tests: ``test_extract_behavior.py``, the
header parts of ``test_span_links.py`` and ``test_otel_tracestate_sampling.py``, and
``test_headers_baggage.py`` (vectors and assertions as data; cases named after the suite's test
functions). What is left out, and why: ``conformance.NOT_EXPRESSED``.
"""

import json

import pytest
from conformance import SAMPLING_PRIORITY
from conformance import has_no_parent
from conformance import traceparent
from conformance import tracestate

# -- extract behaviour -----------------------------------------------------------------------------------

DATADOG_TRACECONTEXT = [
    ("x-datadog-trace-id", "1"),
    ("x-datadog-parent-id", "1"),
    ("x-datadog-sampling-priority", "2"),
    ("x-datadog-tags", "_dd.p.tid=1111111111111111,_dd.p.dm=-4"),
    ("traceparent", "00-11111111111111110000000000000001-0000000000000001-01"),
    ("tracestate", "dd=s:2;t.dm:-4,foo=1"),
]
DATADOG_TRACECONTEXT_BAGGAGE = [*DATADOG_TRACECONTEXT, ("baggage", "key1=value1")]
CONFLICTING = [
    ("x-datadog-trace-id", "2"),
    ("x-datadog-parent-id", "2"),
    ("x-datadog-sampling-priority", "2"),
    ("x-datadog-tags", "_dd.p.tid=1111111111111111,_dd.p.dm=-4"),
    ("traceparent", "00-12345678901234567890123456789012-1234567890123456-01"),
]
RESTARTED_CONFLICTING = [("x-datadog-trace-id", "1"), ("x-datadog-parent-id", "1")] + CONFLICTING[2:]
OVERRIDING_SPAN_ID = DATADOG_TRACECONTEXT[:4] + [
    ("traceparent", "00-11111111111111110000000000000001-1234567890123456-01")
]
EXTRACT_STYLES = "datadog,tracecontext,b3multi,baggage"
BEHAVIORS = {
    "Default": {},
    "Restart": {
        "DD_TRACE_PROPAGATION_STYLE_EXTRACT": EXTRACT_STYLES,
        "DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT": "restart",
    },
    "Ignore": {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": EXTRACT_STYLES, "DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT": "ignore"},
    "Restart_With_Extract_First": {
        "DD_TRACE_PROPAGATION_STYLE_EXTRACT": EXTRACT_STYLES,
        "DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT": "restart",
        "DD_TRACE_PROPAGATION_EXTRACT_FIRST": "true",
    },
}
RESTART_LINK = {
    "trace_id": 1,
    "trace_id_high": 0x1111111111111111,
    "span_id": 1,
    "attributes": {"reason": "propagation_behavior_extract", "context_headers": "datadog"},
}

# (class, suite test, headers, continued trace id (None: a new one), the span's links, tid sent on)
EXTRACT_BEHAVIOR = [
    ("Default", "test_single_tracecontext", DATADOG_TRACECONTEXT, 1, [], True),
    ("Default", "test_multiple_tracecontexts", CONFLICTING, 2, [{
        "trace_id": 8687463697196027922, "trace_id_high": 1311768467284833366, "span_id": 1311768467284833366,
        "attributes": {"reason": "terminated_context", "context_headers": "tracecontext"}}], True),
    ("Restart", "test_single_tracecontext", DATADOG_TRACECONTEXT, None, [RESTART_LINK], False),
    ("Restart", "test_multiple_tracecontexts", RESTARTED_CONFLICTING, None, [RESTART_LINK], False),
    ("Restart", "test_multiple_tracecontexts_with_overrides", OVERRIDING_SPAN_ID, None,
     [dict(RESTART_LINK, span_id=0x1234567890123456)], False),
    ("Ignore", "test_single_tracecontext", DATADOG_TRACECONTEXT, None, [], False),
    ("Ignore", "test_multiple_tracecontexts", CONFLICTING, None, [], False),
    ("Restart_With_Extract_First", "test_single_tracecontext", DATADOG_TRACECONTEXT, None, [RESTART_LINK], False),
    ("Restart_With_Extract_First", "test_multiple_tracecontexts", RESTARTED_CONFLICTING, None, [RESTART_LINK], False),
]  # fmt: skip


def _links(span):
    """The span's links as the agent decodes them (v0.4), only the fields the suite compares."""
    fields = ("trace_id", "trace_id_high", "span_id", "attributes")
    return [{k: link.get(k) for k in fields} for link in span.get("span_links", [])]


@pytest.mark.parametrize(
    "env,headers,trace_id,links,tid_sent",
    [pytest.param(BEHAVIORS[c[0]], *c[2:], id="Test_ExtractBehavior_%s-%s" % c[:2]) for c in EXTRACT_BEHAVIOR],
)
def test_extract_behavior(library, env, headers, trace_id, links, tid_sent):
    lib = library(env)
    with lib.extract_headers_and_make_child_span("root", headers) as span:
        out = lib.inject(span)
    got = lib.only_span()
    if trace_id is None:
        assert got["trace_id"] not in (1, 2, 8687463697196027922) and has_no_parent(got)
        assert out["x-datadog-trace-id"] not in ("1", "2")
    else:
        assert got["trace_id"] == trace_id and not has_no_parent(got)
        assert out["x-datadog-trace-id"] == str(trace_id)
    assert _links(got) == links
    assert ("_dd.p.tid=1111111111111111" in out.get("x-datadog-tags", "")) is tid_sent


@pytest.mark.parametrize(
    "behavior,sent", [("Default", True), ("Restart", True), ("Ignore", False), ("Restart_With_Extract_First", True)]
)
def test_extract_behavior_baggage(library, behavior, sent):
    lib = library(BEHAVIORS[behavior])
    with lib.extract_headers_and_make_child_span("root", DATADOG_TRACECONTEXT_BAGGAGE) as span:
        out = lib.inject(span)
    assert ("key1=value1" in out.get("baggage", "")) is sent
    assert sent or "baggage" not in out


# -- span links from headers -------------------------------------------------------------------------------

TRACECONTEXT_FLAGS_SET = 1 << 31  # the flags of a link made from a context that knows its W3C flags


def test_span_link_from_distributed_datadog_headers(library):
    lib = library({"DD_TRACE_API_VERSION": "v0.4"})
    root = lib.start_span("root")
    extracted = lib.extract([
        ("x-datadog-trace-id", "1234567890"), ("x-datadog-parent-id", "9876543210"),
        ("x-datadog-sampling-priority", "2"), ("x-datadog-origin", "synthetics"),
        ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=0000000000000010"),
    ])  # fmt: skip
    root.link_span(extracted, attributes={"foo": "bar"})
    root.finish()
    span = lib.only_span()
    assert has_no_parent(span) and span["trace_id"] != 1234567890 and "_dd.origin" not in span["meta"]
    (link,) = span["span_links"]
    assert (link["span_id"], link["trace_id"], link["trace_id_high"]) == (9876543210, 1234567890, 16)
    assert link.get("flags", 1) == 1 | TRACECONTEXT_FLAGS_SET  # priority 2: sampled
    assert link["attributes"] == {"foo": "bar"}


def test_span_link_from_distributed_w3c_headers(library):
    lib = library()
    root = lib.start_span("root")
    extracted = lib.extract([
        ("traceparent", "00-12345678901234567890123456789012-1234567890123456-01"),
        ("tracestate", "foo=1,dd=t.dm:-4;s:2,bar=baz"),
    ])  # fmt: skip
    root.link_span(extracted)
    root.finish()
    span = lib.only_span()
    assert has_no_parent(span)
    (link,) = span["span_links"]
    assert (link["span_id"], link["trace_id"]) == (0x1234567890123456, 0x7890123456789012)
    assert link["trace_id_high"] == 0x1234567890123456
    members = link["tracestate"].split(",")
    assert "foo=1" in members and "bar=baz" in members
    dd = [m for m in members if m.startswith("dd=")]
    assert not dd or ("s:2" in dd[0] and "t.dm:-4" in dd[0])
    assert link["flags"] == 1 | TRACECONTEXT_FLAGS_SET
    assert not link.get("attributes")


def test_span_link_propagated_sampling_decisions(library):
    lib = library()
    s1 = lib.start_span("link_w_manual_keep")
    s1.link_span(lib.extract([
        ("x-datadog-trace-id", "666"), ("x-datadog-parent-id", "777"), ("x-datadog-sampling-priority", "2"),
        ("x-datadog-tags", "_dd.p.dm=-0,_dd.p.tid=0000000000000010"),
    ]))  # fmt: skip
    s1.finish()
    s2 = lib.start_span("link_w_manual_drop")
    s2.link_span(lib.extract([
        ("traceparent", "00-66645678901234567890123456789012-0000000000000011-01"),
        ("tracestate", "foo=1,dd=t.dm:-3;s:-1,bar=baz"),
    ]))  # fmt: skip
    s2.finish()
    ads = lib.start_span("auto_dropped_span")
    ads.set_tag("auto.drop", "")
    s3 = lib.tracer.start_span("linked_to_auto_dropped_span")  # a root of its own, started while ads is open
    s3.link_span(ads.context)
    s3.finish()
    ads.finish()
    spans = {span["name"]: span for span in lib.agent_spans()}
    keep, drop, auto, linked = (spans[name] for name in (
        "link_w_manual_keep", "link_w_manual_drop", "auto_dropped_span", "linked_to_auto_dropped_span"))  # fmt: skip
    assert [link["span_id"] for link in keep["span_links"]] == [777]
    assert keep["meta"]["_dd.p.dm"] == "-0" and keep["metrics"][SAMPLING_PRIORITY] == 2
    assert [link["span_id"] for link in drop["span_links"]] == [17]
    assert drop["meta"]["_dd.p.dm"] == "-3" and drop["metrics"][SAMPLING_PRIORITY] == -1
    assert [link["span_id"] for link in linked["span_links"]] == [auto["span_id"]]
    assert auto["metrics"][SAMPLING_PRIORITY] == 0 and linked["metrics"][SAMPLING_PRIORITY] == 0


def test_span_link_v05_carries_the_linked_ids_as_hex(library):
    # the v0.5 form of the links read by test_span_started_with_link_v05: _dd.span_links JSON, hex ids
    lib = library()
    root = lib.start_span("root")
    root.link_span(lib.extract([("traceparent", "00-12345678901234567890123456789012-1234567890123456-01")]))
    root.finish()
    (trace,) = lib.tracer.writer.pop_traces()
    import importlib

    import msgpack

    encoding = importlib.import_module(lib._span_mod.__name__.rsplit(".", 1)[0] + ".encoding")
    table, traces = msgpack.unpackb(
        encoding.MsgpackEncoderV05(1 << 20, 1 << 20).encode_traces([trace]), strict_map_key=False
    )
    meta = {table[k]: table[v] for k, v in traces[0][0][9].items()}
    (link,) = json.loads(meta["_dd.span_links"])
    assert link["trace_id"] == "12345678901234567890123456789012" and link["span_id"] == "1234567890123456"


# -- W3C baggage -----------------------------------------------------------------------------------------

NO_BAGGAGE = {"DD_TRACE_PROPAGATION_STYLE": "datadog,tracecontext"}
ONLY_BAGGAGE = {"DD_TRACE_PROPAGATION_STYLE": "baggage"}
DD_IDS = [("x-datadog-trace-id", "123456789"), ("x-datadog-parent-id", "987654321")]
ODD_KEY, ODD_VALUE = '",;\\()/:<=>?@[]{}', '",;\\'
ODD_MEMBER = "%22%2C%3B%5C%28%29%2F%3A%3C%3D%3E%3F%40%5B%5D%7B%7D=%22%2C%3B%5C"


def test_headers_baggage_default_D001(library):
    lib = library()
    out = lib.make_child_span_and_get_headers([*DD_IDS, ("baggage", "foo=bar")])
    span = lib.only_span()
    assert (span["trace_id"], span["parent_id"]) == (123456789, 987654321) and out["baggage"] == "foo=bar"


def test_headers_baggage_only_D002(library):
    out = library(ONLY_BAGGAGE).make_child_span_and_get_headers([DD_IDS[0], ("baggage", "foo=bar")])
    assert "x-datadog-trace-id" not in out and "x-datadog-parent-id" not in out and out["baggage"] == "foo=bar"


def test_baggage_disable_settings_D003(library):
    lib = library(NO_BAGGAGE)
    out = lib.make_child_span_and_get_headers([*DD_IDS, ("baggage", "foo=bar")])
    span = lib.only_span()
    assert (span["trace_id"], span["parent_id"]) == (123456789, 987654321) and "baggage" not in out


def _set(span, items):
    for key, value in items.items():
        span.context.set_baggage_item(key, value)


def test_baggage_inject_header_D004(library):
    lib = library()
    span = lib.start_span("test_baggage_set_D004")
    _set(span, {"foo": "bar", "baz": "qux", "userId": "Amélie", "serverNode": "DF 28", ODD_KEY: ODD_VALUE})
    items = lib.inject(span)["baggage"].split(",")
    assert sorted(items) == sorted(["foo=bar", "baz=qux", "userId=Am%C3%A9lie", "serverNode=DF%2028", ODD_MEMBER])


def test_baggage_extract_header_D005(library):
    sent = "foo=bar,userId=Am%C3%A9lie,serverNode=DF%2028," + ODD_MEMBER
    with library().extract_headers_and_make_child_span("D005", [("baggage", sent)]) as span:
        assert span.context.get_baggage_item("userId") == "Amélie"
        assert span.context.get_all_baggage_items() == {
            "foo": "bar", "userId": "Amélie", "serverNode": "DF 28", ODD_KEY: ODD_VALUE,
        }  # fmt: skip


def test_baggage_set_D006(library):
    span = library().start_span("D006")
    _set(span, {"foo": "bar", "baz": "qux", "userId": "Amélie", "serverNode": "DF 28"})
    assert [span.context.get_baggage_item(k) for k in ("foo", "baz", "userId", "serverNode")] == [
        "bar", "qux", "Amélie", "DF 28",
    ]  # fmt: skip


def test_baggage_set_disabled_D007(library):
    lib = library(NO_BAGGAGE)
    span = lib.start_span("D007")
    _set(span, {"foo": "bar", "baz": "qux"})
    assert "baggage" not in lib.inject(span)


def test_baggage_get_D008(library):
    sent = [("baggage", "userId=Am%C3%A9lie,serverNode=DF%2028")]
    with library().extract_headers_and_make_child_span("D008", sent) as span:
        _set(span, {"foo": "bar", "baz": "qux"})
        got = [span.context.get_baggage_item(k) for k in ("foo", "baz", "userId", "serverNode")]
    assert got == ["bar", "qux", "Amélie", "DF 28"]


def test_baggage_get_all_D009(library):
    with library().extract_headers_and_make_child_span("D009", [("baggage", "foo=bar")]) as span:
        _set(span, {"baz": "qux", "userId": "Amélie", "serverNode": "DF 28"})
        got = span.context.get_all_baggage_items()
    assert got == {"foo": "bar", "baz": "qux", "userId": "Amélie", "serverNode": "DF 28"}


def test_baggage_remove_D010(library):
    context = library().start_span("D010").context
    _set_context = context.set_baggage_item
    for key, value in {"baz": "qux", "userId": "Amélie", "serverNode": "DF 28"}.items():
        _set_context(key, value)
    context.remove_baggage_item("baz")
    context.remove_baggage_item("userId")
    assert context.get_all_baggage_items() == {"serverNode": "DF 28"}
    context.remove_baggage_item("serverNode")
    assert context.get_all_baggage_items() == {}


def test_baggage_remove_all_D011(library):
    context = library().start_span("D011").context
    context.set_baggage_item("foo", "bar")
    context.set_baggage_item("baz", "qux")
    context.remove_all_baggage_items()
    assert context.get_all_baggage_items() == {}


@pytest.mark.parametrize(
    "sent",
    ["no-equal-sign,foo=gets-dropped-because-previous-pair-is-malformed", "=no-key", "no-value=",
     "foo=gets-dropped-because-subsequent-pair-is-malformed,="],
    ids=["test_baggage_malformed_headers_D012", "test_baggage_malformed_headers_D013",
         "test_baggage_malformed_headers_D014", "test_baggage_malformed_headers_D015"],
)  # fmt: skip
def test_baggage_malformed_headers(library, sent):
    lib = library()
    assert "baggage" in lib.make_child_span_and_get_headers([("baggage", "foo=valid")])
    assert "baggage" not in lib.make_child_span_and_get_headers([("baggage", sent)])


def test_baggageheader_maxitems_inject_D016(library):
    lib = library()
    span = lib.start_span("D016")
    _set(span, {"key%d" % i: "value%d" % i for i in range(66)})
    assert len(lib.inject(span)["baggage"].split(",")) == 64


def test_baggageheader_maxbytes_inject_D017(library):
    lib = library()
    span = lib.start_span("D017")
    third = 8192 // 3
    _set(span, {"key1": "a" * third, "key2": "b" * third, "key3": "c" * third, "key4": "d"})
    header = lib.inject(span)["baggage"]
    assert len(header.split(",")) == 2 and len(header.encode("utf-8")) <= 8192


# (suite test, DD_TRACE_BAGGAGE_TAG_KEYS (None: unset), baggage sent, span tags expected (None: absent))
BAGGAGE_TAGS = [
    ("test_baggage_span_tags_default", None, "user.id=doggo,session.id=mysession,foo=bar",
     {"user.id": "doggo", "session.id": "mysession", "foo": None}),
    ("test_baggage_span_tags_specific_keys", "session.id,foo",
     "user.id=doggo,session.id=fakesession,account.id=123,foo=bar",
     {"user.id": None, "session.id": "fakesession", "foo": "bar", "account.id": None}),
    ("test_baggage_span_tags_all", "*",
     "user.id=bits,session.id=mysession,account.id=9871,serverNode=DF 28,region=us-east-1",
     {"user.id": "bits", "session.id": "mysession", "account.id": "9871", "serverNode": "DF 28",
      "region": "us-east-1"}),
    ("test_baggage_span_tags_malformed_header", None, "user.id=,session.id=mysession,account.id=abcd",
     {"user.id": None, "session.id": None, "account.id": None}),
    ("test_baggage_span_tags_disabled", "", "user.id=alice,session.id=xyz123,locale=en-US,account.id=12345",
     {"user.id": None, "session.id": None, "account.id": None, "locale": None}),
    ("test_baggage_span_tags_key_with_asterisk", "account.id,feature*flag",
     "user.id=doggo,account.id=testaccount,foo=bar,feature*flag=xyz",
     {"user.id": None, "account.id": "testaccount", "foo": None, "feature*flag": "xyz"}),
    ("test_baggage_span_tags_config_with_empty_keys", "account.id,,", "account.id=12345,foo=bar,test=config",
     {"account.id": "12345", "foo": None, "test": None}),
]  # fmt: skip


@pytest.mark.parametrize("keys,sent,expected", [pytest.param(*c[1:], id=c[0]) for c in BAGGAGE_TAGS])
def test_baggage_span_tags(library, keys, sent, expected):
    lib = library({} if keys is None else {"DD_TRACE_BAGGAGE_TAG_KEYS": keys})
    lib.make_child_span_and_get_headers([*DD_IDS, ("baggage", sent)])
    meta = lib.only_span()["meta"]
    assert {key: meta.get("baggage." + key) for key in expected} == expected


# -- the OpenTelemetry ot= member ----------------------------------------------------------------------------

# the suite's upstream decision: trace 18444899399302180863 kept at rate 0.1
FORWARD_TRACE_ID, FORWARD_RV, FORWARD_TH = 18444899399302180863, "ef284ace7a91e1", "e6666666666668"
UPSTREAM_TRACE = "%032x" % FORWARD_TRACE_ID
TH_BY_RATE = {0.01: "fd70a3d70a3d7", 0.1: "e6666666666668", 0.2: "ccccccccccccd", 0.5: "8", 0.99: "028f5c28f5c29"}
# six of the suite's trace ids with their rv, and whether each rate keeps them
RV_BY_TRACE = {
    1: "f0948a54d43b8e",
    10: "65cd67504a538e",
    100: "fa060922e7438e",
    18444899399302180862: "fe93c079a65653",
    18446744073709551615: "0f6b75ab2bc471",
    83: "0028d980cf4f1c",
}
KEPT_BY_RATE = {
    0.01: {18444899399302180862},
    0.1: {1, 100, 18444899399302180862},
    0.2: {1, 100, 18444899399302180862},
    0.5: {1, 100, 18444899399302180862},
    0.99: {1, 10, 100, 18444899399302180862, 18446744073709551615},
}


def _ot_env(rate):
    rule = json.dumps([{"sample_rate": rate}])
    return {"DD_TRACE_RATE_LIMIT": "10000000", "DD_TRACE_SAMPLE_RATE": str(rate), "DD_TRACE_SAMPLING_RULES": rule}


def _ot(out):
    """The ``ot=`` member of the injected tracestate as ``{sub-key: value}``."""
    member = tracestate(out).get("ot")
    return dict(item.partition(":")[::2] for item in member.split(";") if ":" in item) if member else {}


def _upstream(state, sampled=True):
    return [("traceparent", "00-%s-0000000000000001-%s" % (UPSTREAM_TRACE, "01" if sampled else "00")),
            ("tracestate", state)]  # fmt: skip


# (suite test, upstream sampled, tracestate sent, ot= sub-keys sent on, other checks)
OT_FORWARDING = [
    ("test_forwards_inbound_ot", True, "ot=rv:%s;th:%s" % (FORWARD_RV, FORWARD_TH),
     {"rv": FORWARD_RV, "th": FORWARD_TH}),
    ("test_sanitizes_malformed_inbound_ot", True, "dd=s:1,ot=rv:not-hex;th:not-hex,congo=xyz123", {}),
    ("test_forwards_th_only_inbound_ot", True, "ot=th:" + FORWARD_TH, {"th": FORWARD_TH}),
    ("test_preserves_other_tracestate_members", True,
     "dd=s:2;t.dm:-3,ot=rv:%s;th:%s,congo=t61rcWkgMzE" % (FORWARD_RV, FORWARD_TH),
     {"rv": FORWARD_RV, "th": FORWARD_TH}),
    ("test_forwards_unknown_inbound_ot_subkeys", True, "ot=rv:%s;th:%s;foo:bar" % (FORWARD_RV, FORWARD_TH),
     {"rv": FORWARD_RV, "th": FORWARD_TH, "foo": "bar"}),
    ("test_forwards_unknown_inbound_ot_subkeys", True, "ot=foo:bar", {"foo": "bar"}),
    ("test_forwards_dropped_inbound_ot", False, "dd=s:0,ot=rv:%s;th:%s" % (FORWARD_RV, FORWARD_TH),
     {"rv": FORWARD_RV, "th": FORWARD_TH}),
    ("test_dropped_th_only_does_not_fabricate_rv", False, "ot=th:" + FORWARD_TH, {"th": FORWARD_TH}),
    ("test_sampled_without_ot_does_not_fabricate_it", True, "dd=s:1", {}),
    ("test_malformed_th_preserves_rv", True, "ot=rv:1234567890abcd;th:not-hex-either", {"rv": "1234567890abcd"}),
]  # fmt: skip


@pytest.mark.parametrize("sampled,state,ot", [pytest.param(*c[1:], id=c[0]) for c in OT_FORWARDING])
def test_otel_tracestate_forwarding(library, sampled, state, ot):
    out = library(_ot_env(0.1)).make_child_span_and_get_headers(_upstream(state, sampled))
    assert _ot(out) == ot
    assert traceparent(out).flags == ("01" if sampled else "00")
    members = tracestate(out)
    assert "dd" in members
    for other in ("congo",):
        if other + "=" in state:
            assert members[other] == state.split(other + "=")[1].split(",")[0]
    if "s:2" in state:
        assert "s:2" in members["dd"].split(";")


def _manual_keep_headers(lib, headers=None):
    span = lib.start_span("name", parent=lib.extract(headers) if headers else None)
    span.set_tag("manual.keep")
    out = lib.inject(span)
    span.finish()
    return out


@pytest.mark.parametrize(
    "headers,ot",
    [(None, {}), (_upstream("ot=rv:1234567890abcd", sampled=False), {"rv": "1234567890abcd"}),
     (_upstream("ot=rv:65cd67504a538e;th:e6666666666668", sampled=False), {"rv": "65cd67504a538e"})],
    ids=["test_force_keep_does_not_add_ot", "test_force_keep_forwards_inherited_rv",
         "test_force_keep_clears_inherited_th"],
)  # fmt: skip
def test_otel_tracestate_force_keep(library, headers, ot):
    lib = library(_ot_env(0.1))
    out = _manual_keep_headers(lib, headers)
    assert traceparent(out).flags == "01" and _ot(out) == ot
    assert lib.only_span()["metrics"][SAMPLING_PRIORITY] == 2


@pytest.mark.parametrize(
    "rate", sorted(TH_BY_RATE), ids=lambda rate: "test_emits_probability_sampling_vectors-%s" % rate
)
def test_emits_probability_sampling_vectors(library, rate):
    lib = library(_ot_env(rate))
    for trace_id, rv in RV_BY_TRACE.items():
        out = lib.make_child_span_and_get_headers(
            [("x-datadog-trace-id", str(trace_id)), ("x-datadog-parent-id", str(trace_id))]
        )
        kept = trace_id in KEPT_BY_RATE[rate]
        assert _ot(out) == {"rv": rv, "th": TH_BY_RATE[rate]}, trace_id
        assert (traceparent(out).flags == "01") is kept
        assert (lib.only_span()["metrics"][SAMPLING_PRIORITY] > 0) is kept


@pytest.mark.parametrize(
    "rate,trace_id,th,rv,sampled",
    [(0.1, 0x03A93EE8B1999F00, "e6666666666668", "e6666666666668", True),
     (0.05, 5401449561355763072, "f333333333333", "f333333333332f", False)],
    ids=["test_precision_boundary_decisions-rate-0.1-kept", "test_precision_boundary_decisions-rate-0.05-dropped"],
)  # fmt: skip
def test_precision_boundary_decisions(library, rate, trace_id, th, rv, sampled):
    ids = [("x-datadog-trace-id", str(trace_id)), ("x-datadog-parent-id", str(trace_id))]
    out = library(_ot_env(rate)).make_child_span_and_get_headers(ids)
    assert _ot(out) == {"rv": rv, "th": th}
    assert (traceparent(out).flags == "01") is sampled
