"""Kafka, against a real broker (librdkafka's mock cluster, started by the tests in a process of its own,
on a loopback port): confluent-kafka (``ddfast.patch(kafka=True)``) and aiokafka
(``ddfast.patch(aiokafka=True)``) on both twins.

- a producer writes its span's context into the message's headers as ddtrace 4.16 does, and a consumer
  continues it (``kafka.consume`` child of ``kafka.produce``); a batch links every message's context;
- interop with ddtrace 4.16 both ways (ddtrace in a subprocess: ``kafka_driver.py``), and with the
  headers the Java tracer writes (with its binary ``x_datadog_kafka_produced`` and DSM headers);
- span names, types and tags as ddtrace's for the same calls;
- hostile headers (not UTF-8, truncated, oversized, repeated) give no parent and never raise; the caller's
  headers are never changed in place; a message near ``message.max.bytes`` is sent without our headers.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from conftest import load_twin

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "kafka_driver.py")
TRACE = [("x-datadog-trace-id", b"1234"), ("x-datadog-parent-id", b"5678"), ("x-datadog-sampling-priority", b"1")]


def _component(module):
    """The library ``module``, or a skip naming it (a failure under ``DDFAST_REQUIRE_COMPONENTS=1``)."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("DDFAST_REQUIRE_COMPONENTS") == "1":
            pytest.fail("%s is not installed (DDFAST_REQUIRE_COMPONENTS=1)" % module)
        pytest.skip("%s is not installed" % module)


@pytest.fixture(scope="module")
def broker():
    """A Kafka broker on a loopback port (librdkafka's mock cluster, in a process of its own)."""
    _component("confluent_kafka")
    proc = subprocess.Popen([sys.executable, DRIVER, "broker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        address = proc.stdout.readline().strip()
        assert address, "the mock broker did not start"
        yield address
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def topic():
    return "t-" + uuid.uuid4().hex[:12]


@pytest.fixture
def kafka(traced):
    """confluent_kafka, patched with the tracer under test; unpatched afterwards."""
    ck = _component("confluent_kafka")
    from ddfast.contrib import kafka as contrib

    assert contrib.patch(tracer=traced)
    try:
        yield ck
    finally:
        contrib.unpatch()


@pytest.fixture
def aiokafka(traced):
    lib = _component("aiokafka")
    from ddfast.contrib import aiokafka as contrib

    assert contrib.patch(tracer=traced)
    try:
        yield lib
    finally:
        contrib.unpatch()


def spans_of(tracer):
    return [s for trace in tracer.writer.pop_traces() for s in trace]


def received(spans):
    """The consume spans that got a message."""
    return [s for s in spans if s.name == "kafka.consume" and s.get_tag("kafka.received_message") == "True"]


def raw_produce(bootstrap, name, headers_list, value=b"payload"):
    """Messages written by an untraced producer (confluent_kafka's own class)."""
    import confluent_kafka.cimpl as cimpl

    producer = cimpl.Producer({"bootstrap.servers": bootstrap})
    for headers in headers_list:
        producer.produce(name, value, partition=0, headers=headers)
    assert producer.flush(10) == 0


def consume_one(ck, bootstrap, name, offset=0):
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "g", "enable.auto.commit": False})
    consumer.assign([ck.TopicPartition(name, 0, offset)])
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            message = consumer.poll(0.2)
            if message is not None:
                assert message.error() is None, message.error()
                return message
        raise AssertionError("no message")
    finally:
        consumer.close()


def consume_batch(ck, bootstrap, name, count):
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "g", "enable.auto.commit": False})
    consumer.assign([ck.TopicPartition(name, 0, 0)])
    try:
        deadline, messages = time.time() + 15, []
        while len(messages) < count and time.time() < deadline:
            messages += consumer.consume(count - len(messages), 0.5)
        assert len(messages) == count
        return messages
    finally:
        consumer.close()


