"""Kafka, per message: what tracing adds to one produce and one consume, ddfast compiled vs pure vs
ddtrace 4.16's integration, measured in one run, with no broker I/O (each integration wraps a stub of
the library's method, as the library's own call would be wrapped).

- ``kafka produce:`` confluent-kafka's ``Producer.produce``: the ``kafka.produce`` span started, tagged,
  its context injected into the message's headers (Datadog and W3C styles), finished and its trace
  handed to a writer that drops it.
- ``kafka consume:`` ``Consumer.poll`` returning a message whose headers carry a context: the context
  extracted, the ``kafka.consume`` span started under it, tagged and finished.
- ``aiokafka send`` / ``aiokafka getone``: the same for aiokafka (the coroutine driven to its end without
  an event loop: the stubs never wait).

ddtrace's integration runs with ``DD_KAFKA_PROPAGATION_ENABLED`` on (it injects and extracts only then)
and its cluster id already known (as after a producer's first message), as ddfast's is.
"""

import types

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin

HEADERS = [
    ("x-datadog-trace-id", b"5208471231060165668"),
    ("x-datadog-parent-id", b"1311768467294899695"),
    ("x-datadog-sampling-priority", b"1"),
    ("x-datadog-tags", b"_dd.p.dm=-1,_dd.p.tid=6b06331600000000"),
    ("traceparent", b"00-6b06331600000000484834fd2e2ec424-1234567890abcdef-01"),
    ("tracestate", b"dd=s:1;p:1234567890abcdef;t.dm:-1;t.tid:6b06331600000000"),
]
SERVERS = "127.0.0.1:9092"


def _ddtrace_tracer():
    from ddtrace.trace import tracer

    tracer._span_aggregator.writer = NullWriter()
    return tracer


def _ddfast_tracer(kind):
    from ddfast.tracer import Tracer

    core = (twin("span", kind), twin("sampling", kind), twin("propagation", kind))
    return Tracer(writer=NullWriter(), sampler=core[1].DatadogSampler(rules=[]), _core=core)


def _no_op(*args, **kwargs):
    return None


def _run_coroutine(coroutine):
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine waited")


class _Delivered:
    """What ``AIOKafkaProducer.send`` returns, already delivered."""

    metadata = types.SimpleNamespace(partition=0, offset=42)

    def add_done_callback(self, callback):
        callback(self)

    def cancelled(self):
        return False

    def exception(self):
        return None

    def result(self):
        return self.metadata


def _confluent(impl):
    """``(produce(), poll())``: one traced call each, the library's own method a stub."""
    ck = pytest.importorskip("confluent_kafka")
    message = ck.Message(topic="orders", partition=0, offset=42, key=b"k1", value=b"payload", headers=HEADERS)
    if impl == "ddtrace":
        from ddtrace import config
        from ddtrace.contrib.internal.kafka import patch as theirs

        _ddtrace_tracer()
        config.kafka.distributed_tracing_enabled = True
        producer = types.SimpleNamespace(_dd_bootstrap_servers=SERVERS, _dd_cluster_id="cluster")
        consumer = types.SimpleNamespace(_dd_bootstrap_servers=SERVERS, _dd_cluster_id="cluster", _group_id="g")

        def produce():
            return theirs.traced_produce(_no_op, producer, ("orders", b"payload"), {"key": b"k1", "partition": 0})

        def poll():
            return theirs.traced_poll_or_consume(lambda *a, **k: message, consumer, (1.0,), {})

        return produce, poll
    from ddfast.contrib import kafka as ours

    make_produce, make_poll, _ = ours.traced_methods(ck.Message, tracer=_ddfast_tracer(impl))
    traced_produce, traced_poll = make_produce(_no_op, False), make_poll(lambda *a, **k: message)
    producer = types.SimpleNamespace(_dd_bootstrap_servers=SERVERS, _dd_max_bytes=1000000, _dd_cluster_id="cluster")
    consumer = types.SimpleNamespace(_dd_bootstrap_servers=SERVERS, _dd_group_id="g", _dd_cluster_id="cluster")

    def produce():
        return traced_produce(producer, "orders", b"payload", key=b"k1", partition=0)

    def poll():
        return traced_poll(consumer, 1.0)

    return produce, poll


