"""Datadog's cross-language conformance scenarios for the Datadog, B3 and "none" styles, the order of
styles, and 128-bit trace ids, on both twins.

Transcribed from ``tests/parametric/`` of DataDog/system-tests: ``test_headers_datadog.py``,
``test_headers_b3.py``, ``test_headers_b3multi.py``, ``test_headers_none.py``,
``test_headers_precedence.py`` and ``test_128_bit_traceids.py`` (vectors and assertions as data;
cases named after the suite's test functions). See ``tests/conformance.py`` for the stand-in of the
suite's test application.

What could not be expressed through ddfast's API, across the transcribed files, is listed with
the reason in ``conformance.NOT_EXPRESSED``.
"""

import pytest
from conformance import ORIGIN
from conformance import SAMPLING_PRIORITY
from conformance import has_no_parent
from conformance import traceparent
from conformance import tracestate

DATADOG_HEADERS = [
    ("x-datadog-trace-id", "123456789"),
    ("x-datadog-parent-id", "987654321"),
    ("x-datadog-sampling-priority", "2"),
    ("x-datadog-origin", "synthetics"),
    ("x-datadog-tags", "_dd.p.dm=-4"),
]
INVALID_DATADOG_HEADERS = [("x-datadog-trace-id", "0"), ("x-datadog-parent-id", "0")] + DATADOG_HEADERS[2:]


def _child(library, env, headers):
    """The suite's ``dd_make_child_span_and_get_headers``: (headers sent on, the span the agent got)."""
    lib = library(env)
    out = lib.make_child_span_and_get_headers(headers)
    return out, lib.only_span()


# -- datadog ------------------------------------------------------------------------------------------


def test_distributed_headers_extract_datadog_D001(library):
    headers = [*DATADOG_HEADERS[:3], ("x-datadog-origin", "synthetics;=web,z"), DATADOG_HEADERS[4]]
    _, span = _child(library, {}, headers)
    assert (span["trace_id"], span["parent_id"]) == (123456789, 987654321)
    assert span["meta"].get(ORIGIN) in ("synthetics;=web,z", "synthetics;=web")
    assert span["meta"]["_dd.p.dm"] == "-4" and span["metrics"][SAMPLING_PRIORITY] == 2


def test_distributed_headers_extract_datadog_invalid_D002(library):
    _, span = _child(library, {}, INVALID_DATADOG_HEADERS)
    assert span["trace_id"] != 0 and has_no_parent(span)
    assert span["meta"].get("_dd.p.dm") != "-4" and span["metrics"].get(SAMPLING_PRIORITY) != 2


def test_distributed_headers_inject_datadog_D003(library):
    out, span = _child(library, {}, [])
    assert int(out["x-datadog-trace-id"]) == span["trace_id"]
    assert int(out["x-datadog-parent-id"]) == span["span_id"]
    assert int(out["x-datadog-sampling-priority"]) == span["metrics"][SAMPLING_PRIORITY]


def test_distributed_headers_propagate_datadog_D004(library):
    out, _ = _child(library, {}, DATADOG_HEADERS)
    assert out["x-datadog-trace-id"] == "123456789" and out["x-datadog-parent-id"] != "987654321"
    assert out["x-datadog-sampling-priority"] == "2" and out["x-datadog-origin"] == "synthetics"
    assert "_dd.p.dm=-4" in out["x-datadog-tags"]


def test_distributed_headers_extractandinject_datadog_invalid_D005(library):
    out, _ = _child(library, {}, INVALID_DATADOG_HEADERS)
    assert out["x-datadog-trace-id"] != "0" and out["x-datadog-parent-id"] != "0"
    assert out["x-datadog-sampling-priority"] != "2"
    assert "_dd.p.dm=-4" not in out.get("x-datadog-tags", "")


# -- b3 (single header) and b3multi ---------------------------------------------------------------------