def run_driver(which, job, kind=None, **env_extra):
    if kind == "cython":
        load_twin("span", kind)  # skips where the compiled core is not built (fails where it must be)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDFAST_", "OTEL_"))}
    env.update(env_extra)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    proc = subprocess.run([sys.executable, DRIVER, which, json.dumps(job)], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def the(spans, name, **tags):
    found = [s for s in spans if s["name"] == name and all(s["meta"].get(k) == v for k, v in tags.items())]
    assert len(found) == 1, spans
    return found[0]


# -- confluent-kafka: ddfast -> ddfast ---------------------------------------------------------------------


def test_produce_then_consume_continues_the_trace(kafka, traced, broker):
    name = topic()
    producer = kafka.Producer({"bootstrap.servers": broker})
    with traced.trace("caller") as caller:
        producer.produce(name, b"payload", key="k1", partition=0)
    assert producer.flush(10) == 0
    message = consume_one(kafka, broker, name)
    headers = dict(message.headers())
    spans = spans_of(traced)
    produce = [s for s in spans if s.name == "kafka.produce"][0]
    assert produce.parent_id == caller.span_id and produce.trace_id == caller.trace_id
    # the layout ddtrace writes: text names, UTF-8 values, the configured styles
    assert headers["x-datadog-parent-id"] == str(produce.span_id).encode()
    assert headers["x-datadog-trace-id"] == str(produce.trace_id & (2**64 - 1)).encode()
    assert headers["traceparent"] == b"00-%032x-%016x-01" % (produce.trace_id, produce.span_id)
    (consume,) = received(spans)
    assert consume.trace_id == produce.trace_id and consume.parent_id == produce.span_id
    assert consume.service == produce.service == "kafka" and consume.span_type == "worker"
    assert consume.get_tag("span.kind") == "consumer" and produce.get_tag("span.kind") == "producer"
    assert consume.get_tag("kafka.topic") == name == produce.get_tag("kafka.topic")
    assert consume.get_metric("kafka.message_offset") == 0  # ddtrace tags -1 for offset 0
    assert consume.get_metric("kafka.partition") == 0 and consume.get_tag("kafka.group_id") == "g"
    assert produce.get_tag("messaging.kafka.bootstrap.servers") == broker
    assert produce.get_tag("kafka.message_key") == "k1" == consume.get_tag("kafka.message_key")
    assert traced.current_span() is None


def test_cluster_id_is_learnt_without_waiting_and_tagged(kafka, traced, broker):
    """A producer asks for the cluster id in the background (its first produce does not wait for it); once
    known, its spans and those of the consumers of the same servers carry ``kafka.cluster_id``."""
    import confluent_kafka.cimpl as cimpl

    from ddfast.contrib import kafka as contrib

    expected = cimpl.Producer({"bootstrap.servers": broker}).list_topics(timeout=10).cluster_id
    assert expected
    contrib._cluster_ids.pop(broker, None)
    name = topic()
    producer = kafka.Producer({"bootstrap.servers": broker})
    deadline = time.time() + 15
    while producer._dd_cluster_id != expected:
        assert time.time() < deadline, "the cluster id was not learnt"
        time.sleep(0.05)
    producer.produce(name, b"payload", partition=0)
    assert producer.flush(10) == 0
    consume_one(kafka, broker, name)
    spans = spans_of(traced)
    (produce,) = [s for s in spans if s.name == "kafka.produce"]
    (consume,) = received(spans)
    assert produce.get_tag("kafka.cluster_id") == expected == consume.get_tag("kafka.cluster_id")


def test_an_unknown_cluster_id_is_not_tagged(kafka, traced):
    """A producer whose broker never answers: its spans go without ``kafka.cluster_id``, and producing
    does not wait for it."""
    producer = kafka.Producer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 100})
    producer.produce("t", b"payload")
    producer.flush(1)
    (produce,) = [s for s in spans_of(traced) if s.name == "kafka.produce"]
    assert produce.get_tag("kafka.cluster_id") is None and producer._dd_cluster_id == ""


def test_batch_consume_links_every_message(kafka, traced, broker):
    name = topic()
    producer = kafka.Producer({"bootstrap.servers": broker})
    for _ in range(3):
        with traced.trace("caller"):
            producer.produce(name, b"payload", partition=0)
    producer.produce(name, b"untraced", partition=0)  # no active span: a trace of its own
    assert producer.flush(10) == 0
    raw_produce(broker, name, [None])  # no headers at all
    consume_batch(kafka, broker, name, 5)
    spans = spans_of(traced)
    produced = [s for s in spans if s.name == "kafka.produce"]
    (consume,) = received(spans)
    assert consume.parent_id == produced[0].span_id  # the first message's producer, as ddtrace
    linked = {(link.trace_id, link.span_id) for link in consume._span_links}
    assert linked == {(s.trace_id, s.span_id) for s in produced}


