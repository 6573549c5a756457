"""A Kafka broker for the tests, and one producer or consumer traced by ddtrace or ddfast in a process of
its own (the two tracers never patch one process). ``tests/test_contrib_kafka.py`` runs it.

    python kafka_driver.py broker
        starts librdkafka's mock cluster (one broker, on a loopback port; it serves any Kafka client,
        confluent-kafka's and aiokafka's) and prints its bootstrap address; runs until stdin closes.

    python kafka_driver.py ddtrace|ddfast '{"library": "confluent"|"aiokafka", "op": ..., ...}'
        ``op``: ``produce`` (one message under a ``caller`` span; ``headers`` its own headers as pairs,
        ``key``), ``consume`` (one message: ``poll()`` / ``getone()``), ``consume_batch`` (``count`` messages:
        ``consume()`` / ``getmany()``); ``bootstrap``, ``topic`` (partition 0, read from offset ``offset``).
        Prints the spans made as JSON (one line): name, service, resource, type, ids, tags, metrics, links.
"""

import asyncio
import json
import os
import sys
import time

from capture_writer import CaptureWriter as Capture

BASE_ENV = {
    "DD_TRACE_STARTUP_LOGS": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
    "DD_KAFKA_PROPAGATION_ENABLED": "true",
    "DD_SERVICE": "kafka-app",
}


def broker():
    import confluent_kafka

    holder = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = holder.list_topics(timeout=10).brokers
    address = next(iter(brokers.values()))
    print("%s:%d" % (address.host, address.port), flush=True)
    sys.stdin.read()


def describe(span):
    found = span._get_links() if hasattr(span, "_get_links") else span._span_links  # ddtrace's, ddfast's
    links = [{"trace_id": link.trace_id, "span_id": link.span_id} for link in found or ()]
    return {
        "name": span.name,
        "service": span.service,
        "resource": span.resource,
        "type": span.span_type,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "error": int(span.error),
        "meta": {k: v for k, v in span.get_tags().items() if not k.startswith(("_dd.p.", "runtime-", "language"))},
        "metrics": {k: v for k, v in span.get_metrics().items() if k.startswith(("kafka.", "_dd.measured"))},
        "links": links,
    }


def setup(which, library):
    capture = Capture()
    patch_name = "kafka" if library == "confluent" else "aiokafka"
    if which == "ddtrace":
        import ddtrace
        from ddtrace.trace import tracer

        tracer._span_aggregator.writer = capture
        ddtrace.patch(**{patch_name: True})
    else:
        import ddfast
        from ddfast.tracer import tracer

        tracer.writer = capture
        ddfast.patch(**{patch_name: True})
    return tracer, capture


def confluent(tracer, job):
    import confluent_kafka

    bootstrap, topic = job["bootstrap"], job["topic"]
    if job["op"] == "produce":
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
        headers = [(k, v.encode("latin-1")) for k, v in job.get("headers", [])] or None
        with tracer.trace("caller"):
            producer.produce(topic, b"payload", key=job.get("key", "k1"), partition=0, headers=headers)
        assert producer.flush(10) == 0
        return
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "g",
                                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, job.get("offset", 0))])
    deadline = time.time() + 15
    try:
        if job["op"] == "consume":
            while time.time() < deadline:
                if consumer.poll(0.5) is not None:
                    return
        got = 0
        while got < job["count"] and time.time() < deadline:
            got += len(consumer.consume(job["count"] - got, 0.5))
    finally:
        consumer.close()


async def aiokafka(tracer, job):
    import aiokafka

    bootstrap, topic = job["bootstrap"], job["topic"]
    if job["op"] == "produce":
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            headers = [(k, v.encode("latin-1")) for k, v in job.get("headers", [])] or None
            key = job.get("key", "k1").encode()
            with tracer.trace("caller"):
                await producer.send_and_wait(topic, b"payload", key=key, partition=0, headers=headers)
        finally:
            await producer.stop()
        return
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = aiokafka.TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, job.get("offset", 0))
        if job["op"] == "consume":
            await asyncio.wait_for(consumer.getone(), 15)
            return
        got, deadline = 0, time.time() + 15
        while got < job["count"] and time.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=job["count"] - got)
            got += sum(len(records) for records in batches.values())
    finally:
        await consumer.stop()


def main():
    if sys.argv[1] == "broker":
        return broker()
    which, job = sys.argv[1], json.loads(sys.argv[2])
    tracer, capture = setup(which, job["library"])
    if job["library"] == "confluent":
        confluent(tracer, job)
    else:
        asyncio.run(aiokafka(tracer, job))
    tracer.flush() if which == "ddfast" else None
    print(json.dumps([describe(s) for s in capture.spans], default=str))


if __name__ == "__main__":
    for key, value in BASE_ENV.items():
        os.environ.setdefault(key, value)
    main()