def _aiokafka(impl):
    """``(send(), getone())``: one traced call each, the library's own coroutine a stub."""
    pytest.importorskip("aiokafka")
    from aiokafka.structs import ConsumerRecord

    record = ConsumerRecord("orders", 0, 42, 0, 0, b"k1", b"payload", None, 2, 7, tuple(HEADERS))
    client = types.SimpleNamespace(_bootstrap_servers=SERVERS, _dd_cluster_id="cluster")

    async def send(*args, **kwargs):
        return _Delivered()

    async def getone(*args, **kwargs):
        return record

    producer = types.SimpleNamespace(client=client, _max_request_size=1048576)
    consumer = types.SimpleNamespace(_client=client, _group_id="g")
    if impl == "ddtrace":
        from ddtrace import config
        from ddtrace.contrib.internal.aiokafka import patch as theirs

        _ddtrace_tracer()
        config.aiokafka.distributed_tracing_enabled = True
        return (
            lambda: _run_coroutine(theirs.traced_send(send, producer, ("orders", b"payload", b"k1", 0), {})),
            lambda: _run_coroutine(theirs.traced_getone(getone, consumer, (), {})),
        )
    from ddfast.contrib import aiokafka as ours

    make_send, make_getone, _ = ours.traced_methods(tracer=_ddfast_tracer(impl))
    traced_send, traced_getone = make_send(lambda self, *a, **k: send()), make_getone(lambda self: getone())
    return (
        lambda: _run_coroutine(traced_send(producer, "orders", b"payload", b"k1", 0)),
        lambda: _run_coroutine(traced_getone(consumer)),
    )


@pytest.mark.benchmark(group="kafka produce: inject per message (confluent-kafka)")
def test_kafka_produce(benchmark, impl):
    produce, _ = _confluent(impl)
    benchmark(produce)


@pytest.mark.benchmark(group="kafka consume: extract + span per message (confluent-kafka)")
def test_kafka_consume(benchmark, impl):
    _, poll = _confluent(impl)
    assert poll() is not None
    benchmark(poll)


@pytest.mark.benchmark(group="aiokafka send: inject per message")
def test_aiokafka_send(benchmark, impl):
    send, _ = _aiokafka(impl)
    benchmark(send)


@pytest.mark.benchmark(group="aiokafka getone: extract + span per message")
def test_aiokafka_getone(benchmark, impl):
    _, getone = _aiokafka(impl)
    benchmark(getone)


def _core_parts(impl):
    """``(produce, consume)``: the compiled core's part of one message alone, as the integration calls
    it (``MessageSpans``: the span started and tagged, its context written as pairs, finished; the
    context read from a message's headers, the span started under it and finished)."""
    if impl == "ddtrace":
        pytest.skip("ddtrace has no such part to measure apart")
    from ddfast.contrib import kafka as ours

    integ, names = ours.make_integration("kafka", _ddfast_tracer(impl), None, None)
    producing, consuming = ours.message_spans(integ, names)
    start, context_pairs, consume = producing.start, producing.context_pairs, consuming.consume
    produced = ("orders", "orders", "k1", 0, "False", SERVERS)
    consumed = ("True", "g", "cluster", "orders", "orders", "k1", 0, "False", 42)

    def produce():
        span = start(produced, None, False)
        context_pairs(span)
        span.finish()

    def consume_one():
        consume(HEADERS, consumed).finish()

    return produce, consume_one


@pytest.mark.benchmark(group="kafka, the compiled core's part: produce (span + tags + context pairs)")
def test_core_produce(benchmark, impl):
    produce, _ = _core_parts(impl)
    benchmark(produce)


@pytest.mark.benchmark(group="kafka, the compiled core's part: consume (extract + span + tags)")
def test_core_consume(benchmark, impl):
    _, consume = _core_parts(impl)
    benchmark(consume)