def test_batch_links_of_conflicting_styles(kafka, traced, broker):
    # Datadog and W3C headers of two different traces: the Datadog context (the configured first style)
    # is linked, the W3C one too (another span id), as ddtrace links extraction's conflicting contexts
    name = topic()
    conflicting = [("x-datadog-trace-id", b"1234"), ("x-datadog-parent-id", b"5678"),
                   ("traceparent", b"00-000000000000000000000000000004d3-0000000000000007-01")]  # fmt: skip
    same_parent = [("x-datadog-trace-id", b"1234"), ("x-datadog-parent-id", b"5678"),
                   ("traceparent", b"00-000000000000000000000000000004d3-000000000000162e-01")]  # fmt: skip
    raw_produce(broker, name, [conflicting, same_parent])
    consume_batch(kafka, broker, name, 2)
    (span,) = received(spans_of(traced))
    assert span.trace_id == 1234 and span.parent_id == 5678
    assert sorted((link.trace_id, link.span_id) for link in span._span_links) == [(1234, 5678), (1235, 7)]


def test_headers_as_dict_and_list_are_copied_with_ours(kafka, traced, broker):
    name = topic()
    producer = kafka.Producer({"bootstrap.servers": broker})
    as_dict = {"app": "1", "x-datadog-trace-id": "999"}
    as_list = [("app", b"2"), ("app", b"3"), ("X-Datadog-Parent-Id", b"1")]
    with traced.trace("caller"):
        producer.produce(name, b"a", partition=0, headers=as_dict)
        producer.produce(name, b"b", None, 0, None, None, 0, as_list)  # positional (a callback, a timestamp)
        producer.produce(name, value=None, partition=0, headers=list(as_list))  # a tombstone
        with pytest.raises(TypeError):  # confluent-kafka's own refusal of a tuple, as untraced
            producer.produce(name, b"bad", partition=0, headers=tuple(as_list))
    assert producer.flush(10) == 0
    assert as_dict == {"app": "1", "x-datadog-trace-id": "999"}  # not changed in place
    assert as_list == [("app", b"2"), ("app", b"3"), ("X-Datadog-Parent-Id", b"1")]
    spans = spans_of(traced)
    assert [s.error for s in spans if s.name == "kafka.produce"] == [0, 0, 0, 1]
    produced = [s for s in spans if s.name == "kafka.produce" and not s.error]
    consumer = kafka.Consumer({"bootstrap.servers": broker, "group.id": "g"})
    consumer.assign([kafka.TopicPartition(name, 0, 0)])
    messages = []
    deadline = time.time() + 15
    while len(messages) < 3 and time.time() < deadline:
        messages += consumer.consume(3 - len(messages), 0.5)
    consumer.close()
    for message, span in zip(messages, produced, strict=True):
        headers = message.headers()
        names = [k.lower() for k, _ in headers]
        assert names.count("x-datadog-trace-id") == 1 and names.count("x-datadog-parent-id") == 1
        assert dict((k.lower(), v) for k, v in headers)["x-datadog-parent-id"] == str(span.span_id).encode()
    assert [v for k, v in messages[1].headers() if k == "app"] == [b"2", b"3"]  # the caller's, in order
    assert produced[2].get_tag("kafka.tombstone") == "True" and produced[0].get_tag("kafka.tombstone") == "False"


def test_hostile_headers_give_no_parent_and_never_raise(kafka, traced, broker, prop):
    ERRORS = prop.ERRORS
    name = topic()
    hostile = [
        [("x-datadog-trace-id", b"\xff\xfe\x00"), ("x-datadog-parent-id", b"\x80")],  # not UTF-8
        [("x-datadog-trace-id", b"12"), ("x-datadog-parent-id", b"")],  # truncated
        [("x-datadog-trace-id", b"9" * 100000), ("x-datadog-parent-id", b"1")],  # oversized
        [("traceparent", b"00-" + b"f" * 5000)],
        [("x-datadog-trace-id", None), ("x-datadog-parent-id", None)],  # null values
        [("x-datadog-trace-id", b"-1"), ("x-datadog-parent-id", b"0x10"), ("x-datadog-tags", b"\x00" * 600)],
    ]
    raw_produce(broker, name, hostile)
    before = sum(ERRORS.values())
    messages = consume_batch(kafka, broker, name, len(hostile))
    (batch,) = received(spans_of(traced))
    assert batch.parent_id is None and not batch._span_links
    for offset in range(len(hostile)):
        message = consume_one(kafka, broker, name, offset)
        assert message.offset() == offset
    spans = received(spans_of(traced))
    assert len(spans) == len(hostile) and all(s.parent_id is None for s in spans)
    assert sum(ERRORS.values()) > before
    assert len(messages) == len(hostile)


def test_duplicate_headers_keep_the_last_as_ddtrace(kafka, traced, broker):
    name = topic()
    raw_produce(broker, name, [[("x-datadog-trace-id", b"1"), ("x-datadog-parent-id", b"2")] + TRACE])
    consume_one(kafka, broker, name)
    (span,) = received(spans_of(traced))
    assert span.trace_id == 1234 and span.parent_id == 5678  # dict(headers) in ddtrace: the last wins


