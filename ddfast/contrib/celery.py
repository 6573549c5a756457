"""``patch()``: Celery tasks traced as ddtrace 4.16 traces them, with their trace carried in the task
message from the producer to the worker. ``unpatch()`` undoes it.

Producer (``Task.apply_async``, ``Celery.send_task``, a canvas: whatever publishes a task message): a
``celery.apply`` span (resource: the task's name; no span type; ``span.kind`` producer, ``celery.action``
``apply_async``, ``celery.id``, ``celery.routing_key``, ``celery.hostname`` (the producer's node),
``out.host`` and ``network.destination.port`` of the broker) under the active span, active while the
message is sent. Its context goes into the message where ddtrace 4.16 writes it: the propagation
headers of the configured styles, as a dict under the key ``headers`` of the message's headers (Celery's
protocol 2 hands that dict to the worker as ``task.request.headers``). ``traceparent`` and
``tracestate`` also go at the top level of the message's headers, where OpenTelemetry's Celery
instrumentation writes and reads them (the worker's ``task.request`` attributes), so that an
OpenTelemetry worker continues the trace too. A publish that fails ends the span with the error.

Worker (``task_prerun`` to ``task_postrun``): a ``celery.run`` span (resource: the task's name; type
``worker``; ``span.kind`` consumer; ``celery.action`` ``run``, ``celery.state``, ``celery.id``,
``celery.hostname`` (the worker's), ``celery.delivery_info.*`` and the request's other routing tags),
child of the context the message carries: ``task.request.headers`` (ddtrace's layout and ddfast's), else
the request's top-level fields (OpenTelemetry's ``traceparent``). A message without a readable context
(none, truncated, hostile: counted in ``ddfast.propagation.ERRORS``) starts a new trace, and the task runs
as it would untraced. A task that fails is an error span (not for the exceptions of ``Task.throws``, as
in ddtrace); a retry tags ``celery.retry.reason``.

Beat (``celery.beat.Scheduler``): a ``celery.beat.tick`` span per tick and a ``celery.beat.apply_entry``
span (resource: the entry's name) per entry it applies, type ``worker``, ``span.kind`` producer, the worker's
service, as ddtrace's; the task's ``celery.apply`` span is a child of its entry's.

Services, as in ddtrace: ``DD_CELERY_PRODUCER_SERVICE`` / ``DD_CELERY_WORKER_SERVICE``, else
``DD_SERVICE``, else ``celery-producer`` / ``celery-worker``; under ``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``
(or ``DD_TRACE_REMOVE_INTEGRATION_SERVICE_NAMES_ENABLED``) the tracer's service. Span names are the same
under both schemas, as in ddtrace.

Differences from ddtrace 4.16:

- the trace is carried by default: ``DD_CELERY_DISTRIBUTED_TRACING=false`` (or
  ``patch(distributed_tracing=False)``) neither injects nor extracts; ddtrace does neither unless it is
  ``true``;
- a task published by a name the producer has not registered (``send_task``) gets its ``celery.apply``
  span too; ddtrace only injects the active context then;
- a worker span's ``celery.hostname`` is the worker's node name: ddtrace tags it from both the request's
  ``hostname`` and ``origin`` (the producer's node), in the iteration order of a frozenset of strings,
  which changes with the process's hash seed, so its value there is either at random;
- the OpenTelemetry layout is read by the worker and written by the producer (ddtrace reads it only
  where Celery copies top-level headers into ``task.request.headers``);
- no ``_dd.svc_src`` tag.
"""

import contextvars
import os

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration
from ddfast.contrib.integration import record as _record

PRODUCER_NAME = "celery.apply"
WORKER_NAME = "celery.run"
COMPONENT = "celery"
#: the message header holding the propagation headers (ddtrace's layout)
CARRIER_KEY = "headers"
#: the headers also written at the top level of the message's headers (OpenTelemetry's layout)
TOP_LEVEL = ("traceparent", "tracestate")

