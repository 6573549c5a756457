"""``patch()`` (``ddfast.patch(kafka=True)``, as ddtrace names it): trace confluent-kafka's producers and
consumers.

- ``Producer.produce`` (and ``SerializingProducer.produce``): a ``kafka.produce`` span (type ``worker``,
  child of the active span) for the call, whose context is written into the message's headers in the
  configured styles (``x-datadog-trace-id``, ``x-datadog-parent-id``, ``x-datadog-sampling-priority``,
  ``x-datadog-tags``, ``traceparent``, ``tracestate``...: text names, UTF-8 values), as ddtrace writes them.
  Headers given as a dict or as a list of pairs are copied with ours added (a header of the same name
  replaced), never changed in place (headers of a type the client refuses are left for it to refuse);
  the message's key and value are never touched.
- ``Consumer.poll`` and ``Consumer.consume`` (and ``DeserializingConsumer.poll``): a ``kafka.consume``
  span for the call, started before it, child of the context the (first) message's headers carry, else of
  the active span. A batch (``consume()``) also links every message's context as span links. A poll that
  returns nothing still makes a span (``kafka.received_message: False``) unless
  ``DD_KAFKA_EMPTY_POLL_ENABLED=false``, as in ddtrace.

As confluent-kafka's classes are compiled types whose methods cannot be replaced, ``patch()`` puts traced
subclasses in their place in the ``confluent_kafka`` module (as ddtrace does): a class imported by name
before ``patch()`` stays untraced (``ddfast-run`` patches on import, before the program's own imports).

Settings (read at ``patch()``): ``DD_KAFKA_SERVICE`` (default ``kafka``; the application's under
``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``), ``DD_KAFKA_PROPAGATION_ENABLED`` (ddtrace's, off by default there;
here on unless ``false``), ``DD_KAFKA_EMPTY_POLL_ENABLED``, ``DD_TRACE_PROPAGATION_AS_SPAN_LINKS``
containing ``kafka`` (every consumed message's context as a span link, none as the parent). Span names,
types and tags are ddtrace 4.16's (``kafka.send`` / ``kafka.process`` under schema v1).

Differences from ddtrace 4.16, on purpose:

- propagation is on by default; a batch links every message's context;
- ``kafka.message_offset`` of a message at offset 0 is 0 (ddtrace tags -1: it reads ``offset() or -1``);
- headers given as a list of pairs get the context too (ddtrace writes into them as into a dict: a list
  makes its ``produce`` raise); the caller's dict is not changed in place;
- headers passed positionally are read where ``Producer.produce`` takes them (ddtrace writes its dict
  where the timestamp goes: ``produce`` raises); a positional key is tagged as a keyword one is;
- a ``SerializingProducer``'s key is tagged only when it is text (ddtrace calls the key serializer a
  second time to tag its output);
- ``kafka.cluster_id`` is asked for in the background when a producer is made (ddtrace asks on the
  producer's first message, which waits up to a second for it): the first messages of a producer may go
  without it; consumers tag the id a producer of the same servers learnt, as ddtrace's do; no Data Streams
  Monitoring checkpoints;
- the headers are not injected when they would make the message exceed the producer's
  ``message.max.bytes`` (counted in ``ddfast.propagation.ERRORS``): the message is sent as it would be
  without tracing.
"""

import os
import threading
import time
import weakref

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration
from ddfast.contrib.integration import record as _record
from ddfast.settings import asbool

PROPAGATION_SETTING = "DD_KAFKA_PROPAGATION_ENABLED"
#: librdkafka's default ``message.max.bytes``
DEFAULT_MAX_BYTES = 1000000
#: the size of the headers a message can take from us at most (room kept below the limit)
_HEADROOM = 4096
#: more than librdkafka counts for a message besides its key, value and headers
_MESSAGE_OVERHEAD = 64

#: the tags of a produced and a consumed message that change per message, in the order the spans take them
PRODUCE_KEYS = ("kafka.topic", "messaging.destination.name", "kafka.message_key", "kafka.partition",
                "kafka.tombstone", "messaging.kafka.bootstrap.servers", "kafka.cluster_id")  # fmt: skip
CONSUME_KEYS = ("kafka.received_message", "kafka.group_id", "kafka.cluster_id", "kafka.topic",
                "messaging.destination.name", "kafka.message_key", "kafka.partition", "kafka.tombstone",
                "kafka.message_offset")  # fmt: skip

#: bootstrap servers -> the cluster id a producer of them learnt (what their consumers tag: a consumer never
#: asks, as asking on a consumer's handle risks librdkafka's issue 4214)
_cluster_ids = {}
#: how long a producer waits before asking again when the broker did not tell its cluster id (seconds)
CLUSTER_ID_RETRY = 300.0