def test_java_tracer_headers_link(kafka, traced, broker):
    # what dd-trace-java's Kafka instrumentation writes: UTF-8 values of its propagation headers, its
    # binary produce time and the Data Streams pathway
    name = topic()
    java = [
        ("x-datadog-trace-id", b"4611686018427387904"),
        ("x-datadog-parent-id", b"1311768467294899695"),
        ("x-datadog-sampling-priority", b"1"),
        ("x-datadog-tags", b"_dd.p.dm=-1,_dd.p.tid=6b06331600000000"),
        ("traceparent", b"00-6b063316000000004000000000000000-1234567890abcdef-01"),
        ("tracestate", b"dd=s:1;p:1234567890abcdef;t.dm:-1;t.tid:6b06331600000000"),
        ("x_datadog_kafka_produced", b"\x00\x00\x01\x8c\xff\xee\xdd\xcc"),
        ("dd-pathway-ctx-base64", b"3X4ZtuEGAbD3m6mNZIz1/93Z8jTQ2p/q3Vo="),
    ]
    raw_produce(broker, name, [java])
    consume_one(kafka, broker, name)
    (span,) = received(spans_of(traced))
    assert span.trace_id == 0x6B063316000000004000000000000000 and span.parent_id == 1311768467294899695


def test_size_limit_sends_the_message_without_our_headers(kafka, traced, broker):
    from ddfast.propagation import ERRORS

    name = topic()
    producer = kafka.Producer({"bootstrap.servers": broker, "message.max.bytes": 20000})
    before = ERRORS.get("message_too_large", 0)
    with traced.trace("caller"):
        producer.produce(name, b"x" * 19900, partition=0)  # fits alone; with our headers it would not
        producer.produce(name, b"small", partition=0)
    assert producer.flush(10) == 0
    assert ERRORS.get("message_too_large", 0) == before + 1
    big = consume_one(kafka, broker, name, 0)
    small = consume_one(kafka, broker, name, 1)
    assert big.value() == b"x" * 19900 and big.headers() is None
    assert any(k == "x-datadog-trace-id" for k, _ in small.headers())


def test_propagation_setting_off(traced, broker, monkeypatch):
    ck = _component("confluent_kafka")
    from ddfast.contrib import kafka as contrib

    monkeypatch.setenv("DD_KAFKA_PROPAGATION_ENABLED", "false")
    contrib.patch(tracer=traced)
    try:
        name = topic()
        producer = ck.Producer({"bootstrap.servers": broker})
        with traced.trace("caller"):
            producer.produce(name, b"payload", partition=0)
        assert producer.flush(10) == 0
        raw_produce(broker, name, [TRACE])
        assert consume_one(ck, broker, name, 0).headers() is None
        consume_one(ck, broker, name, 1)
        assert all(s.parent_id is None for s in received(spans_of(traced)))
    finally:
        contrib.unpatch()


