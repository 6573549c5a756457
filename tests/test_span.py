"""Span behaviour (both implementations): tags and metrics as ddtrace stores them, errors, finishing,
the context shared by the spans of a trace, links, and misuse."""

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddfast.span_link import SpanLink


def test_tags_and_metrics_follow_ddtrace_storage_rules(spanmod):
    s = spanmod.Span("op")
    s.set_tag("i", 1)
    s.set_tag("big", 2**60)
    s.set_tag("huge", 2**70)  # beyond int64: text, as ddtrace stores it
    s.set_tag("f", 1.5)
    s.set_tag("nan", float("nan"))  # dropped
    s.set_tag("inf", float("inf"))  # dropped, as by ddtrace
    s.set_tag("b", True)
    s.set_tag("none", None)
    s.set_tag("by", b"x")
    s.set_tag("s", "text")
    s.set_tag(b"bkey", "v")
    assert s.get_metrics() == {"i": 1, "big": 2**60, "f": 1.5}
    assert s.get_tags() == {"huge": str(2**70), "b": "True", "none": "None", "by": "b'x'", "s": "text", "bkey": "v"}
    # a key lives in one dict only: the last write wins
    s.set_tag("i", "now text")
    s.set_metric("s", 4)
    assert s.get_tag("i") == "now text" and s.get_metric("i") is None
    assert s.get_metric("s") == 4 and s.get_tag("s") is None
    s.set_metric("bad", "abc")
    s.set_metric("numeric_text", "2.5")
    s.set_metric("flag", True)
    assert s.get_metric("bad") is None and s.get_metric("numeric_text") == 2.5 and s.get_metric("flag") == 1
    s.set_metric("minf", float("-inf"))
    s.set_metric("huge_metric", 2**70)
    assert "minf" not in s.get_metrics() and s.get_tag("huge_metric") == str(2**70)
    s.remove_tag("b")
    s.remove_metric("f")
    assert s.get_tag("b") is None and s.get_metric("f") is None


def test_special_tags(spanmod):
    s = spanmod.Span("op", service="a")
    s.set_tag("service.name", "b")
    s.set_tag("service.version", "1.2")
    s.set_tag("_dd.measured")
    s.set_tag("http.status_code", 200)
    s.set_tag("network.destination.port", "8080")
    assert s.service == "b" and s.get_tag("version") == "1.2" and s.get_metric("_dd.measured") == 1
    assert s.get_tag("http.status_code") == "200" and s.get_metric("network.destination.port") == 8080


SPECIAL_KEYS = [
    "manual.keep",
    "manual.drop",
    "auto.keep",
    "auto.drop",
    "service.name",
    "service.version",
    "_dd.measured",
    "http.status_code",
    "network.destination.port",
    "language",
    "runtime-id",
    "process_id",
    "_sampling_priority_v1",
    "_dd.top_level",
    "version",
    "env",
]
TAG_VALUES = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["8080", "200", "1.5", "abc", ""]),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=4),
)


@given(
    tags=st.lists(st.tuples(st.one_of(st.sampled_from(SPECIAL_KEYS), st.text(max_size=16)), TAG_VALUES), max_size=12)
)
def test_twins_store_every_tag_alike(twins, tags):
    """set_tag of any key (special ones, their lengths, any other) and any value type: the compiled span
    ends up as the pure one, tags, metrics, service and decision."""
    compiled, pure = twins("span")
    spans = [mod.Span("op", service="svc") for mod in (compiled, pure)]
    for key, value in tags:
        for span in spans:
            span.set_tag(key, value)
    ours, theirs = spans
    assert ours.get_tags() == theirs.get_tags()
    assert repr(ours.get_metrics()) == repr(theirs.get_metrics())  # NaN-safe, and int stays int
    assert ours.service == theirs.service
    assert ours.context.sampling_priority == theirs.context.sampling_priority


def test_port_tag_of_an_infinite_or_nan_float_is_dropped_not_raised(spanmod):
    # int(inf) raises OverflowError, int(nan) ValueError: neither reaches the caller, and neither is stored
    s = spanmod.Span("op")
    s.set_tag("network.destination.port", float("inf"))
    s.set_tag("network.destination.port", float("nan"))
    assert s.get_metric("network.destination.port") is None and s.get_tag("network.destination.port") is None
    s.set_tag("network.destination.port", 443.0)
    assert s.get_metric("network.destination.port") == 443


def test_resource_defaults_to_name(spanmod):
    s = spanmod.Span("op")
    assert s.resource == "op"
    s.resource = "GET /"
    assert s.resource == "GET /"