_CLASSES = ("Producer", "Consumer", "SerializingProducer", "DeserializingConsumer")
_originals = {}


class Names:
    """What the integration's spans are called, chosen once (``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA``)."""

    __slots__ = ("produce", "consume", "service")

    def __init__(self, inbound="process"):
        v1 = _http.schema_v1()
        self.produce = "kafka.send" if v1 else "kafka.produce"
        self.consume = ("kafka." + inbound) if v1 else "kafka.consume"
        self.service = None if v1 else "kafka"


def make_integration(name, tracer, service, distributed_tracing):
    """The ``Integration`` of ``name`` (``kafka``, ``aiokafka``): ``service`` else ``DD_KAFKA_SERVICE``
    else ``kafka`` (v0), links by default unless ``DD_KAFKA_PROPAGATION_ENABLED=false``."""
    names = Names("process" if name == "kafka" else "receive")
    service = service or _kafka_service() or names.service
    integ = Integration(
        "kafka", tracer=tracer, service=service, distributed_tracing=distributed_tracing,
        propagation_setting=PROPAGATION_SETTING,
    )  # fmt: skip
    return integ, names


def _kafka_service():
    value = os.environ.get("DD_KAFKA_SERVICE")
    return value.strip() or None if value else None


def links_only():
    """``DD_TRACE_PROPAGATION_AS_SPAN_LINKS`` names ``kafka``: the consumer links, never continues."""
    value = os.environ.get("DD_TRACE_PROPAGATION_AS_SPAN_LINKS", "")
    return "kafka" in [v.strip().lower() for v in value.split(",")]


def link_all(integ, span, carriers):
    """Link ``span`` to the context of every carrier (a message's headers) that has one."""
    for carrier in carriers:
        context = integ.extract(carrier)
        if context is None or not context.span_id:
            continue
        span.link_span(context)
        # the contexts of other styles that extraction found in conflict with it (another trace id),
        # linked too, as ddtrace links them; one link per span id: the extracted context's is kept
        for extra in context._span_links:
            if extra.span_id != context.span_id:
                try:
                    span.set_link(extra.trace_id, extra.span_id, extra.tracestate, extra.flags, extra.attributes)
                except (TypeError, ValueError):
                    pass


def headers_size(headers):
    """Bytes the headers take in a message (names and values; a small overhead each)."""
    size = 0
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for item in items:
            try:
                name, value = item
                size += len(name) + (len(value) if value is not None else 0) + 8
            except (TypeError, ValueError):
                pass
    return size


def with_context(integ, span, headers, encoding=None):
    """The caller's ``headers`` (a dict or a list of pairs) with ``span``'s context added: a new object
    (pairs with values encoded with ``encoding``, else text), or ``headers`` itself when there is nothing
    to add or it cannot be read. (A message without headers takes ``MessageSpans.context_pairs``.)"""
    if isinstance(headers, dict):
        added = {}
        integ.inject(span, added)
        if not added:
            return headers
        if not headers:
            return added
        merged = {k: v for k, v in headers.items() if not (isinstance(k, str) and k.lower() in added)}
        merged.update(added)
        return merged
    if isinstance(headers, list):  # (a tuple, or any other type, both clients refuse: left to them)
        pairs = []
        for pair in headers:
            if not isinstance(pair, tuple) or len(pair) != 2:
                return headers  # what the library will refuse: left as it is
            pairs.append(pair)
        if not integ.inject_pairs(span, pairs, encoding):
            return headers
        return pairs
    return headers


def key_text(key):
    """A message key as its tag: text, bytes decoded (an invalid byte replaced), nothing as ``""``."""
    if key is None:
        return ""
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("utf-8", "replace")
    return key


def message_values(message, group, cluster_id=None):
    """The per-message tags of a consumed message's span (``CONSUME_KEYS``' values)."""
    topic = message.topic()
    key = message.key()
    if type(key) is bytes:
        key = key.decode("utf-8", "replace")
    elif key is None:
        key = ""
    elif not isinstance(key, str):
        key = None  # another type (a deserialized key): not tagged
    try:
        tombstone = "True" if len(message) == 0 else "False"
    except TypeError:
        tombstone = "False"
    offset = message.offset()
    return (
        "True", group, cluster_id, topic if type(topic) is str else str(topic),
        topic if type(topic) is str else str(topic), key, message.partition(), tombstone,
        offset if offset is not None else -1,
    )  # fmt: skip