@pytest.fixture
def patch_with(traced, monkeypatch):
    """``patch_with(**env)``: confluent_kafka patched under the settings ``env``; unpatched afterwards."""
    ck = _component("confluent_kafka")
    from ddfast.contrib import kafka as contrib

    def patch(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        contrib.patch(tracer=traced)
        return ck

    yield patch
    contrib.unpatch()


def test_links_only_setting(patch_with, traced, broker):
    ck = patch_with(DD_TRACE_PROPAGATION_AS_SPAN_LINKS="kafka")
    name = topic()
    raw_produce(broker, name, [TRACE])
    with traced.trace("worker") as worker:
        consume_one(ck, broker, name)
    (span,) = received(spans_of(traced))
    assert span.parent_id == worker.span_id  # the active span, not the message's producer
    assert [(link.trace_id, link.span_id) for link in span._span_links] == [(1234, 5678)]


def test_empty_polls_setting_and_schema_v1_names(patch_with, traced, broker):
    ck = patch_with(DD_KAFKA_EMPTY_POLL_ENABLED="false", DD_TRACE_SPAN_ATTRIBUTE_SCHEMA="v1", DD_SERVICE="")
    name = topic()
    consumer = ck.Consumer({"bootstrap.servers": broker, "group.id": "g"})
    consumer.assign([ck.TopicPartition(name, 0, 0)])
    assert consumer.poll(0) is None and consumer.consume(1, 0) == []
    consumer.close()
    assert spans_of(traced) == []
    producer = ck.Producer({"bootstrap.servers": broker})
    producer.produce(name, b"v", partition=0)
    assert producer.flush(10) == 0
    consume_one(ck, broker, name)
    produce, consume = sorted(spans_of(traced), key=lambda s: s.start_ns)
    assert (produce.name, consume.name) == ("kafka.send", "kafka.process")
    assert produce.service != "kafka" and consume.parent_id == produce.span_id


def test_errors_and_empty_polls(kafka, traced, broker):
    consumer = kafka.Consumer({"bootstrap.servers": broker, "group.id": "g"})
    consumer.assign([kafka.TopicPartition(topic(), 0, 0)])
    assert consumer.poll(0) is None
    (empty,) = spans_of(traced)
    assert empty.get_tag("kafka.received_message") == "False" and empty.parent_id is None
    consumer.close()
    with pytest.raises(RuntimeError):
        consumer.poll(0)  # closed
    (failed,) = spans_of(traced)
    assert failed.error == 1 and failed.get_tag("error.type") == "builtins.RuntimeError"
    producer = kafka.Producer({"bootstrap.servers": broker})
    with pytest.raises(TypeError):
        producer.produce(topic(), 42)  # a value confluent-kafka refuses: its own error, recorded
    (span,) = spans_of(traced)
    assert span.error == 1


def test_patch_is_reversible_and_known_to_ddfast_patch(traced):
    ck = _component("confluent_kafka")
    import ddfast
    from ddfast.contrib import kafka as contrib
    from ddfast.patching import module_of

    original = ck.Producer
    assert module_of("kafka") == "confluent_kafka"
    assert ddfast.patch(tracer=traced, kafka=True) == ["kafka"]
    assert ck.Producer is not original and issubclass(ck.Producer, original)
    assert not contrib.patch(tracer=traced)  # once only
    contrib.unpatch()
    assert ck.Producer is original


# -- aiokafka --------------------------------------------------------------------------------------------


async def _reading_from_start(aiokafka, broker, name):
    """A started aiokafka consumer of partition 0 of topic ``name``, from its first message."""
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    await consumer.start()
    partition = aiokafka.TopicPartition(name, 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    return consumer


def test_aiokafka_send_getone_getmany(aiokafka, traced, broker):
    name = topic()

    async def scenario():
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=broker)
        await producer.start()
        try:
            headers = [("app", b"1")]
            with traced.trace("caller") as caller:
                await producer.send_and_wait(name, b"one", key=b"k1", partition=0, headers=headers)
                with pytest.raises(TypeError):  # aiokafka's own refusal of a tuple, as untraced
                    await producer.send_and_wait(name, b"bad", partition=0, headers=(("app", b"2"),))
                await producer.send_and_wait(name, b"two", partition=0, headers=[("x-datadog-trace-id", b"1")])
                await producer.send_and_wait(name, None, key=b"gone", partition=0)
            assert headers == [("app", b"1")]
        finally:
            await producer.stop()
        consumer = await _reading_from_start(aiokafka, broker, name)
        try:
            first = await asyncio.wait_for(consumer.getone(), 15)
            batch = {}
            deadline = time.time() + 15
            while sum(len(v) for v in batch.values()) < 2 and time.time() < deadline:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    batch.setdefault(tp, []).extend(records)
            assert sum(len(v) for v in batch.values()) == 2
        finally:
            await consumer.stop()
        return caller, first

    caller, first = asyncio.run(scenario())
    assert dict(first.headers)["app"] == b"1"
    spans = spans_of(traced)
    failed = [s for s in spans if s.name == "kafka.produce" and s.error]
    assert len(failed) == 1 and failed[0].get_tag("error.type") == "builtins.TypeError"
    produced = [s for s in spans if s.name == "kafka.produce" and not s.error]
    assert len(produced) == 3 and all(s.parent_id == caller.span_id for s in produced)
    assert [s.get_metric("kafka.message_offset") for s in produced] == [0, 1, 2]
    assert produced[0].get_tag("kafka.message_key") == "k1" and produced[2].get_tag("kafka.tombstone") == "True"
    consumes = [s for s in spans if s.name == "kafka.consume"]
    getone = [s for s in consumes if s.get_metric("kafka.message_offset") == 0]
    assert len(getone) == 1 and getone[0].parent_id == produced[0].span_id
    assert getone[0].trace_id == caller.trace_id and getone[0].get_tag("component") == "aiokafka"
    batches = [s for s in consumes if s._span_links]
    linked = {(link.trace_id, link.span_id) for s in batches for link in s._span_links}
    assert linked == {(s.trace_id, s.span_id) for s in produced[1:]}
    assert all(s.get_tag("kafka.partitions." + name) == "0" for s in batches)


def test_aiokafka_hostile_headers(aiokafka, traced, broker):
    name = topic()
    raw_produce(broker, name, [[("x-datadog-trace-id", b"12\xff3"), ("x-datadog-parent-id", b"5")], TRACE])

    async def scenario():
        consumer = await _reading_from_start(aiokafka, broker, name)
        try:
            got = [await asyncio.wait_for(consumer.getone(), 15) for _ in range(2)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(consumer.getone(), 0.2)  # cancelled while waiting: no span
            return got
        finally:
            await consumer.stop()

    asyncio.run(scenario())
    bad, good = sorted((s for s in spans_of(traced) if s.name == "kafka.consume"),
                       key=lambda s: s.get_metric("kafka.message_offset"))  # fmt: skip
    assert bad.parent_id is None  # ddtrace drops the byte it cannot decode and reads 123
    assert good.trace_id == 1234 and good.parent_id == 5678


def broker_cluster_id(bootstrap):
    """The cluster id the broker reports (asked with aiokafka's own client, untraced)."""
    import aiokafka
    from aiokafka.protocol.metadata import MetadataRequest

    async def ask():
        client = aiokafka.AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            response = await client.send(client.get_random_node(), MetadataRequest([], False))
            return response.cluster_id
        finally:
            await client.close()

    return asyncio.run(ask())


async def until(condition, what):
    deadline = time.time() + 15
    while not condition():
        assert time.time() < deadline, what
        await asyncio.sleep(0.02)


def test_aiokafka_cluster_id_is_learnt_without_waiting_and_tagged(aiokafka, traced, broker):
    """The first traced call on a client asks the broker for its cluster id in a task of its own (the first
    send's span starts without it); once known, the send, getone and getmany spans carry it."""
    expected = broker_cluster_id(broker)
    assert expected  # the mock cluster answers aiokafka's Metadata request with its id
    name = topic()

    async def scenario():
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=broker)
        await producer.start()
        try:
            assert not hasattr(producer.client, "_dd_cluster_id")  # nothing asked before a traced call
            await producer.send_and_wait(name, b"first", partition=0)
            await until(lambda: producer.client._dd_cluster_id == expected, "the cluster id was not learnt")
            for value in (b"second", b"third"):
                await producer.send_and_wait(name, value, partition=0)
        finally:
            await producer.stop()
        consumer = await _reading_from_start(aiokafka, broker, name)
        try:
            await asyncio.wait_for(consumer.getone(), 15)  # asks; tagged when the answer came first
            await until(lambda: consumer._client._dd_cluster_id == expected, "the consumer did not learn it")
            await asyncio.wait_for(consumer.getone(), 15)
            batch = {}
            while not batch:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 15)
        finally:
            await consumer.stop()

    asyncio.run(scenario())
    spans = spans_of(traced)
    produced = sorted(
        (s for s in spans if s.name == "kafka.produce"), key=lambda s: s.get_metric("kafka.message_offset")
    )
    assert [s.get_tag("kafka.cluster_id") for s in produced] == [None, expected, expected]
    consumes = [s for s in spans if s.name == "kafka.consume" and s.get_tag("kafka.received_message") == "True"]
    (second,) = [s for s in consumes if s.get_metric("kafka.message_offset") == 1]
    (batch,) = [s for s in consumes if s.get_tag("kafka.partitions." + name) == "0"]
    assert second.get_tag("kafka.cluster_id") == expected == batch.get_tag("kafka.cluster_id")
    # the other per-message tags still where they belong
    assert second.get_tag("kafka.group_id") == "None" and second.get_tag("kafka.tombstone") == "False"
    assert second.get_metric("kafka.partition") == 0 and second.get_tag("kafka.topic") == name


