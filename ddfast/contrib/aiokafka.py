"""``patch()`` (``ddfast.patch(aiokafka=True)``): trace aiokafka's producers and consumers.

- ``AIOKafkaProducer.send`` (and so ``send_and_wait``): a ``kafka.produce`` span (type ``worker``,
  component ``aiokafka``, child of the active span) from the call until the broker acknowledges the
  message (tagged then with its partition and offset), whose context is added to the message's headers
  in the configured styles, as ddtrace writes them (text names, UTF-8 bytes values). The caller's
  headers are copied, with ours added (a header of the same name replaced); key and value untouched.
- ``AIOKafkaConsumer.getone``: a ``kafka.consume`` span, started before the call, child of the context
  the message's headers carry (else of the active span).
- ``AIOKafkaConsumer.getmany``: a ``kafka.consume`` span for the batch, under the active span, linking
  every message's context as span links (as ddtrace 4.16 does), tagged with the topics and partitions.

The spans carry ``kafka.cluster_id`` once the client knows it: the first traced call on a client starts a
task on the running loop that asks the broker (a Metadata request, as ddtrace does); no call waits for it,
so a client's first messages may go without it. A broker that does not tell it is asked again by the first
call ``CLUSTER_ID_RETRY`` seconds (5 minutes, as ddtrace) later.

Settings (read at ``patch()``) as the ``kafka`` integration's (``ddfast.contrib.kafka``):
``DD_KAFKA_SERVICE`` (default ``kafka``), ``DD_KAFKA_PROPAGATION_ENABLED`` (off by default in ddtrace,
on here unless ``false``). Names under ``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``: ``kafka.send``,
``kafka.receive``.

Differences from ddtrace 4.16, on purpose: propagation is on by default; ``getone()`` without a context
in the message continues the active span (ddtrace starts a new trace); the caller's list of headers is
copied (ddtrace appends to it); a header value that is not UTF-8 is no trace context (ddtrace drops the
bytes it cannot decode and may read another number); a cancelled ``send()`` or ``getmany()`` is no
error; ``kafka.cluster_id`` is asked for in the background (ddtrace's ``start()`` waits for the broker's
answer, as does each traced call while the id is unknown); no Data Streams Monitoring; the headers are
not added when they would make the message exceed the producer's ``max_request_size`` (counted in
``ddfast.propagation.ERRORS``).
"""

import asyncio
import time
import weakref

from ddfast.contrib import _patch
from ddfast.contrib.integration import record as _record
from ddfast.contrib.kafka import _HEADROOM
from ddfast.contrib.kafka import CLUSTER_ID_RETRY
from ddfast.contrib.kafka import link_all
from ddfast.contrib.kafka import make_integration
from ddfast.contrib.kafka import with_context