_PRODUCER_TAGS = {"component": COMPONENT, "span.kind": "producer", "_dd.measured": 1, "celery.action": "apply_async"}
_WORKER_TAGS = {"component": COMPONENT, "span.kind": "consumer", "_dd.measured": 1}
#: the fields of a message or request that ddtrace tags besides those read one by one below (a message's
#: custom headers, a request's rarer fields), and their tags
_OTHER_FIELDS = (
    ("compression", "celery.compression"),
    ("countdown", "celery.countdown"),
    ("exchange", "celery.exchange"),
    ("priority", "celery.priority"),
    ("queue", "celery.queue"),
    ("routing_key", "celery.routing_key"),
    ("serializer", "celery.serializer"),
    ("state", "celery.state"),
)
_OTHER_KEYS = frozenset(key for key, _tag in _OTHER_FIELDS)

#: the signals patch() connected, None when unpatched
_patched = None
#: the receivers it connected, by signal name (and the send_task wrapper's maker)
_handlers = {}
#: task id -> (its celery.run span, its request, the entry of an outer run of the same id), from task_prerun
#: to task_postrun
_running = {}
#: app -> its broker's (out.host, network.destination.port), as ddtrace derives them
_brokers = {}


def patch(tracer=None, distributed_tracing=None):
    """Trace Celery's task publishing and task runs; a second call changes nothing (``unpatch`` first to
    change the tracer)."""
    global _patched
    import celery
    from celery import signals
    from celery._state import get_current_app

    if _patched is not None:
        return False
    from celery import beat

    integration = Integration("celery", tracer=tracer, distributed_tracing=distributed_tracing)
    integration.service = None  # ddtrace reads DD_CELERY_PRODUCER_SERVICE / _WORKER_SERVICE, not DD_CELERY_SERVICE
    producer_service, worker_service = _services(integration.tracer)
    receivers = _make_receivers(integration, producer_service, worker_service, get_current_app)
    _handlers.update(receivers)
    _patched = []
    for name, receiver in receivers.items():
        if name == "send_task":
            _patch.wrap(celery.Celery, "send_task", receiver)
            continue
        signal = getattr(signals, name)
        signal.connect(receiver, weak=False, dispatch_uid=_UID)
        _patched.append(signal)
    # beat: a span per tick and per entry it applies (the task's celery.apply span under it), as ddtrace's
    state = integration.http.state
    for method, resource_of in (("tick", None), ("apply_entry", _entry_name)):
        spans = integration.message_spans("celery.beat." + method, "worker", _BEAT_TAGS, (), worker_service)
        _patch.wrap(beat.Scheduler, method, _traced_beat(spans, state, resource_of))
    return True


_BEAT_TAGS = {"span.kind": "producer", "_dd.measured": 1}


def _entry_name(args, kwargs):
    """The name of the schedule entry ``Scheduler.apply_entry(entry, ...)`` applies (its span's resource)."""
    entry = args[0] if args else kwargs.get("entry")
    name = getattr(entry, "name", None)
    return name if isinstance(name, str) else None


def _traced_beat(spans, state, resource_of):
    """The maker of a traced ``Scheduler`` method: its span (of ``spans``) active while it runs."""

    def make(original):
        def traced(self, *args, **kwargs):
            if not state.enabled:
                return original(self, *args, **kwargs)
            span = spans.start(None, None, True, resource_of(args, kwargs) if resource_of is not None else None)
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                spans.finish(span, exc)
                raise
            span.finish()
            return result

        return traced

    return make


def unpatch():
    global _patched
    import celery

    if _patched is None:
        return
    from celery import beat

    for signal in _patched:
        signal.disconnect(dispatch_uid=_UID)
    _patch.unwrap(celery.Celery, "send_task")
    _patch.unwrap(beat.Scheduler, "tick")
    _patch.unwrap(beat.Scheduler, "apply_entry")
    _patched = None
    _handlers.clear()
    _running.clear()


_UID = "ddfast.contrib.celery"


def _services(tracer):
    """(producer service, worker service) as ddtrace names them; None: the tracer's own."""
    if not _http._integration_services():
        return None, None
    default = tracer.http.state.service
    producer = os.environ.get("DD_CELERY_PRODUCER_SERVICE", "").strip() or default or "celery-producer"
    worker = os.environ.get("DD_CELERY_WORKER_SERVICE", "").strip() or default or "celery-worker"
    return producer, worker


