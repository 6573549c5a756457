"""The carriers' span primitive, on both twins: ``MessageSpans`` (``Integration.message_spans``) starts a
message's span under the right parent with its constant and per-message tags in one call, writes the
context as pairs, reads a message's carrier without ever raising, and refuses templates that would
bypass a tag's effect."""

import pytest

from ddfast.contrib.integration import Integration

HEADERS = [
    ("x-datadog-trace-id", b"5208471231060165668"),
    ("x-datadog-parent-id", b"1311768467294899695"),
    ("x-datadog-sampling-priority", b"2"),
]
KEYS = ("messaging.destination.name", "messaging.kafka.partition", "kafka.tombstone", "kafka.key")


@pytest.fixture
def spans_of(make_tracer):
    """``spans_of(**kw) -> (tracer, MessageSpans)`` for a fresh tracer of the twin under test."""

    def make(tags=None, keys=KEYS, as_bytes=True, distributed=True, service=None, name="queue.send"):
        tracer = make_tracer()
        integ = Integration("queue", tracer=tracer, distributed_tracing=distributed)
        return tracer, integ.message_spans(name, "worker", tags, keys, service, as_bytes)

    return make


def test_start_tags_from_the_template_and_the_values(spans_of, spanmod):
    tracer, spans = spans_of(tags={"component": "queue", "span.kind": "producer", "_dd.measured": 1})
    assert type(spans) is spanmod.MessageSpans
    assert spans.tags == {"component": "queue", "span.kind": "producer", "_dd.measured": 1}
    span = spans.start(("orders", 3, False, None))
    assert tracer.context_provider.active() is span  # activated by default
    span.finish()
    (done,) = tracer.writer.pop()
    assert (done.name, done.span_type, done.resource) == ("queue.send", "worker", "queue.send")
    assert done.get_tag("component") == "queue" and done.get_tag("span.kind") == "producer"
    assert done.get_metric("_dd.measured") == 1
    assert done.get_tag("messaging.destination.name") == "orders"
    assert done.get_metric("messaging.kafka.partition") == 3  # a number is a metric, as set_tag stores it
    assert done.get_tag("kafka.tombstone") == "False"  # a bool is text, as set_tag stores it
    assert done.get_tag("kafka.key") is None  # None: not tagged


@pytest.mark.parametrize("number", [0, -1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, 1.5])
def test_per_message_numbers_are_stored_as_set_tag_stores_them(spans_of, number):
    # ints of 64 signed bits and floats are metrics, larger ints text, as Span.set_tag (ddtrace's rule)
    tracer, spans = spans_of()
    spans.start(("orders", number), activate=False).finish()
    (done,) = tracer.writer.pop()
    expected = tracer.start_span("x")
    expected.set_tag("messaging.kafka.partition", number)
    assert done.get_metric("messaging.kafka.partition") == expected.get_metric("messaging.kafka.partition")
    assert done.get_tag("messaging.kafka.partition") == expected.get_tag("messaging.kafka.partition")
    assert (done.get_metric("messaging.kafka.partition") is None) == (not -(2**63) <= number < 2**63)


def test_start_is_a_child_of_the_active_span_or_of_the_given_parent(spans_of):
    tracer, spans = spans_of()
    with tracer.trace("request") as request:
        child = spans.start(None, None, False)
        child.finish()
        assert tracer.context_provider.active() is request  # not activated
    assert (child.trace_id, child.parent_id) == (request.trace_id, request.span_id)
    other = tracer.start_span("other")
    given = spans.start(("x",), other, False, "custom resource", "another-service")
    assert (given.parent_id, given.resource, given.service) == (other.span_id, "custom resource", "another-service")
    given.finish()
    other.finish()


def test_start_under_a_finished_active_span_takes_its_open_ancestor(spans_of):
    tracer, spans = spans_of()
    with tracer.trace("request") as request:
        inner = tracer.trace("inner")
        inner.finish()  # still the ContextVar's value
        span = spans.start(None, None, False)
        span.finish()
    assert span.parent_id == request.span_id


def test_consume_continues_the_carriers_trace(spans_of):
    tracer, spans = spans_of(name="queue.receive")
    span = spans.consume(HEADERS, ("orders",), start_ns=1_000_000_000)
    assert tracer.context_provider.active() is not span  # a consumer's span is not activated by default
    span.finish()
    assert (span.trace_id & (2**64 - 1), span.parent_id) == (5208471231060165668, 1311768467294899695)
    assert span.start_ns == 1_000_000_000
    assert span.context.sampling_priority == 2
    assert span.get_tag("messaging.destination.name") == "orders"