def _withholding(client, answer):
    """``client`` with its Metadata requests for no topic (the cluster id question) answered by ``answer``
    (a coroutine function), the others sent to the broker."""
    from aiokafka.protocol.metadata import MetadataRequest

    send = client.send
    asked = []

    async def withheld(node_id, request, **kwargs):
        if isinstance(request, MetadataRequest) and request._topics == []:
            asked.append(node_id)
            return await answer()
        return await send(node_id, request, **kwargs)

    client.send = withheld
    return asked


def test_aiokafka_a_broker_that_never_tells_its_cluster_id(aiokafka, traced, broker, caplog):
    """The question goes unanswered: no ``kafka.cluster_id``, sends and getone work as untraced, and the
    pending question ends with the loop without an error."""
    from ddfast.contrib import aiokafka as contrib

    name = topic()

    async def scenario():
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=broker)
        await producer.start()
        asked = _withholding(producer.client, lambda: asyncio.Event().wait())  # never answered
        try:
            for value in (b"one", b"two"):
                metadata = await asyncio.wait_for(producer.send_and_wait(name, value, partition=0), 15)
                assert metadata.offset == (0 if value == b"one" else 1)
        finally:
            await producer.stop()
        assert len(asked) == 1 and producer.client._dd_cluster_id == ""  # asked once, not per message
        (pending,) = [t for t in contrib._asking if t.get_loop() is asyncio.get_running_loop()]
        pending.cancel()  # as when the loop ends: the next call asks again
        await asyncio.wait([pending])
        assert not hasattr(producer.client, "_dd_cluster_id")
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
        await consumer.start()
        _withholding(consumer._client, lambda: asyncio.Event().wait())
        try:
            partition = aiokafka.TopicPartition(name, 0)
            consumer.assign([partition])
            consumer.seek(partition, 0)
            got = [await asyncio.wait_for(consumer.getone(), 15) for _ in range(2)]
        finally:
            await consumer.stop()
        return [m.value for m in got]

    assert asyncio.run(scenario()) == [b"one", b"two"]
    spans = [s for s in spans_of(traced) if s.name in ("kafka.produce", "kafka.consume")]
    assert len(spans) == 4 and not any(s.error for s in spans)
    assert all(s.get_tag("kafka.cluster_id") is None for s in spans)
    assert not [r for r in caplog.records if r.name == "asyncio"]  # no task destroyed pending or failed