def message_spans(integ, names):
    """``(producing, consuming)``: the core's ``MessageSpans`` of a producer's and a consumer's spans (each
    message's span made, tagged and parented in one compiled call). The context is written as text
    values: confluent-kafka sends a text header value as its UTF-8 bytes (an ASCII str's bytes read in
    place, not copied), as it sends the caller's own text values."""
    common = {"messaging.system": "kafka", "component": "kafka", "_dd.measured": 1}
    producer, consumer = dict(common, **{"span.kind": "producer"}), dict(common, **{"span.kind": "consumer"})
    return (
        integ.message_spans(names.produce, "worker", producer, PRODUCE_KEYS, as_bytes=False),
        integ.message_spans(names.consume, "worker", consumer, CONSUME_KEYS),
    )


def traced_methods(message_type, tracer=None, service=None, distributed_tracing=None):
    """``(make_produce, make_poll, make_consume)``: each makes the traced version of a library method
    (``make_produce(produce, serializing)``, ``make_poll(poll)``, ``make_consume(consume)``); the
    settings are read now. ``message_type``: the class of the messages ``poll()`` returns."""
    integ, names = make_integration("kafka", tracer, service, distributed_tracing)
    empty_polls = asbool(os.environ.get("DD_KAFKA_EMPTY_POLL_ENABLED"), True)
    as_links = links_only()
    http = integ.http  # the tracer's request path: its state, and the core's span start
    state = http.state
    inject_ok = integ.distributed
    time_ns = time.time_ns

    producing, consuming = message_spans(integ, names)
    start_produce, context_pairs, start_consume = producing.start, producing.context_pairs, consuming.consume

    def make_produce(produce, serializing):
        at = 6 if serializing else 7  # where a positional ``headers`` is

        def traced_produce(self, *args, **kwargs):
            if not state.enabled:
                return produce(self, *args, **kwargs)
            n = len(args)
            topic = args[0] if n else kwargs.get("topic")
            if serializing:  # (topic, key, value, partition, on_delivery, timestamp, headers)
                key = args[1] if n > 1 else kwargs.get("key")
                value = args[2] if n > 2 else kwargs.get("value")
            else:  # (topic, value, key, partition, on_delivery, callback, timestamp, headers)
                value = args[1] if n > 1 else kwargs.get("value")
                key = args[2] if n > 2 else kwargs.get("key")
            partition = args[3] if n > 3 else kwargs.get("partition", -1)
            if type(key) is bytes and not serializing:
                key_tag = key.decode("utf-8", "replace")
            else:  # a serializing producer's key is tagged when it is text only
                key_tag = key_text(key) if not serializing or isinstance(key, str) else None
            # active during the call only where Python code runs in it: a SerializingProducer's serializers
            # (a Producer's produce runs none, and a delivery callback runs later, in poll())
            span = start_produce((
                topic or "", topic or None, key_tag, partition, "False" if value is not None else "True",
                getattr(self, "_dd_bootstrap_servers", None), getattr(self, "_dd_cluster_id", None) or None,
            ), None, serializing)  # fmt: skip
            try:
                if inject_ok:
                    headers = args[at] if n > at else kwargs.get("headers")
                    traced = context_pairs(span) if headers is None else with_context(integ, span, headers)
                    if traced is not headers and _too_large(self, value, key, traced):
                        _record("message_too_large", "kafka")
                    elif n > at:
                        args = args[:at] + (traced,) + args[at + 1 :]
                    else:
                        kwargs["headers"] = traced
                result = produce(self, *args, **kwargs)
            except BaseException as exc:
                integ.finish(span, exc)
                raise
            span.finish()
            return result

        return traced_produce

    def consume_span(instance, messages, start_ns, exc, batch):
        first = messages[0] if messages else None
        group = getattr(instance, "_dd_group_id", "")
        if first is None:
            span = start_consume(None, ("False", group, consumer_cluster_id(instance)), False, start_ns)
        else:
            values = message_values(first, group, consumer_cluster_id(instance))
            span = start_consume(None if as_links else first.headers(), values, False, start_ns)
        if inject_ok and (batch or as_links) and messages:
            link_all(integ, span, [m.headers() for m in messages])
        if exc is None:
            span.finish()
        else:
            integ.finish(span, exc)

    def make_poll(poll):
        def traced_poll(self, *args, **kwargs):
            if not state.enabled:
                return poll(self, *args, **kwargs)
            start_ns = time_ns()
            try:
                message = poll(self, *args, **kwargs)
            except Exception as exc:
                consume_span(self, (), start_ns, exc, False)
                raise
            if type(message) is message_type and not as_links:  # the usual poll, inline: one message
                # the message's producer is the parent (as ddtrace), unless the settings want links only
                values = message_values(message, getattr(self, "_dd_group_id", ""), consumer_cluster_id(self))
                start_consume(message.headers(), values, False, start_ns).finish()
            elif isinstance(message, message_type):
                consume_span(self, (message,), start_ns, None, False)
            elif empty_polls:
                consume_span(self, (), start_ns, None, False)
            return message

        return traced_poll

    def make_consume(consume):
        def traced_consume(self, *args, **kwargs):
            if not state.enabled:
                return consume(self, *args, **kwargs)
            start_ns = time_ns()
            try:
                messages = consume(self, *args, **kwargs)
            except Exception as exc:
                consume_span(self, (), start_ns, exc, True)
                raise
            if messages or empty_polls:
                consume_span(self, messages or (), start_ns, None, True)
            return messages

        return traced_consume

    return make_produce, make_poll, make_consume