def _make_receivers(integration, producer_service, worker_service, current_app):
    """The signal receivers (and the ``Celery.send_task`` wrapper) of one patch, with what they run per
    message bound once."""
    tracer_state = integration.http.state
    distributed = integration.distributed
    extract, inject, finish = integration.extract, integration.inject, integration.finish
    # each message's span started, given its constant tags (and the exchange and routing key) in one call
    publish_span = integration.message_spans(
        PRODUCER_NAME, None, _PRODUCER_TAGS, ("celery.exchange", "celery.routing_key"), producer_service
    ).start
    run_span = integration.message_spans(WORKER_NAME, "worker", _WORKER_TAGS, (), worker_service).start
    running = _running
    #: the celery.apply span between before_task_publish and after_task_publish (both run in the
    #: publishing call's thread and context)
    publishing = contextvars.ContextVar("ddfast_celery_publishing", default=None)

    # -- the producer --------------------------------------------------------------------------------------

    def before_task_publish(sender=None, body=None, exchange=None, routing_key=None, headers=None, **_):
        if not tracer_state.enabled:
            return
        try:
            span = publish_span((exchange or None, routing_key or None), None, True, sender)
            publishing.set(span)
            if type(headers) is not dict:  # protocol 1: the task's fields are in the body
                if type(body) is dict and body.get("id") is not None:
                    span.set_tag("celery.id", body["id"])
                return
            task_id = headers.get("id")
            if task_id is not None:
                span.set_tag("celery.id", task_id)
            _tag_fields(span, headers)
            origin = headers.get("origin")
            if origin:
                span.set_tag("celery.hostname", origin)
            if distributed:
                carried = {}
                inject(span, carried)
                nested = headers.get(CARRIER_KEY)
                if type(nested) is dict:
                    nested.update(carried)
                else:
                    headers[CARRIER_KEY] = carried
                for key in TOP_LEVEL:
                    value = carried.get(key)
                    if value is not None:
                        headers[key] = value
        except Exception:  # a message it cannot read is published untraced
            _record("celery_publish", sender)

    def after_task_publish(**_):
        span = publishing.get()
        if span is None:
            return
        publishing.set(None)
        try:
            host, port = _broker(current_app())
            if host:
                span.set_tag("out.host", host)
            if port:
                span.set_metric("network.destination.port", port)
        finally:
            span.finish()

    def send_task(original):
        def traced_send_task(self, *args, **kwargs):
            try:
                return original(self, *args, **kwargs)
            except BaseException as exc:
                span = publishing.get()
                if span is not None:  # the message was not sent: after_task_publish did not come
                    publishing.set(None)
                    finish(span, exc)
                raise

        return traced_send_task

    # -- the worker ----------------------------------------------------------------------------------------

    def task_prerun(sender=None, task_id=None, **_):
        if sender is None or task_id is None or not tracer_state.enabled:
            return
        try:
            context = None
            request = sender.request
            if distributed:
                carrier = request.headers  # ddtrace's layout; Celery >= 5.3: the custom headers too
                if carrier:
                    context = extract(carrier)
                if context is None:
                    fields = request.__dict__
                    if "traceparent" in fields:  # OpenTelemetry's layout, on any Celery
                        context = extract(fields)
            span = run_span(None, context, True, sender.name)
            # a task run again under the same id inside its own run (a retry applied there) stacks on it
            running[task_id] = span, request, running.get(task_id)
        except Exception:  # the task runs untraced
            _record("celery_run", task_id)

    def task_postrun(sender=None, task_id=None, state=None, **_):
        entry = running.pop(task_id, None)
        if entry is None:
            return
        span, request, outer = entry
        if outer is not None:
            running[task_id] = outer
        try:
            span.set_tag("celery.action", "run")
            if state:
                span.set_tag("celery.state", state)
            fields = request.__dict__
            task_id = fields.get("id")
            if task_id:
                span.set_tag("celery.id", task_id)
            hostname = fields.get("hostname") or fields.get("origin")
            if hostname:
                span.set_tag("celery.hostname", hostname)
            _tag_fields(span, fields)
        except Exception:
            pass
        finally:
            span.finish()

    def task_failure(sender=None, task_id=None, einfo=None, **_):
        entry = running.get(task_id)
        if entry is None or einfo is None:
            return
        span = entry[0]
        exc = getattr(einfo, "exception", None)
        exc = getattr(exc, "exc", exc)  # the original of an exception Celery wrapped
        if exc is None:
            return
        throws = getattr(sender, "throws", None)
        if throws:
            try:
                if isinstance(exc, throws):  # an expected error: not an error span, as in ddtrace
                    return
            except TypeError:
                pass
        span.set_exc_info(getattr(einfo, "type", None) or type(exc), exc, getattr(einfo, "tb", None))

    def task_retry(request=None, reason=None, **_):
        if request is None or not reason:
            return
        entry = running.get(getattr(request, "id", None))
        if entry is not None:
            entry[0].set_tag("celery.retry.reason", str(reason))

    return {
        "before_task_publish": before_task_publish,
        "after_task_publish": after_task_publish,
        "send_task": send_task,
        "task_prerun": task_prerun,
        "task_postrun": task_postrun,
        "task_failure": task_failure,
        "task_retry": task_retry,
    }