B3_LEGACY = {
    "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "B3 single header",
    "DD_TRACE_PROPAGATION_STYLE_INJECT": "B3 single header",
}
B3_LEGACY_SINGLE_KEY = {"DD_TRACE_PROPAGATION_STYLE": "B3 single header"}
B3 = {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "b3", "DD_TRACE_PROPAGATION_STYLE_INJECT": "b3"}
B3_SINGLE_KEY = {"DD_TRACE_PROPAGATION_STYLE": "b3"}
B3MULTI = {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT": "b3multi"}
B3MULTI_SINGLE_KEY = {"DD_TRACE_PROPAGATION_STYLE": "b3multi"}
B3MULTI_CASES = [
    {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "B3MULTI", "DD_TRACE_PROPAGATION_STYLE_INJECT": "b3multi"},
    {"DD_TRACE_PROPAGATION_STYLE": "B3multi"},
]

B3_VALID = [("b3", "000000000000000000000000075bcd15-000000003ade68b1-1")]
B3_INVALID = [("b3", "0-0-1")]
B3MULTI_VALID = [("x-b3-traceid", "000000000000000000000000075bcd15"), ("x-b3-spanid", "000000003ade68b1"),
                 ("x-b3-sampled", "1")]  # fmt: skip
B3MULTI_INVALID = [("x-b3-traceid", "0"), ("x-b3-spanid", "0"), ("x-b3-sampled", "1")]


def _b3_fields(out, single):
    """(trace id, span id, sampled) as sent, from ``b3`` or the ``x-b3-*`` headers."""
    if single:
        trace_id, span_id, sampled = out["b3"].split("-")[:3]
        return trace_id, span_id, sampled
    return out["x-b3-traceid"], out["x-b3-spanid"], out["x-b3-sampled"]


# (suite test, env, headers sent, single header?)
B3_EXTRACT_VALID = [
    ("test_headers_b3_extract_valid", B3_LEGACY, B3_VALID),
    ("test_headers_b3_migrated_extract_valid", B3, B3_VALID),
    ("test_headers_b3multi_extract_valid", B3MULTI, B3MULTI_VALID),
]
B3_EXTRACT_INVALID = [
    ("test_headers_b3_extract_invalid", B3_LEGACY, B3_INVALID),
    ("test_headers_b3_migrated_extract_invalid", B3, B3_INVALID),
    ("test_headers_b3multi_extract_invalid", B3MULTI, B3MULTI_INVALID),
]
B3_SEND = [
    ("test_headers_b3_inject_valid", B3_LEGACY, [], True, "new"),
    ("test_headers_b3_migrated_inject_valid", B3, [], True, "new"),
    ("test_headers_b3multi_inject_valid", B3MULTI, [], False, "new"),
    ("test_headers_b3_propagate_valid", B3_LEGACY, B3_VALID, True, "same"),
    ("test_headers_b3_single_key_propagate_valid", B3_LEGACY_SINGLE_KEY, B3_VALID, True, "same"),
    ("test_headers_b3_migrated_propagate_valid", B3, B3_VALID, True, "same"),
    ("test_headers_b3_migrated_single_key_propagate_valid", B3_SINGLE_KEY, B3_VALID, True, "same"),
    ("test_headers_b3multi_propagate_valid", B3MULTI, B3MULTI_VALID, False, "same"),
    ("test_headers_b3multi_single_key_propagate_valid", B3MULTI_SINGLE_KEY, B3MULTI_VALID, False, "same"),
    ("test_headers_b3multi_case_insensitive_propagate_valid", B3MULTI_CASES[0], B3MULTI_VALID, False, "same"),
    ("test_headers_b3multi_case_insensitive_propagate_valid", B3MULTI_CASES[1], B3MULTI_VALID, False, "same"),
    ("test_headers_b3_propagate_invalid", B3_LEGACY, B3_INVALID, True, "new"),
    ("test_headers_b3_migrated_propagate_invalid", B3, B3_INVALID, True, "new"),
    ("test_headers_b3multi_propagate_invalid", B3MULTI, B3MULTI_INVALID, False, "new"),
]


@pytest.mark.parametrize("env,headers", [pytest.param(*c[1:], id=c[0]) for c in B3_EXTRACT_VALID])
def test_b3_extract_valid(library, env, headers):
    _, span = _child(library, env, headers)
    assert (span["trace_id"], span["parent_id"]) == (123456789, 987654321)
    assert span["metrics"][SAMPLING_PRIORITY] == 1 and ORIGIN not in span["meta"]


@pytest.mark.parametrize("env,headers", [pytest.param(*c[1:], id=c[0]) for c in B3_EXTRACT_INVALID])
def test_b3_extract_invalid(library, env, headers):
    _, span = _child(library, env, headers)
    assert span["trace_id"] != 0 and has_no_parent(span) and ORIGIN not in span["meta"]


@pytest.mark.parametrize("env,headers,single,trace", [pytest.param(*c[1:], id=c[0]) for c in B3_SEND])
def test_b3_inject_and_propagate(library, env, headers, single, trace):
    out, span = _child(library, env, headers)
    trace_id, span_id, sampled = _b3_fields(out, single)
    assert len(trace_id) in (16, 32) and len(span_id) == 16
    assert int(trace_id[-16:], 16) == span["trace_id"] and int(span_id, 16) == span["span_id"]
    if trace == "same":
        assert int(trace_id, 16) == 123456789 and sampled == "1"
    else:
        assert span["trace_id"] != 0 and sampled == ("1" if span["metrics"][SAMPLING_PRIORITY] > 0 else "0")
    assert ORIGIN not in span["meta"]


# -- none ---------------------------------------------------------------------------------------------

NONE = {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "none", "DD_TRACE_PROPAGATION_STYLE_INJECT": "none"}
NONE_SINGLE_KEY = {"DD_TRACE_PROPAGATION_STYLE": "none"}
NONE_AND_DATADOG = {
    "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "none,Datadog",
    "DD_TRACE_PROPAGATION_STYLE_INJECT": "none,Datadog",
}
ALL_HEADER_NAMES = ("traceparent", "tracestate", "x-datadog-trace-id", "x-datadog-parent-id",
                    "x-datadog-sampling-priority", "x-datadog-origin", "x-datadog-tags")  # fmt: skip


def _not_continued(span):
    assert span["trace_id"] != 123456789 and span.get("parent_id") != 987654321
    assert ORIGIN not in span["meta"] and span["meta"].get("_dd.p.dm") != "-4"
    assert span["metrics"].get(SAMPLING_PRIORITY) != 2


def test_headers_none_extract(library):
    _not_continued(_child(library, NONE, DATADOG_HEADERS)[1])


def test_headers_none_extract_with_other_propagators(library):
    _, span = _child(library, NONE_AND_DATADOG, DATADOG_HEADERS)
    assert (span["trace_id"], span["parent_id"]) == (123456789, 987654321)
    assert span["meta"][ORIGIN] == "synthetics" and span["meta"]["_dd.p.dm"] == "-4"
    assert span["metrics"][SAMPLING_PRIORITY] == 2


def test_headers_none_inject(library):
    out, _ = _child(library, NONE, [])
    assert not set(out) & set(ALL_HEADER_NAMES)


def test_headers_none_inject_with_other_propagators(library):
    out, span = _child(library, NONE_AND_DATADOG, [])
    assert int(out["x-datadog-trace-id"]) == span["trace_id"] and int(out["x-datadog-parent-id"]) == span["span_id"]
    assert int(out["x-datadog-sampling-priority"]) == span["metrics"][SAMPLING_PRIORITY]


@pytest.mark.parametrize(
    "env", [NONE, NONE_SINGLE_KEY], ids=["test_headers_none_propagate", "test_headers_none_single_key_propagate"]
)
def test_headers_none_propagate(library, env):
    out, span = _child(library, env, DATADOG_HEADERS)
    _not_continued(span)
    assert not set(out) & set(ALL_HEADER_NAMES)


# -- precedence of styles ------------------------------------------------------------------------------

TP = "00-12345678901234567890123456789012-1234567890123456-01"
DD_ONLY = [
    ("x-datadog-trace-id", "123456789"),
    ("x-datadog-parent-id", "987654321"),
    ("x-datadog-sampling-priority", "-2"),
]
# the suite's six requests: none, tracecontext, tracecontext + tracestate, both, datadog, bad tracecontext + datadog
PRECEDENCE_REQUESTS = [
    [],
    [("traceparent", TP)],
    [("traceparent", TP), ("tracestate", "foo=1")],
    [("traceparent", TP), ("tracestate", "foo=1"), *DD_ONLY],
    DD_ONLY,
    [("traceparent", "00-12345678901234567890123456789012-0000000000000000-01"), ("tracestate", "foo=1"), *DD_ONLY],
]


def _datadog_continued(out):
    assert out["x-datadog-trace-id"] == "123456789" and out["x-datadog-parent-id"] != "987654321"
    assert out["x-datadog-sampling-priority"] == "-2"


def _w3c_continued(out, members):
    parsed, state = traceparent(out), list(tracestate(out))
    assert parsed.trace_id == TP[3:35] and parsed.parent_id != TP[36:52]
    assert state[0] == "dd" and len(state) == members and (members == 1 or state[1] == "foo")


def _w3c_matches_datadog(out, members=1):
    """The W3C headers carry the datadog headers' trace; ``members`` in tracestate, ``dd`` first (None:
    any number, one of them ``dd``)."""
    parsed, state = traceparent(out), list(tracestate(out))
    assert int(parsed.trace_id[16:], 16) == int(out["x-datadog-trace-id"])
    assert int(parsed.parent_id, 16) == int(out["x-datadog-parent-id"])
    if members is None:
        assert "dd" in state
    else:
        assert state[0] == "dd" and len(state) == members


PRECEDENCE_ENVS = {
    "datadog": {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "Datadog", "DD_TRACE_PROPAGATION_STYLE_INJECT": "Datadog"},
    "tracecontext": {
        "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "tracecontext",
        "DD_TRACE_PROPAGATION_STYLE_INJECT": "tracecontext",
    },  # fmt: skip
    "datadog,tracecontext": {
        "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "Datadog,tracecontext",
        "DD_TRACE_PROPAGATION_STYLE_INJECT": "Datadog,tracecontext",
    },  # fmt: skip
    "tracecontext,datadog": {
        "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "tracecontext,Datadog",
        "DD_TRACE_PROPAGATION_STYLE_INJECT": "tracecontext,Datadog",
    },  # fmt: skip
    "default": {},
}


def test_headers_precedence_propagationstyle_datadog(library):
    lib = library(PRECEDENCE_ENVS["datadog"])
    outs = [lib.make_child_span_and_get_headers(request) for request in PRECEDENCE_REQUESTS]
    for out in outs[:3]:  # a new trace, in datadog headers only
        assert {"x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority"} <= set(out)
        assert "traceparent" not in out and "tracestate" not in out
    for out in outs[3:]:
        _datadog_continued(out)
        assert "traceparent" not in out and "tracestate" not in out


def test_headers_precedence_propagationstyle_tracecontext_datadog(library):
    lib = library(PRECEDENCE_ENVS["tracecontext,datadog"])
    outs = [lib.make_child_span_and_get_headers(request) for request in PRECEDENCE_REQUESTS]
    _w3c_matches_datadog(outs[0], members=None)
    for out, members in zip(outs[1:4], (1, 2, 2), strict=True):
        _w3c_continued(out, members)
        assert int(out["x-datadog-trace-id"]) == int(traceparent(out).trace_id[16:], 16)
        assert int(out["x-datadog-parent-id"]) == int(traceparent(out).parent_id, 16)
    assert outs[3]["x-datadog-sampling-priority"] != "-2"
    for out in outs[4:]:
        _datadog_continued(out)
        _w3c_matches_datadog(out)


def test_headers_precedence_propagationstyle_tracecontext(library):
    lib = library(PRECEDENCE_ENVS["tracecontext"])
    outs = [lib.make_child_span_and_get_headers(request) for request in PRECEDENCE_REQUESTS]
    for out in outs:
        assert not {"x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority"} & set(out)
        assert list(tracestate(out))[0] == "dd"
    for out, members in zip(outs[1:4], (1, 2, 2), strict=True):
        _w3c_continued(out, members)


@pytest.mark.parametrize(
    "env",
    ["datadog,tracecontext", "default"],
    ids=["test_headers_precedence_propagationstyle_datadog_tracecontext",
         "test_headers_precedence_propagationstyle_default_datadog_tracecontext"],
)  # fmt: skip
def test_headers_precedence_propagationstyle_datadog_tracecontext(library, env):
    lib = library(PRECEDENCE_ENVS[env])
    outs = [lib.make_child_span_and_get_headers(request) for request in PRECEDENCE_REQUESTS]
    _w3c_matches_datadog(outs[0], members=None)
    for out, members in zip(outs[1:3], (1, 2), strict=True):
        _w3c_continued(out, members)
        assert int(out["x-datadog-trace-id"]) == int(traceparent(out).trace_id[16:], 16)
    for out in outs[3:]:
        _datadog_continued(out)
        _w3c_matches_datadog(out)


# headers of the suite's tracestate-precedence test: (trace id suffix, tracestate, datadog trace id, parent)
TRACESTATE_REQUESTS = [
    ("1", "dd=s:2;t.tid:1111111111111111,foo=1", "1", "987654321"),
    ("2", "dd=s:1;t.tid:1111111111111111,foo=1", "2", "987654321"),
    ("3", "foo=1", "3", "987654321"),
    ("4", "dd=s:2;t.tid:1111111111111111,foo=1", "4", "3540"),
    ("5", "foo=1", "3541", "987654321"),
]
PRECEDENCE_TRACESTATE = [
    ("test_headers_precedence_propagationstyle_tracecontext_last_extract_first_false_correctly_propagates_tracestate",
     "Datadog,b3multi,tracecontext", None, False, False),
    ("test_headers_precedence_propagationstyle_tracecontext_last_extract_first_false_correctly_propagates_tracestate",
     "Datadog,b3multi,tracecontext", "false", False, False),
    ("test_headers_precedence_propagationstyle_tracecontext_last_extract_first_true_correctly_propagates_tracestate",
     "Datadog,b3multi,tracecontext", "true", False, True),
    ("test_headers_precedence_propagationstyle_tracecontext_first_extract_first_false_correctly_propagates_tracestate",
     "tracecontext,Datadog,b3multi", None, True, False),
    ("test_headers_precedence_propagationstyle_tracecontext_first_extract_first_false_correctly_propagates_tracestate",
     "tracecontext,Datadog,b3multi", "false", True, False),
    ("test_headers_precedence_propagationstyle_tracecontext_first_extract_first_true_correctly_propagates_tracestate",
     "tracecontext,Datadog,b3multi", "true", True, True),
]  # fmt: skip


@pytest.mark.parametrize(
    "styles,first,prefer_w3c,extract_first", [pytest.param(*c[1:], id=c[0]) for c in PRECEDENCE_TRACESTATE]
)
def test_headers_precedence_correctly_propagates_tracestate(library, styles, first, prefer_w3c, extract_first):
    env = {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": styles, "DD_TRACE_PROPAGATION_STYLE_INJECT": styles}
    if first is not None:
        env["DD_TRACE_PROPAGATION_EXTRACT_FIRST"] = first
    lib = library(env)
    outs = []
    for suffix, state, dd_trace_id, dd_parent in TRACESTATE_REQUESTS:
        outs.append(lib.make_child_span_and_get_headers([
            ("traceparent", "00-%s-000000003ade68b1-01" % ("1111111111111111" + suffix.rjust(16, "0"))),
            ("tracestate", state), ("x-datadog-trace-id", dd_trace_id), ("x-datadog-parent-id", dd_parent),
            ("x-datadog-sampling-priority", "2"), ("x-datadog-tags", "_dd.p.tid=1111111111111111"),
        ]))  # fmt: skip
    foo_dropped = extract_first and not prefer_w3c
    for i, out in enumerate(outs[:4]):
        parsed, state = traceparent(out), tracestate(out)
        assert parsed.trace_id == "1111111111111111000000000000000%d" % (i + 1)
        assert ("foo" not in state) if foo_dropped else state["foo"] == "1"
        if i in (1, 2):
            assert ("s:2" not in state["dd"]) if prefer_w3c else ("s:2" in state["dd"])
    parsed, state = traceparent(outs[4]), tracestate(outs[4])
    if prefer_w3c:
        assert parsed.trace_id == "11111111111111110000000000000005" and state["foo"] == "1"
    else:
        assert parsed.trace_id == "11111111111111110000000000000dd5" and "foo" not in state


# -- 128-bit trace ids -------------------------------------------------------------------------------------


def _styles(style, generation=None):
    env = {"DD_TRACE_PROPAGATION_STYLE": style}
    if generation is not None:
        env["DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED"] = generation
    return env


def _valid_tid(tid):
    assert tid is not None and len(tid) == 16 and tid != "0" * 16 and tid[8:] == "0" * 8
    assert int(tid[:8], 16) > 0x640CFD8C  # a start time after March 2023


def _check_64(header_trace_id, span):
    assert len(header_trace_id) == 16 or (len(header_trace_id) == 32 and header_trace_id[:16] == "0" * 16)
    assert int(header_trace_id, 16) == span["trace_id"] and span["meta"].get("_dd.p.tid") is None


def _check_128(header_trace_id, span):
    tid = span["meta"].get("_dd.p.tid")
    _valid_tid(tid)
    assert len(header_trace_id) == 32 and int(header_trace_id[16:], 16) == span["trace_id"]
    assert header_trace_id.startswith(tid)


DD_128 = [("x-datadog-trace-id", "1234567890123456789"), ("x-datadog-parent-id", "987654321")]


@pytest.mark.parametrize(
    "tags,tid",
    [("_dd.p.tid=640cfd8d00000000", "640cfd8d00000000"), ("_dd.p.tid=1234567890abcdef1", None),
     ("_dd.p.tid=1234567890abcde", None), ("_dd.p.tid=1234567890abcdeX", None), (None, None)],
    ids=["test_datadog_128_bit_propagation", "test_datadog_128_bit_propagation_tid_long",
         "test_datadog_128_bit_propagation_tid_short", "test_datadog_128_bit_propagation_tid_chars",
         "test_datadog_128_bit_propagation_and_generation"],
)  # fmt: skip
def test_datadog_128_bit_propagation(library, tags, tid):
    headers = DD_128 + ([("x-datadog-tags", tags)] if tags else [])
    out, span = _child(library, _styles("Datadog", "false" if tags else "true"), headers)
    assert span["trace_id"] == 1234567890123456789 == int(out["x-datadog-trace-id"])
    assert span["meta"].get("_dd.p.tid") == tid
    if tid:
        assert "_dd.p.tid=" + tid in out["x-datadog-tags"]
    else:
        assert "_dd.p.tid=" not in out.get("x-datadog-tags", "")


@pytest.mark.parametrize(
    "generation", ["false", "true", None],
    ids=["test_datadog_128_bit_generation_disabled", "test_datadog_128_bit_generation_enabled",
         "test_datadog_128_bit_generation_enabled_by_default"],
)  # fmt: skip
def test_datadog_128_bit_generation(library, generation):
    out, span = _child(library, _styles("Datadog", generation), [])
    assert span["trace_id"] < 2**64 and int(out["x-datadog-trace-id"]) == span["trace_id"]
    tid = span["meta"].get("_dd.p.tid")
    if generation == "false":
        assert tid is None and "_dd.p.tid=" not in out.get("x-datadog-tags", "")
    else:
        _valid_tid(tid)
        assert "_dd.p.tid=" + tid in out["x-datadog-tags"]


def _b3_single_trace_id(out):
    return out["b3"].split("-", 1)[0]


def _b3multi_trace_id(out):
    return out["x-b3-traceid"]


def _w3c_trace_id(out):
    return out["traceparent"].split("-", 2)[1]


# (suite test, style, generation, headers, sent trace id of, expected trace id, _dd.p.tid)
PROPAGATION_128 = [
    ("test_b3single_128_bit_propagation", "B3 single header", "false",
     [("b3", "640cfd8d00000000abcdefab12345678-000000003ade68b1-1")], _b3_single_trace_id, "640cfd8d00000000"),
    ("test_b3single_128_bit_propagation_and_generation", "B3 single header", "true",
     [("b3", "abcdefab12345678-000000003ade68b1-1")], _b3_single_trace_id, None),
    ("test_b3multi_128_bit_propagation", "b3multi", "false",
     [("x-b3-traceid", "640cfd8d00000000abcdefab12345678"), ("x-b3-spanid", "000000003ade68b1")], _b3multi_trace_id,
     "640cfd8d00000000"),
    ("test_b3multi_128_bit_propagation_and_generation", "b3multi", "true",
     [("x-b3-traceid", "abcdefab12345678"), ("x-b3-spanid", "000000003ade68b1")], _b3multi_trace_id, None),
    ("test_w3c_128_bit_propagation", "tracecontext", "false",
     [("traceparent", "00-640cfd8d00000000abcdefab12345678-000000003ade68b1-01")], _w3c_trace_id, "640cfd8d00000000"),
    ("test_w3c_128_bit_propagation_and_generation", "tracecontext", "true",
     [("traceparent", "00-0000000000000000abcdefab12345678-000000003ade68b1-01")], _w3c_trace_id, None),
]  # fmt: skip


@pytest.mark.parametrize("style,generation,headers,sent,tid", [pytest.param(*c[1:], id=c[0]) for c in PROPAGATION_128])
def test_128_bit_propagation(library, style, generation, headers, sent, tid):
    out, span = _child(library, _styles(style, generation), headers)
    assert span["trace_id"] == 0xABCDEFAB12345678 and span["meta"].get("_dd.p.tid") == tid
    if tid:
        assert sent(out).startswith(tid) and len(sent(out)) == 32 and int(sent(out)[16:], 16) == span["trace_id"]
    else:
        _check_64(sent(out), span)


# (suite test, style, generation, sent trace id of)
GENERATION_128 = [
    ("test_b3single_128_bit_generation_disabled", "B3 single header", "false", _b3_single_trace_id),
    ("test_b3single_128_bit_generation_enabled", "B3 single header", "true", _b3_single_trace_id),
    ("test_b3multi_128_bit_generation_disabled", "b3multi", "false", _b3multi_trace_id),
    ("test_b3multi_128_bit_generation_enabled", "b3multi", "true", _b3multi_trace_id),
    ("test_w3c_128_bit_generation_disabled", "tracecontext", "false", _w3c_trace_id),
    ("test_w3c_128_bit_generation_enabled", "tracecontext", "true", _w3c_trace_id),
]


@pytest.mark.parametrize("style,generation,sent", [pytest.param(*c[1:], id=c[0]) for c in GENERATION_128])
def test_128_bit_generation(library, style, generation, sent):
    out, span = _child(library, _styles(style, generation), [])
    (_check_128 if generation == "true" else _check_64)(sent(out), span)


@pytest.mark.parametrize(
    "member,error",
    [("dd=t.tid:640cfd8d00000000", None), ("dd=t.tid:640cfd8d0000ffff", "inconsistent_tid 640cfd8d0000ffff"),
     ("dd=t.tid:XXXX", "malformed_tid XXXX")],
    ids=["test_w3c_128_bit_propagation_tid_consistent", "test_w3c_128_bit_propagation_tid_inconsistent",
         "test_w3c_128_bit_propagation_tid_malformed"],
)  # fmt: skip
def test_w3c_128_bit_propagation_tid(library, member, error):
    headers = [("traceparent", "00-640cfd8d00000000abcdefab12345678-000000003ade68b1-01"), ("tracestate", member)]
    _, span = _child(library, _styles("tracecontext", "false"), headers)
    assert span["trace_id"] == 0xABCDEFAB12345678 and span["meta"]["_dd.p.tid"] == "640cfd8d00000000"
    if error is None:  # the suite asserts no error only for the consistent tid
        assert "_dd.propagation_error" not in span["meta"]


@pytest.mark.parametrize(
    "env", [_styles("tracecontext", "true"), {}],
    ids=["test_w3c_128_bit_propagation_tid_in_chunk_root", "test_w3c_128_bit_propagation_tid_in_trace_chunk"],
)  # fmt: skip
def test_w3c_128_bit_tid_in_the_trace_chunk(library, env):
    lib = library(env)
    parent = lib.start_span("parent", service="service", resource="resource")
    lib.tracer.start_span("child", child_of=parent, service="service").finish()
    parent.finish()
    spans = lib.agent_spans()
    assert len(spans) == 2
    assert spans[0]["meta"].get("_dd.p.tid") is not None  # the first span of the payload: the chunk's root