def test_aiokafka_cluster_id_asked_again_after_a_failure(aiokafka, traced, broker, monkeypatch):
    """A question that fails is asked again by the first traced call ``CLUSTER_ID_RETRY`` seconds later
    (not by every call), and its answer is tagged from then on."""
    from ddfast.contrib import aiokafka as contrib

    monkeypatch.setattr(contrib, "CLUSTER_ID_RETRY", 0.3)
    name = topic()
    answers = []

    async def answer():
        if not answers:
            answers.append("refused")
            raise aiokafka.errors.KafkaConnectionError("refused")
        answers.append("told")
        return type("Response", (), {"cluster_id": "cluster-7"})()

    async def scenario():
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=broker)
        await producer.start()
        asked = _withholding(producer.client, answer)
        try:
            for _ in range(3):  # the first asks; the failure is not asked again by the next ones
                await producer.send_and_wait(name, b"v", partition=0)
            assert answers == ["refused"] and producer.client._dd_cluster_id == ""
            await until(lambda: not hasattr(producer.client, "_dd_cluster_id"), "not forgotten after the retry delay")
            await producer.send_and_wait(name, b"v", partition=0)  # asks again
            await until(lambda: producer.client._dd_cluster_id == "cluster-7", "not asked again")
            await producer.send_and_wait(name, b"v", partition=0)
        finally:
            await producer.stop()
        return asked

    assert len(asyncio.run(scenario())) == 2
    produced = sorted((s for s in spans_of(traced) if s.name == "kafka.produce"),
                      key=lambda s: s.get_metric("kafka.message_offset"))  # fmt: skip
    assert [s.get_tag("kafka.cluster_id") for s in produced] == [None] * 4 + ["cluster-7"]


# -- interop with ddtrace 4.16 ---------------------------------------------------------------------------