def _tag_fields(span, fields):
    """ddtrace's tags of a Celery context (a message's headers, a task's request ``__dict__``): each field
    set, except an unset ``timelimit`` and zero ``retries``; dicts flattened
    (``celery.delivery_info.routing_key``). ``id`` and ``hostname``/``origin`` are the callers'."""
    value = fields.get("eta")
    if value is not None and value != "":
        span.set_tag("celery.eta", value)
    value = fields.get("expires")
    if value is not None and value != "":
        span.set_tag("celery.expires", value)
    value = fields.get("retries")
    if value:
        span.set_tag("celery.retries", value)
    value = fields.get("timelimit")
    if value and value != _NO_TIMELIMIT and _is_set(value):
        span.set_tag("celery.timelimit", value)
    value = fields.get("correlation_id")
    if value:
        span.set_tag("celery.correlation_id", value)
    value = fields.get("reply_to")
    if value:
        span.set_tag("celery.reply_to", value)
    value = fields.get("delivery_info")
    if value:
        if type(value) is dict:
            _tag_flat(span, "celery.delivery_info", value)
        else:
            span.set_tag("celery.delivery_info", value)
    if _OTHER_KEYS.isdisjoint(fields):
        return
    for key, tag in _OTHER_FIELDS:
        value = fields.get(key)
        if value is None or value == "":
            continue
        if type(value) is dict:
            _tag_flat(span, tag, value)
        else:
            span.set_tag(tag, value)


_NO_TIMELIMIT = [None, None]  # what a message carries when no time limit is set


def _is_set(timelimit):
    try:
        return not all(v is None for v in timelimit)
    except TypeError:
        return True


#: the tags of delivery_info's usual fields
_DELIVERY_TAGS = {key: "celery.delivery_info." + key for key in ("exchange", "routing_key", "priority", "redelivered")}


def _tag_flat(span, prefix, value, depth=0):
    """A dict's items as ``prefix.key`` tags, nested dicts flattened, as ddtrace flattens them."""
    known = _DELIVERY_TAGS if prefix == "celery.delivery_info" else _NO_TAGS
    for key, item in value.items():
        tag = known.get(key) or "%s.%s" % (prefix, key)
        if type(item) is dict and depth < 4:
            _tag_flat(span, tag, item, depth + 1)
        elif item is not None:
            span.set_tag(tag, item)


_NO_TAGS = {}


def _broker(app):
    """(host, port) of ``app``'s broker, as ddtrace tags them; read once per app."""
    found = _brokers.get(app)
    if found is None:
        url = app.conf.broker_url
        if isinstance(url, list):
            url = url[0] if url else None
        found = _brokers[app] = _parse_broker(url)
    return found


def _parse_broker(url):
    from urllib.parse import urlparse

    if url == "memory://":
        return url, None
    if not isinstance(url, str):
        return None, None
    try:
        parsed = urlparse(url)
        return parsed.hostname, parsed.port
    except ValueError:
        return None, None