def test_set_exc_info_records_the_error(spanmod):
    s = spanmod.Span("op")
    try:
        raise ValueError("boom")
    except ValueError:
        s.set_exc_info(*sys.exc_info())
    assert s.error == 1
    assert s.get_tag("error.type") == "builtins.ValueError"
    assert s.get_tag("error.message") == "boom"
    assert "ValueError: boom" in s.get_tag("error.stack")
    clean = spanmod.Span("op")
    clean.set_exc_info(None, None, None)
    try:
        raise SystemExit(0)
    except SystemExit:
        clean.set_exc_info(*sys.exc_info())
    assert clean.error == 0 and clean.get_tags() == {}


def test_context_manager_marks_errors_and_finishes(spanmod):
    s = spanmod.Span("op")
    with pytest.raises(KeyError):
        with s:
            raise KeyError("k")
    assert s.finished and s.error == 1 and s.get_tag("error.type") == "builtins.KeyError"


def test_finish_once_with_duration(spanmod):
    calls = []
    s = spanmod.Span("op", start=100.0, on_finish=[calls.append])
    assert s.start_ns == 100_000_000_000 and s.duration is None and not s.finished
    s.finish(finish_time=101.5)
    s.finish(finish_time=200.0)
    assert s.duration_ns == 1_500_000_000 and s.duration == 1.5
    assert calls == [s]


def test_new_span_ids(spanmod):
    s = spanmod.Span("op")
    assert 0 < s.span_id < 2**64 and s.trace_id >= 2**64  # 128-bit by default
    assert s.parent_id is None
    assert s.context.trace_id == s.trace_id and s.context.span_id == s.span_id
    assert s.context.is_remote is False
    assert s._trace_id_64bits == s.trace_id & (2**64 - 1)


def test_spans_of_a_trace_share_its_state(spanmod):
    root = spanmod.start_span("root", "svc", None, None, None, None, None)
    child = spanmod.start_span("child", None, None, None, root, None, None)
    assert child.service == "svc" and child.trace_id == root.trace_id and child.parent_id == root.span_id
    assert child._local_root is root
    ctx = child.context
    assert ctx.span_id == child.span_id and ctx.sampling_priority is None
    root.context.sampling_priority = 2
    root.context.dd_origin = "synthetics"
    assert ctx.sampling_priority == 2 and ctx.dd_origin == "synthetics"
    ctx.sampling_priority = -1  # written through to the trace
    assert root.context.sampling_priority == -1
    ctx.set_baggage_item("k", "v")
    assert root.context.get_baggage_item("k") == "v"
    ctx.meta["_dd.p.x"] = "y"
    assert root.context.meta["_dd.p.x"] == "y"


def test_root_continues_a_remote_context_without_sharing_its_dicts(spanmod):
    Context = spanmod.Context
    remote = Context(
        trace_id=5, span_id=6, sampling_priority=1, dd_origin="rum", meta={"_dd.p.dm": "-1"}, baggage={"a": "b"}
    )
    root = spanmod.start_span("root", None, None, None, None, remote, None)
    assert (root.trace_id, root.parent_id) == (5, 6)
    assert root.context.sampling_priority == 1 and root.context.dd_origin == "rum"
    assert root.context.meta == {"_dd.p.dm": "-1", "_dd.origin": "rum"} and root.context.baggage == {"a": "b"}
    root.context.meta["_dd.p.new"] = "1"
    assert "_dd.p.new" not in remote.meta


def test_trace_buffer_hands_over_finished_trace(spanmod):
    got = []
    root = spanmod.start_span("root", None, None, None, None, None, got.append)
    a = spanmod.start_span("a", None, None, None, root, None, None)
    b = spanmod.start_span("b", None, None, None, a, None, None)
    b.finish()
    root.finish()
    assert got == []  # "a" is still open
    a.finish()
    assert got == [[root, a, b]]


def test_only_spans_with_a_sink_are_collected(spanmod):
    # a span made without a sink (Span(), or start_span with none) is not counted nor kept by its trace
    got = []
    s = spanmod.Span("op")
    child = spanmod.start_span("child", None, None, None, s, None, None)
    child.finish()
    s.finish()
    assert s.finished and child.finished and got == []
    root = spanmod.start_span("root", None, None, None, None, None, got.append)
    root.finish()
    late = spanmod.start_span("late", None, None, None, root, None, None)  # after the hand-over
    late.finish()
    assert got == [[root], [late]]


