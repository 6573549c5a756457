"""The integration API (``ddfast.contrib.integration``) on both twins: the receiving side continues the
carrier's trace, the sending side writes the active span's context into mappings and pair lists, and a
carrier that cannot be read or written never raises into the caller."""

import pytest

from ddfast.contrib.integration import Integration

TRACE = {"x-datadog-trace-id": "1234", "x-datadog-parent-id": "5678", "x-datadog-sampling-priority": "1"}


def test_consumer_continues_the_carriers_trace(traced):
    integ = Integration("kafka", tracer=traced)
    pairs = [(k, v.encode()) for k, v in TRACE.items()]  # Kafka's headers: str names, bytes values
    span = integ.start_consumer(pairs, "kafka.consume", resource="orders", span_type="worker",
                                tags={"component": "kafka", "span.kind": "consumer"})  # fmt: skip
    assert span.trace_id == 1234 and span.parent_id == 5678
    assert span.get_tag("span.kind") == "consumer"
    assert traced.current_span() is span
    integ.finish(span)
    assert traced.current_span() is None


def test_producer_injects_into_pairs_and_mappings(traced):
    integ = Integration("kafka", tracer=traced)
    with traced.trace("parent") as parent:
        span = integ.start_span("kafka.produce", tags={"span.kind": "producer"})
        pairs = [("x-datadog-trace-id", b"stale"), ("other", b"kept")]
        added = integ.inject_pairs(span, pairs)
        assert ("other", b"kept") in pairs
        values = dict(pairs)
        assert values["x-datadog-trace-id"] == str(span.trace_id & (2**64 - 1)).encode()  # its low 64 bits
        assert values["x-datadog-parent-id"] == str(span.span_id).encode()
        assert len(pairs) == len(added) + 1
        headers = {}
        integ.inject(span, headers)
        assert headers["x-datadog-parent-id"] == str(span.span_id)
        integ.finish(span)
    assert span.parent_id == parent.span_id


def test_bad_carriers_give_no_parent_and_never_raise(traced):
    integ = Integration("grpc", tracer=traced)
    for carrier in (None, 42, object(), [("x-datadog-trace-id", b"\xff\xfe")], [(1, 2)], {"x-datadog-trace-id": "nan"}):
        assert integ.extract(carrier) is None
        span = integ.start_consumer(carrier, "grpc.server")
        assert span.parent_id is None
        integ.finish(span)
    integ.inject(traced.trace("x"), object())  # a carrier that refuses writes: counted, not raised


def test_distributed_tracing_off(traced, monkeypatch):
    monkeypatch.setenv("DD_KAFKA_PROPAGATION_ENABLED", "false")
    integ = Integration("kafka", tracer=traced, propagation_setting="DD_KAFKA_PROPAGATION_ENABLED")
    assert not integ.distributed
    assert integ.extract(TRACE) is None
    pairs = []
    assert integ.inject_pairs(traced.trace("x"), pairs) == [] and pairs == []
    assert Integration("kafka", tracer=traced, distributed_tracing=True).distributed


def test_misuse_is_a_clear_error(traced):
    with pytest.raises(TypeError):
        Integration("", tracer=traced)
    integ = Integration("celery", tracer=traced)
    with pytest.raises(TypeError):
        integ.start_span("x", child_of="not a span")


MYQUEUE = """
class Message:
    def __init__(self, body, headers):
        self.body, self.headers = body, headers


class Client:
    def __init__(self):
        self.queues = {}

    def send(self, queue, body, headers=None):
        self.queues.setdefault(queue, []).append(Message(body, dict(headers or {})))

    def receive(self, queue):
        waiting = self.queues.get(queue)
        return waiting.pop(0) if waiting else None
"""


def test_the_design_docs_example_integration_links_a_queue(make_tracer, tmp_path, monkeypatch):
    """docs/design.md's "How to write an integration" example, run as written against a tiny queue."""
    import importlib
    import os
    import re

    design = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "design.md")
    text = open(design, encoding="utf-8").read()
    section = text[text.index("## How to write an integration") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "myqueue.py").write_text(MYQUEUE)
    (tmp_path / "myqueue_integration.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    integration = importlib.import_module("myqueue_integration")
    myqueue = importlib.import_module("myqueue")
    tracer = make_tracer()
    assert integration.patch(tracer=tracer)
    try:
        client = myqueue.Client()
        with tracer.trace("job"):
            client.send("orders", b"x", {"kept": "1"})
        message = client.receive("orders")
        assert message.headers["kept"] == "1" and "x-datadog-trace-id" in message.headers
    finally:
        integration.unpatch()
    spans = {s.name: s for s in tracer.writer.pop()}
    assert spans["myqueue.receive"].parent_id == spans["myqueue.send"].span_id
    assert spans["myqueue.send"].parent_id == spans["job"].span_id
    assert spans["myqueue.receive"].get_tag("span.kind") == "consumer"