RICH_HEADERS = [  # every part of a context consume takes over: priority, origin, propagated tags, W3C, baggage
    ("x-datadog-trace-id", b"5208471231060165668"),
    ("x-datadog-parent-id", b"1311768467294899695"),
    ("x-datadog-sampling-priority", b"1"),
    ("x-datadog-origin", b"rum"),
    ("x-datadog-tags", b"_dd.p.dm=-4,_dd.p.tid=6b06331600000000,_dd.p.usr.id=YmF6"),
    ("traceparent", b"00-6b06331600000000484834fd2e2ec424-1234567890abcdef-01"),
    ("tracestate", b"dd=s:1;p:1234567890abcdef;o:rum;t.dm:-4,other=x"),
    ("baggage", b"user.id=7,region=eu"),
]
CONFLICTING = [  # Datadog and W3C headers of two traces: the W3C one becomes a span link
    ("x-datadog-trace-id", b"1234"),
    ("x-datadog-parent-id", b"5678"),
    ("traceparent", b"00-000000000000000000000000000004d3-000000000000162e-01"),
]


def _as_seen(span):
    """What a consumer span carries of its parent: ids, decision, origin, trace tags, baggage, the span's
    links, and its context's own links, metrics and remoteness (a local trace's: none, none, False)."""
    ctx = span.context
    links = [(link.trace_id, link.span_id, link.attributes) for link in span._links or ()]
    return (
        span.trace_id, span.parent_id, ctx.sampling_priority, ctx.dd_origin, dict(ctx._meta),
        ctx.get_all_baggage_items(), links, list(ctx._span_links), dict(ctx._metrics), ctx._is_remote,
    )  # fmt: skip


@pytest.mark.parametrize("carrier", [HEADERS, RICH_HEADERS, CONFLICTING], ids=["datadog", "rich", "conflicting"])
def test_consume_takes_over_the_extracted_context_as_a_child_would(spans_of, carrier):
    # consume makes the extracted context (its own) the trace's state rather than copying it: the span
    # is the one ``start(child_of=extract(carrier))`` makes from a context the caller keeps
    tracer, spans = spans_of(name="queue.receive")
    kept = spans.extract(carrier)
    copied = spans.start(("orders",), child_of=kept, activate=False)
    adopted = spans.consume(carrier, ("orders",))
    assert kept.span_id == 1311768467294899695 or carrier is CONFLICTING  # the caller's context unchanged
    assert kept._is_remote and kept._shared is None
    first, second = _as_seen(copied), _as_seen(adopted)
    assert first == second
    assert adopted._trace_ctx.span_id == adopted.span_id
    copied.finish()
    adopted.finish()
    one, two = tracer.writer.pop()
    for key in ("_dd.p.dm", "_dd.p.tid", "_dd.origin", "_dd.p.usr.id", "_dd.parent_id", "baggage.user.id"):
        assert one.get_tag(key) == two.get_tag(key)
    assert one.get_metric("_sampling_priority_v1") == two.get_metric("_sampling_priority_v1")


@pytest.mark.parametrize(
    "carrier",
    [
        None,
        [],
        [("x-datadog-trace-id", b"not a number"), ("x-datadog-parent-id", b"1")],
        [("x-datadog-trace-id", object())],
        [("x-datadog-trace-id",)],  # a pair cut short
        42,  # not a carrier
        {"x-datadog-trace-id": b"\xff\xfe"},
    ],
)
def test_consume_of_a_bad_carrier_starts_a_new_trace_and_never_raises(spans_of, carrier):
    tracer, spans = spans_of(name="queue.receive")
    with tracer.trace("poll loop") as loop:
        span = spans.consume(carrier)
        span.finish()
    assert span.trace_id == loop.trace_id and span.parent_id == loop.span_id  # the active span's, as without one
    assert spans.extract(carrier) is None


def test_a_carrier_of_another_type_is_counted(spans_of):
    from ddfast.propagation import ERRORS

    _, spans = spans_of()
    before = ERRORS.get("carrier_type", 0)
    assert spans.extract(42) is None
    assert ERRORS.get("carrier_type", 0) == before + 1


def test_not_distributed_neither_reads_nor_writes(spans_of):
    tracer, spans = spans_of(distributed=False)
    assert spans.distributed is False
    span = spans.consume(HEADERS)
    assert span.parent_id is None and span.trace_id & (2**64 - 1) != 5208471231060165668
    assert spans.context_pairs(span) == []
    span.finish()