def traced_methods(tracer=None, service=None, distributed_tracing=None):
    """``(make_send, make_getone, make_getmany)``: each makes the traced version of a library method from
    the library's own; the settings are read now."""
    integ, names = make_integration("aiokafka", tracer, service, distributed_tracing)
    http = integ.http  # the tracer's request path: its state, and the core's span start
    state = http.state
    produce_name, consume_name = names.produce, names.consume
    distributed = integ.distributed
    start_span, active, service = http.start_span, integ.tracer.context_provider.active, integ.service
    time_ns = time.time_ns

    def common(span, topic, servers, kind):
        span._set_attribute("component", "aiokafka")
        span.set_tag("kafka.topic", topic)
        span.set_tag("messaging.destination.name", topic)
        span._set_attribute("messaging.system", "kafka")
        span.set_tag("messaging.kafka.bootstrap.servers", servers)
        span._set_attribute("span.kind", kind)

    # a sent and a received message's span made, tagged and parented in one compiled call each
    constant = {"component": "aiokafka", "messaging.system": "kafka", "_dd.measured": 1}
    sending = integ.message_spans(produce_name, "worker", dict(constant, **{"span.kind": "producer"}), SEND_KEYS)
    receiving = integ.message_spans(consume_name, "worker", dict(constant, **{"span.kind": "consumer"}), GETONE_KEYS)
    start_send, context_pairs, start_receive = sending.start, sending.context_pairs, receiving.consume

    def make_send(send):
        async def traced_send(self, *args, **kwargs):
            if not state.enabled:
                return await send(self, *args, **kwargs)
            n = len(args)
            topic = args[0] if n else kwargs.get("topic")
            value = args[1] if n > 1 else kwargs.get("value")
            key = args[2] if n > 2 else kwargs.get("key")
            partition = args[3] if n > 3 else kwargs.get("partition")
            topic = _text(topic)
            client = getattr(self, "client", None)
            cluster = getattr(client, "_dd_cluster_id", None)
            if cluster is None:  # the client's first traced call
                cluster = learn_cluster_id(client)
            span = start_send((
                topic, topic, _text(_servers(client)), cluster or None, "True" if value is None else "False",
                key_value(key, True), partition,
            ), None, False)  # fmt: skip
            try:
                headers = args[5] if n > 5 else kwargs.get("headers")
                # aiokafka takes a list (or nothing): anything else is left for it to refuse, as untraced
                if distributed and (headers is None or isinstance(headers, list)):
                    traced = context_pairs(span) if headers is None else with_context(integ, span, headers, "utf-8")
                    if traced is headers or _too_large(self, key, value, traced):
                        if traced is not headers:
                            _record("message_too_large", "aiokafka")
                    elif n > 5:
                        args = args[:5] + (traced,) + args[6:]
                    else:
                        kwargs["headers"] = traced
                future = await send(self, *args, **kwargs)
            except Exception as exc:
                integ.finish(span, exc)
                raise
            except BaseException:  # cancelled: not the send's error
                span.finish()
                raise
            future.add_done_callback(lambda done: _sent(span, done))
            return future

        return traced_send

    def consume_span(consumer, parent, start_ns):
        span = start_span(consume_name, parent if parent is not None else active(), service, None, "worker", False)
        if start_ns is not None:
            span.start_ns = start_ns
        span.set_tag("kafka.group_id", getattr(consumer, "_group_id", None))
        return span

    def make_getone(getone):
        async def traced_getone(self, *args, **kwargs):
            if not state.enabled:
                return await getone(self, *args, **kwargs)
            start_ns = time_ns()
            client = getattr(self, "_client", None)
            if getattr(client, "_dd_cluster_id", None) is None:  # asked while the message is awaited
                learn_cluster_id(client)
            try:
                message = await getone(self, *args, **kwargs)
            except Exception as exc:  # a cancelled wait is no consume (as ddtrace)
                span = consume_span(self, None, start_ns)
                common(span, None, _servers(client), "consumer")
                _tag_cluster_id(span, client)
                span._set_attribute("kafka.received_message", "False")
                span.set_metric("_dd.measured", 1)
                integ.finish(span, exc)
                raise
            topic = str(message.topic)
            span = start_receive(message.headers or None, (
                topic, topic, _text(_servers(client)), _text(getattr(self, "_group_id", None)),
                getattr(client, "_dd_cluster_id", None) or None, "True", "True" if message.value is None else "False",
                key_value(message.key, False), message.partition, message.offset,
            ), False, start_ns)  # fmt: skip
            span.finish()
            return message

        return traced_getone

    def make_getmany(getmany):
        async def traced_getmany(self, *args, **kwargs):
            if not state.enabled:
                return await getmany(self, *args, **kwargs)
            span = consume_span(self, None, None)
            client = getattr(self, "_client", None)
            common(span, None, _servers(client), "consumer")
            if getattr(client, "_dd_cluster_id", None) is None:
                learn_cluster_id(client)
            try:
                batches = await getmany(self, *args, **kwargs)
            except Exception as exc:
                integ.finish(span, exc)
                raise
            except BaseException:  # cancelled: not the consumer's error
                span.finish()
                raise
            _tag_cluster_id(span, client)
            span._set_attribute("kafka.received_message", "True" if batches is not None else "False")
            span.set_metric("_dd.measured", 1)
            if batches:
                partitions = {}
                for tp in batches:
                    partitions.setdefault(tp.topic, []).append(tp.partition)
                span.set_tag("messaging.destination.name", next(iter(partitions)))
                span.set_tag("kafka.topic", ",".join(partitions))
                for topic, numbers in partitions.items():
                    span.set_tag("kafka.partitions." + topic, ",".join(map(str, sorted(numbers))))
                if distributed:
                    link_all(integ, span, [r.headers for records in batches.values() for r in records if r.headers])
            span.finish()
            return batches

        return traced_getmany

    return make_send, make_getone, make_getmany


def patch(tracer=None, service=None, distributed_tracing=None):
    """Trace ``AIOKafkaProducer.send``, ``AIOKafkaConsumer.getone`` and ``getmany``; a second call changes
    nothing. True when patched now."""
    import aiokafka

    if _patch.is_wrapped(aiokafka.AIOKafkaProducer, "send"):
        return False
    make_send, make_getone, make_getmany = traced_methods(tracer, service, distributed_tracing)
    producer, consumer = aiokafka.AIOKafkaProducer, aiokafka.AIOKafkaConsumer
    patched = _patch.wrap(producer, "send", make_send)
    patched = _patch.wrap(consumer, "getone", make_getone) or patched
    return _patch.wrap(consumer, "getmany", make_getmany) or patched


def _servers(client):
    return getattr(client, "_bootstrap_servers", None)


#: the tags of a sent and a received message that change per message, in the order ddtrace's spans take them
SEND_KEYS = ("kafka.topic", "messaging.destination.name", "messaging.kafka.bootstrap.servers", "kafka.cluster_id",
             "kafka.tombstone", "kafka.message_key", "kafka.partition")  # fmt: skip