def test_a_subclass_finish_is_what_the_with_statement_calls(spanmod):
    class Timed(spanmod.Span):
        def finish(self, finish_time=None):
            super().finish(finish_time=42.0)

    with Timed("op", start=40.0) as s:
        pass
    assert s.duration_ns == 2_000_000_000


def test_duration_ns_is_none_until_finished_and_settable(spanmod):
    s = spanmod.Span("op", start=10.0)
    assert s.duration_ns is None and s.duration is None and not s.finished
    s.duration_ns = 2_000
    assert s.duration_ns == 2_000 and s.duration == 2e-6 and s.finished
    s.duration_ns = None
    assert s.duration_ns is None and not s.finished
    s.finish(finish_time=10.5)
    assert s.duration_ns == 500_000_000


def test_manual_keep_and_drop(spanmod):
    root = spanmod.start_span("root", None, None, None, None, None, None)
    child = spanmod.start_span("child", None, None, None, root, None, None)
    root.set_metric("_dd.rule_psr", 0.5)
    child.set_tag("manual.drop")
    assert root.context.sampling_priority == -1 and root.context.meta["_dd.p.dm"] == "-4"
    assert root.get_metric("_dd.rule_psr") is None
    child.set_tag("manual.keep")
    assert root.context.sampling_priority == 2
    assert child.get_tag("manual.keep") is None  # a decision, not a tag


def test_links(spanmod):
    s = spanmod.Span("op")
    s.set_link(trace_id=1, span_id=2, attributes={"k": "v"})
    s.link_span(spanmod.Context(trace_id=3, span_id=4))
    assert [(link.trace_id, link.span_id) for link in s._span_links] == [(1, 2), (3, 4)]
    s.set_link(trace_id=5, span_id=2)  # a link to the same span id replaces the old one, in place
    assert [(link.trace_id, link.span_id) for link in s._span_links] == [(5, 2), (3, 4)]
    with pytest.raises(ValueError):
        s.link_span(spanmod.Context())
    with pytest.raises(ValueError):
        s.set_link(trace_id=0, span_id=1)
    linked = spanmod.Span("op", links=[SpanLink(7, 8)])
    assert linked._span_links == [SpanLink(7, 8)]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"name": 3}, TypeError),
        ({"name": "op", "service": 3}, TypeError),
        ({"name": "op", "resource": b"r"}, TypeError),
        ({"name": "op", "span_id": -1}, ValueError),
        ({"name": "op", "span_id": "1"}, ValueError),
        ({"name": "op", "trace_id": 2**128}, ValueError),
        ({"name": "op", "parent_id": 2**64}, ValueError),
        ({"name": "op", "context": {"trace_id": 1}}, TypeError),
        ({"name": "op", "links": [object()]}, TypeError),
    ],
)
def test_misuse_raises_clear_errors(spanmod, kwargs, error):
    with pytest.raises(error):
        spanmod.Span(**kwargs)
    with pytest.raises(TypeError):
        spanmod.Span("op").set_tag(3, "x")


def _deep_error(depth, name_length):
    """An exception raised ``depth`` frames down a chain of functions whose names are ``name_length``
    long (each a different function: tracebacks fold repeated frames)."""
    namespace = {}
    names = ["f%03d_%s" % (i, "x" * (name_length - 5)) for i in range(depth + 1)]
    for i, name in enumerate(names):
        body = "raise ValueError('deep')" if i == depth else "return %s()" % names[i + 1]
        exec("def %s():\n    %s\n" % (name, body), namespace)
    try:
        namespace[names[0]]()
    except ValueError:
        return sys.exc_info()


@pytest.mark.parametrize("limit", [15, 11, 9, 7])
def test_long_tracebacks_are_halved_by_floor_division_as_ddtrace_does(spanmod, limit):
    # 2,500-character frames: more than 9 of them do not fit in a tag value (25,000), so 15 and 11
    # frames are halved with Python's floor division, as ddtrace does (-15 // 2 = -8 frames, -11 // 2
    # = -6), not C's truncation (7 and 5); 9 and 7 fit as they are
    exc_type, exc_val, exc_tb = _deep_error(40, 2500)
    s = spanmod.Span("op")
    s.set_exc_info(exc_type, exc_val, exc_tb, limit=limit)
    stack = s.get_tag("error.stack")
    assert stack.count("_xxxxx") == {15: 8, 11: 6, 9: 9, 7: 7}[limit]
    assert stack.endswith("ValueError: deep\n")