@pytest.mark.parametrize("as_bytes", [True, False])
def test_context_pairs_round_trip(spans_of, as_bytes, prop):
    tracer, spans = spans_of(as_bytes=as_bytes)
    with tracer.trace("request") as request:
        span = spans.start()
        pairs = spans.context_pairs(span)
        span.finish()
    assert all(type(name) is str and type(value) is (bytes if as_bytes else str) for name, value in pairs)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names))
    assert {"x-datadog-trace-id", "x-datadog-parent-id", "traceparent"} <= set(names)
    # what a consumer reads back is this span, in the same trace as the request
    _, receiving = spans_of(name="queue.receive")
    context = receiving.extract(pairs)
    assert (context.trace_id, context.span_id) == (request.trace_id, span.span_id)


@pytest.mark.parametrize("as_bytes", [True, False])
def test_context_pairs_decide_an_undecided_trace_and_are_what_inject_writes(spans_of, as_bytes, prop):
    tracer, spans = spans_of(as_bytes=as_bytes)
    root = spans.start(("orders",), None, False)  # a new trace, undecided until its context is sent
    assert root.context.sampling_priority is None
    pairs = spans.context_pairs(root)
    assert root.context.sampling_priority == 1  # decided by the tracer's sampler, as ddtrace does
    child = spans.start(None, root, False)  # a child's context is made when it is first read
    child_pairs = spans.context_pairs(child)
    for span, written in ((root, pairs), (child, child_pairs)):
        headers = {}
        prop.http_inject(span, headers)
        assert written == [(k, v.encode() if as_bytes else v) for k, v in headers.items()]
        assert dict(written)["x-datadog-sampling-priority"] == (b"1" if as_bytes else "1")
    child.finish()
    root.finish()


def test_context_pairs_of_a_trace_no_tracer_holds_ask_the_process_hook(spans_of, prop, spanmod):
    from ddfast.tracer import _sample_before_inject  # the hook every ddfast tracer installs

    _, spans = spans_of()
    lone = spanmod.Span("lone")  # made directly: its trace is no tracer's
    asked = []
    prop.set_before_inject(lambda obj, context: asked.append((obj, context.sampling_priority)))
    try:
        pairs = spans.context_pairs(lone)
    finally:
        prop.set_before_inject(_sample_before_inject)
    assert asked == [(lone, None)]
    assert dict(pairs)["x-datadog-parent-id"] == str(lone.span_id).encode()


def test_the_template_is_copied_not_shared(spans_of):
    tracer, spans = spans_of(tags={"component": "queue", "span.kind": "producer"})
    first = spans.start(("orders",), None, False)
    first.set_tag("component", "changed")
    first.set_tag("extra", "x")
    second = spans.start(("invoices",), None, False)
    assert spans.tags == {"component": "queue", "span.kind": "producer"}
    assert second.get_tag("component") == "queue" and second.get_tag("extra") is None
    assert second.get_tag("messaging.destination.name") == "invoices"
    tracer._state.env = "prod"  # a span that has tags before the template's: the template goes over them
    third = spans.start(("refunds",), None, False)
    assert (third.get_tag("env"), third.get_tag("component"), third.get_tag("messaging.destination.name")) == (
        "prod",
        "queue",
        "refunds",
    )
    for span in (first, second, third):
        span.finish()


def test_finish_records_the_exception(spans_of):
    tracer, spans = spans_of()
    span = spans.start()
    try:
        raise RuntimeError("broker gone")
    except RuntimeError as exc:
        spans.finish(span, exc)
    (done,) = tracer.writer.pop()
    assert done.error == 1 and done.get_tag("error.type") == "builtins.RuntimeError"
    assert done.get_tag("error.message") == "broker gone"


@pytest.mark.parametrize(
    "tags, keys, error",
    [
        ({"manual.keep": "true"}, (), ValueError),  # a tag with an effect: set it on the span
        ({"service.name": "x"}, (), ValueError),
        ({"language": "python"}, (), ValueError),  # derived by the tracer
        ({}, ("_dd.top_level",), ValueError),
        ({"component": "q"}, ("component",), ValueError),  # both constant and per message
        ({}, ("a", "a"), ValueError),
        ({"component": ["q"]}, (), TypeError),  # a template holds text and numbers only
        ({1: "q"}, (), TypeError),
        ({}, (1,), TypeError),
    ],
)
def test_templates_that_would_bypass_a_tags_effect_are_refused(spans_of, tags, keys, error):
    with pytest.raises(error):
        spans_of(tags=tags, keys=keys)


def test_misuse_of_start_raises_clear_errors(spans_of, spanmod):
    tracer, spans = spans_of()
    with pytest.raises(TypeError):
        spans.start(["not", "a", "tuple"])
    with pytest.raises(ValueError):
        spans.start(("one", "too", "many", "values", "here"))
    with pytest.raises(TypeError):
        spans.start(None, "not a span")
    with pytest.raises(TypeError):
        spanmod.MessageSpans(object(), "name")
    with pytest.raises(TypeError):
        spanmod.MessageSpans(tracer.http, "")