LIBRARIES = ["confluent", "aiokafka"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_ddtrace_producer_to_ddfast_consumer(library, kind, broker):
    _component("confluent_kafka" if library == "confluent" else "aiokafka")
    name = topic()
    theirs = run_driver("ddtrace", {"library": library, "op": "produce", "bootstrap": broker, "topic": name})
    produce = the(theirs, "kafka.produce")
    ours = run_driver("ddfast", {"library": library, "op": "consume", "bootstrap": broker, "topic": name}, kind)
    consume = the(ours, "kafka.consume", **{"kafka.received_message": "True"})
    assert consume["trace_id"] == produce["trace_id"] and consume["parent_id"] == produce["span_id"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_ddfast_producer_to_ddtrace_consumer(library, kind, broker):
    _component("confluent_kafka" if library == "confluent" else "aiokafka")
    name = topic()
    ours = run_driver("ddfast", {"library": library, "op": "produce", "bootstrap": broker, "topic": name}, kind)
    produce = the(ours, "kafka.produce")
    theirs = run_driver("ddtrace", {"library": library, "op": "consume", "bootstrap": broker, "topic": name})
    consume = the(theirs, "kafka.consume", **{"kafka.received_message": "True"})
    assert consume["trace_id"] == produce["trace_id"] and consume["parent_id"] == produce["span_id"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_ddtrace_batch_links_to_ddfast(library, kind, broker):
    _component("confluent_kafka" if library == "confluent" else "aiokafka")
    name = topic()
    produced = []
    for _ in range(2):
        theirs = run_driver("ddtrace", {"library": library, "op": "produce", "bootstrap": broker, "topic": name})
        produced.append(the(theirs, "kafka.produce"))
    job = {"library": library, "op": "consume_batch", "count": 2, "bootstrap": broker, "topic": name}
    ours = run_driver("ddfast", job, kind)
    linked = {(link["trace_id"], link["span_id"]) for s in ours for link in s["links"]}
    assert linked == {(s["trace_id"], s["span_id"]) for s in produced}


#: the tags compared with ddtrace's for the same calls (values; kafka.cluster_id, learnt in the background here, has
#: its own test)
TAGS = ("component", "span.kind", "messaging.system", "kafka.topic", "messaging.destination.name",
        "kafka.tombstone", "kafka.received_message", "messaging.kafka.bootstrap.servers", "kafka.message_key",
        "kafka.group_id", "_dd.base_service")  # fmt: skip


_ddtrace_spans = {}


def parity_spans(which, library, broker, kind):
    """The produce and consume spans of one message, under ``which`` (ddtrace's once per library)."""
    if which == "ddtrace" and library in _ddtrace_spans:
        return _ddtrace_spans[library]
    job = {"library": library, "op": "produce", "bootstrap": broker, "topic": "parity-%s-%s" % (library, which)}
    spans = run_driver(which, job, kind)
    job["op"] = "consume"
    spans += run_driver(which, job, kind)
    spans = [s for s in spans if s["name"] != "caller" and s["meta"].get("kafka.received_message") != "False"]
    for span in spans:
        for tag in ("kafka.topic", "messaging.destination.name"):
            span["meta"][tag] = span["meta"][tag].rsplit("-", 1)[0]
    if which == "ddtrace":
        _ddtrace_spans[library] = spans
    return spans


@pytest.mark.parametrize("library", LIBRARIES)
def test_spans_are_named_and_tagged_as_ddtraces(library, kind, broker):
    _component("confluent_kafka" if library == "confluent" else "aiokafka")

    def key(span):
        common = {k: span[k] for k in ("name", "service", "resource", "type", "error")}
        common.update({k: span["meta"].get(k) for k in TAGS})
        common["metrics"] = sorted(k for k in span["metrics"] if k != "kafka.message_offset")
        return common

    theirs = parity_spans("ddtrace", library, broker, None)
    ours = parity_spans("ddfast", library, broker, kind)
    assert [key(s) for s in ours] == [key(s) for s in theirs]


def test_ddfast_run_patches_confluent_kafka_and_aiokafka_on_import(broker, kind):
    """Under ``ddfast-run``, the program's own ``import confluent_kafka`` / ``import aiokafka`` gets the
    traced classes, and its messages carry the context."""
    _component("confluent_kafka")
    _component("aiokafka")
    program = (
        "import aiokafka, confluent_kafka\n"
        "from ddfast.contrib import _patch\n"
        "from ddfast.tracer import tracer\n"
        "assert getattr(confluent_kafka.Producer, _patch.ORIGINAL, None) is not None\n"
        "assert _patch.is_wrapped(aiokafka.AIOKafkaProducer, 'send')\n"
        "producer = confluent_kafka.Producer({'bootstrap.servers': %r})\n"
        "with tracer.trace('caller') as caller:\n"
        "    producer.produce(%r, b'v', partition=0)\n"
        "assert producer.flush(10) == 0\n"
        "print(caller.trace_id & (2**64 - 1))\n"
    )
    name = topic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDFAST_"))}
    env.update(DD_TRACE_AGENT_URL="http://127.0.0.1:9", DD_TRACE_STARTUP_LOGS="false")
    load_twin("span", kind)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    runner = os.path.join(os.path.dirname(sys.executable), "ddfast-run")
    proc = subprocess.run([runner, sys.executable, "-c", program % (broker, name)], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trace_id = proc.stdout.split()[-1].encode()
    ck = _component("confluent_kafka")
    import confluent_kafka.cimpl as cimpl

    consumer = cimpl.Consumer({"bootstrap.servers": broker, "group.id": "g"})
    consumer.assign([ck.TopicPartition(name, 0, 0)])
    try:
        deadline, message = time.time() + 15, None
        while message is None and time.time() < deadline:
            message = consumer.poll(0.2)
    finally:
        consumer.close()
    assert dict(message.headers())["x-datadog-trace-id"] == trace_id