GETONE_KEYS = ("kafka.topic", "messaging.destination.name", "messaging.kafka.bootstrap.servers", "kafka.group_id",
               "kafka.cluster_id", "kafka.received_message", "kafka.tombstone", "kafka.message_key",
               "kafka.partition", "kafka.message_offset")  # fmt: skip

#: the tasks asking a broker for its cluster id (the loop holds its tasks weakly only)
_asking = set()


def learn_cluster_id(client):
    """Ask ``client``'s broker for its cluster id in a task on the running loop, so that no traced call waits
    for it: ``client._dd_cluster_id`` is ``""`` until the broker answers, then the id. Returns ``""``."""
    if client is None:
        return ""
    try:
        client._dd_cluster_id = ""
        task = asyncio.get_running_loop().create_task(_ask(client))
    except Exception:  # never raised into the traced call
        return ""
    _asking.add(task)
    task.add_done_callback(_asking.discard)
    return ""


async def _ask(client):
    cluster_id = None
    try:
        node = client.get_random_node()
        if node is None:  # no broker known yet (as ddtrace: wait for the client's metadata)
            timeout = getattr(client, "_request_timeout_ms", 40000) / 1000
            await asyncio.wait_for(client.force_metadata_update(), timeout)
            node = client.get_random_node()
        if node is not None:
            cluster_id = getattr(await client.send(node, _metadata_request()), "cluster_id", None)
    except Exception:
        pass
    except BaseException:  # cancelled (the loop ending): not the broker's failure, asked again by the next call
        _forget(weakref.ref(client))
        raise
    if cluster_id and isinstance(cluster_id, str):
        client._dd_cluster_id = cluster_id
        return
    try:  # asked again by the first traced call after CLUSTER_ID_RETRY seconds
        asyncio.get_running_loop().call_later(CLUSTER_ID_RETRY, _forget, weakref.ref(client))
    except Exception:
        pass


def _forget(ref):
    client = ref()
    if client is not None and getattr(client, "_dd_cluster_id", None) == "":
        del client._dd_cluster_id


def _metadata_request():
    """A Metadata request for no topic (its answer carries the cluster id from version 2 on)."""
    from aiokafka.protocol import metadata

    if isinstance(metadata.MetadataRequest, type):  # aiokafka 0.13+: sent in the version the broker speaks
        return metadata.MetadataRequest(topics=[], allow_auto_topic_creation=False)
    return metadata.MetadataRequest_v5(topics=[], allow_auto_topic_creation=False)  # older: one per version


def _tag_cluster_id(span, client):
    cluster_id = getattr(client, "_dd_cluster_id", None)
    if cluster_id:
        span.set_tag("kafka.cluster_id", cluster_id)


def _text(value):
    """A tag's value as ``set_tag`` stores it: None as ``"None"`` (ddtrace tags a missing topic so)."""
    return "None" if value is None else value


def key_value(key, sending):
    """``kafka.message_key`` as ddtrace tags it (None: not tagged): UTF-8 keys decoded (others not
    tagged); no key is ``"None"`` on the producer's span, and not tagged on the consumer's."""
    if not key:
        return "None" if sending else None
    if isinstance(key, (bytes, bytearray)):
        try:
            return bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return key if sending or isinstance(key, str) else None


def _sent(span, done):
    """The delivery of a sent message ended: tag where it went, or its error, and end the span."""
    if done.cancelled():
        span.finish()
        return
    exc = done.exception()
    if exc is None:
        metadata = done.result()
        partition = getattr(metadata, "partition", None)
        offset = getattr(metadata, "offset", None)
        if isinstance(partition, int):
            span.set_tag("kafka.partition", partition)
        if isinstance(offset, int):
            span.set_tag("kafka.message_offset", offset)
        span.finish()
    else:
        span.set_exc_info(type(exc), exc, exc.__traceback__)
        span.finish()


def _too_large(producer, key, value, traced):
    """Whether our headers make a message exceed the producer's ``max_request_size`` (only computed for
    a message of bytes within ``_HEADROOM`` of the limit; one that exceeds it anyway fails as it would
    untraced)."""
    if not isinstance(value, (bytes, bytearray)) or (key is not None and not isinstance(key, (bytes, bytearray))):
        return False
    if not isinstance(traced, list):
        return False
    limit = producer._max_request_size
    if len(value) + (len(key) if key else 0) + _HEADROOM < limit:
        return False
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    headers = [(k, _bytes(v)) for k, v in traced]
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers) > limit


def _bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def unpatch():
    import aiokafka

    _patch.unwrap(aiokafka.AIOKafkaProducer, "send")
    _patch.unwrap(aiokafka.AIOKafkaConsumer, "getone")
    _patch.unwrap(aiokafka.AIOKafkaConsumer, "getmany")