def patch(tracer=None, service=None, distributed_tracing=None):
    """Trace confluent-kafka's ``Producer``, ``Consumer``, ``SerializingProducer`` and
    ``DeserializingConsumer``; a second call changes nothing. True when patched now."""
    import confluent_kafka

    if _originals:
        return False
    make_produce, make_poll, make_consume = traced_methods(confluent_kafka.Message, tracer, service,
                                                           distributed_tracing)  # fmt: skip
    for name in _CLASSES:
        base = getattr(confluent_kafka, name, None)
        if base is None:
            continue
        producer = "Producer" in name
        serializing = name == "SerializingProducer"
        namespace = {"__init__": _make_init(base, producer), "__module__": base.__module__}
        if producer:
            namespace["produce"] = make_produce(base.produce, serializing)
        else:
            namespace["poll"] = make_poll(base.poll)
            if name == "Consumer":
                namespace["consume"] = make_consume(base.consume)
        traced = type(name, (base,), namespace)
        traced.__qualname__ = base.__qualname__
        traced.__doc__ = base.__doc__
        setattr(traced, _patch.ORIGINAL, base)
        _originals[name] = base
        setattr(confluent_kafka, name, traced)
    return True


def _config_of(args, kwargs):
    conf = args[0] if args and isinstance(args[0], dict) else kwargs
    return conf if isinstance(conf, dict) else {}


def _servers(conf):
    servers = conf.get("bootstrap.servers")
    return servers if servers is not None else conf.get("metadata.broker.list")


def _make_init(base, producer):
    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        conf = _config_of(args, kwargs)
        self._dd_bootstrap_servers = _servers(conf)
        self._dd_cluster_id = ""  # learnt in the background: a produce never waits for it (ddtrace's first does)
        if producer:
            try:
                self._dd_max_bytes = int(conf.get("message.max.bytes", DEFAULT_MAX_BYTES))
            except (TypeError, ValueError):
                self._dd_max_bytes = DEFAULT_MAX_BYTES
            learn_cluster_id(self)
        else:
            self._dd_group_id = conf.get("group.id", "")

    return __init__


def consumer_cluster_id(consumer):
    """The cluster id of ``consumer``'s servers once a producer of them learnt it, else None."""
    known = getattr(consumer, "_dd_cluster_id", None)
    if known:
        return known
    known = _cluster_ids.get(getattr(consumer, "_dd_bootstrap_servers", None))
    if known:
        consumer._dd_cluster_id = known
    return known


def learn_cluster_id(producer):
    """Ask the broker for ``producer``'s cluster id in a thread of its own (``kafka.cluster_id`` of the
    spans once it answers; asked again after ``CLUSTER_ID_RETRY`` seconds when it does not)."""
    ref = weakref.ref(producer)

    def ask():
        while True:
            target = ref()
            if target is None:
                return
            try:
                cluster_id = target.list_topics(timeout=5.0).cluster_id
            except Exception:
                cluster_id = None
            if cluster_id:
                target._dd_cluster_id = cluster_id
                _cluster_ids[target._dd_bootstrap_servers] = cluster_id
                return
            del target
            time.sleep(CLUSTER_ID_RETRY)

    threading.Thread(target=ask, name="ddfast-kafka-cluster-id", daemon=True).start()


def _too_large(producer, value, key, traced):
    """Whether the message with our headers could exceed the producer's ``message.max.bytes`` (only
    computed for a message within ``_HEADROOM`` of the limit; a message that exceeds it anyway fails
    as it would untraced)."""
    limit = getattr(producer, "_dd_max_bytes", DEFAULT_MAX_BYTES)
    try:
        size = (len(value) if value is not None else 0) + (len(key) if key is not None else 0)
    except TypeError:
        return False
    if size + _HEADROOM < limit:
        return False
    return size + headers_size(traced) + _MESSAGE_OVERHEAD > limit


def unpatch():
    """Put confluent-kafka's own classes back."""
    import confluent_kafka

    for name, base in _originals.items():
        setattr(confluent_kafka, name, base)
    _originals.clear()
