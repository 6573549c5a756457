"""An OpenTracing 2.x ``Tracer`` on ddfast's core, for code written against the OpenTracing API (as in
Datadog's Java and Python OpenTracing examples).

``inject(span_context, Format.HTTP_HEADERS | Format.TEXT_MAP, carrier)`` writes the context in the
configured propagation styles into a dict or any TextMap-like adapter (``__setitem__``, ``put`` or
``set``); ``extract(format, carrier)`` reads a mapping, a list of pairs or an adapter with ``items``
(or one that is iterable over pairs) and returns a ``SpanContext``, ``None`` when the carrier holds no
trace, or raises ``SpanContextCorruptedException`` when it holds trace headers that cannot be decoded.
Other formats raise ``UnsupportedFormatException``; a carrier of the wrong kind ``InvalidCarrierException``.

Spans are ddfast spans underneath: the active OpenTracing span is also ddfast's active span, so spans
made by ddfast's integrations nest under it. Tags ``service.name``, ``resource.name``, ``span.type`` and
``error`` set the span's fields as ddtrace's OpenTracing tracer does.
"""

import contextvars

import opentracing
from opentracing import Format

__all__ = ["Format", "Scope", "ScopeManager", "Span", "SpanContext", "Tracer"]

#: headers whose presence means the carrier meant to carry a trace
_TRACE_HEADERS = ("x-datadog-trace-id", "traceparent", "b3", "x-b3-traceid")
_FORMATS = (Format.HTTP_HEADERS, Format.TEXT_MAP)


class SpanContext(opentracing.SpanContext):
    """The propagated part of a span: ddfast ``Context`` underneath (``dd_context``)."""

    __slots__ = ("dd_context",)

    def __init__(self, dd_context):
        self.dd_context = dd_context

    @property
    def baggage(self):
        return dict(self.dd_context.get_all_baggage_items())

    @property
    def trace_id(self):
        return self.dd_context.trace_id

    @property
    def span_id(self):
        return self.dd_context.span_id


class Span(opentracing.Span):
    """An OpenTracing span over a ddfast span (``dd_span``)."""

    def __init__(self, tracer, dd_span):
        super().__init__(tracer, SpanContext(dd_span.context))
        self.dd_span = dd_span

    def set_operation_name(self, operation_name):
        self.dd_span.name = operation_name
        return self

    def set_tag(self, key, value):
        span = self.dd_span
        if key == "service.name":
            span.service = str(value)
        elif key == "resource.name":
            span.resource = str(value)
        elif key == "span.type":
            span.span_type = str(value)
        elif key == "error":
            span.error = 1 if value else 0
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            span.set_metric(key, value)
        else:
            span.set_tag(key, value)
        return self

    def log_kv(self, key_values, timestamp=None):
        """An ``error`` event (with ``error.object``) marks the span as failed; other fields become
        tags, as ddtrace's OpenTracing tracer does."""
        if key_values.get("event") == "error" or "error.object" in key_values:
            exc = key_values.get("error.object")
            if isinstance(exc, BaseException):
                self.dd_span.set_exc_info(type(exc), exc, exc.__traceback__)
            else:
                self.dd_span.error = 1
                if "message" in key_values:
                    self.dd_span.set_tag("error.message", str(key_values["message"]))
            return self
        for key, value in key_values.items():
            if key != "event":
                self.set_tag(key, value)
        return self

    def set_baggage_item(self, key, value):
        self.dd_span.context.set_baggage_item(key, value)
        return self

    def get_baggage_item(self, key):
        return self.dd_span.context.get_baggage_item(key)

    def finish(self, finish_time=None):
        self.dd_span.finish(finish_time)


class Scope(opentracing.Scope):
    """One activation of a span; ``close()`` restores what was active before."""

    def __init__(self, manager, span, finish_on_close, previous):
        super().__init__(manager, span)
        self._finish_on_close = finish_on_close
        self._previous = previous

    def close(self):
        manager = self.manager
        if manager._active.get() is not self:
            return  # closed already, or out of order: leave the newer activation alone
        scope = self._previous
        manager._active.set(scope)
        manager._provider.activate(None if scope is None else scope.span.dd_span)
        if self._finish_on_close:
            self.span.finish()


class ScopeManager(opentracing.ScopeManager):
    """Active spans per thread and per asyncio task (``contextvars``), mirrored into the ddfast
    tracer's own active span."""

    def __init__(self, provider):
        super().__init__()
        self._provider = provider
        self._active = contextvars.ContextVar("ddfast_opentracing_scope", default=None)

    def activate(self, span, finish_on_close):
        scope = Scope(self, span, finish_on_close, self._active.get())
        self._active.set(scope)
        self._provider.activate(span.dd_span)
        return scope

    @property
    def active(self):
        return self._active.get()


def _put(carrier):
    for name in ("__setitem__", "put", "set"):
        method = getattr(carrier, name, None)
        if callable(method):
            return method
    return None


def _pairs(carrier):
    items = getattr(carrier, "items", None)
    if callable(items):
        return list(items())
    if isinstance(carrier, (list, tuple)) or hasattr(carrier, "__iter__") and not isinstance(carrier, (str, bytes)):
        pairs = list(carrier)
        if all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
            return pairs
    return None


class Tracer(opentracing.Tracer):
    """``Tracer(service_name=None, dd_tracer=None)``: an OpenTracing tracer whose spans are made by
    ``dd_tracer`` (ddfast's global tracer by default) with ``service_name`` as their default service."""

    def __init__(self, service_name=None, dd_tracer=None, scope_manager=None):
        if dd_tracer is None:
            from ddfast.tracer import tracer as dd_tracer
        self._dd = dd_tracer
        self._service = service_name
        super().__init__(scope_manager or ScopeManager(dd_tracer.context_provider))

    @property
    def dd_tracer(self):
        return self._dd

    def start_active_span(self, operation_name, child_of=None, references=None, tags=None, start_time=None,
                          ignore_active_span=False, finish_on_close=True):  # fmt: skip
        span = self.start_span(operation_name, child_of, references, tags, start_time, ignore_active_span)
        return self.scope_manager.activate(span, finish_on_close)

    def start_span(self, operation_name=None, child_of=None, references=None, tags=None, start_time=None,
                   ignore_active_span=False):  # fmt: skip
        parent = child_of
        if parent is None and references:
            parent = references[0].referenced_context
        if parent is None and not ignore_active_span:
            active = self.scope_manager.active
            parent = None if active is None else active.span
        if isinstance(parent, Span):
            parent = parent.dd_span
        elif isinstance(parent, SpanContext):
            parent = parent.dd_context
        elif parent is not None:
            raise TypeError("child_of must be an OpenTracing Span or SpanContext of this tracer, not %s"
                            % type(parent).__name__)  # fmt: skip
        service = self._service if parent is None or not hasattr(parent, "service") else None
        dd_span = self._dd.start_span(operation_name or "", child_of=parent, service=service)
        if start_time is not None:
            dd_span.start = start_time
        span = Span(self, dd_span)
        for key, value in (tags or {}).items():
            span.set_tag(key, value)
        return span

    def inject(self, span_context, format, carrier):
        if format not in _FORMATS:
            raise opentracing.UnsupportedFormatException("ddfast injects HTTP_HEADERS and TEXT_MAP, not %r" % (format,))
        if isinstance(span_context, Span):
            span_context = span_context.context
        if not isinstance(span_context, SpanContext):
            raise TypeError("inject() needs a SpanContext of this tracer, not %s" % type(span_context).__name__)
        put = _put(carrier)
        if put is None:
            raise opentracing.InvalidCarrierException("a carrier to inject into needs __setitem__, put or set")
        headers = {}
        self._dd._http_inject(span_context.dd_context, headers)
        for name, value in headers.items():
            put(name, value)

    def extract(self, format, carrier):
        if format not in _FORMATS:
            raise opentracing.UnsupportedFormatException(
                "ddfast extracts HTTP_HEADERS and TEXT_MAP, not %r" % (format,)
            )
        pairs = _pairs(carrier)
        if pairs is None:
            raise opentracing.InvalidCarrierException("a carrier to extract from is a mapping or a list of pairs")
        context = self._dd._http_extract(pairs)
        if context.trace_id is None:
            names = {str(k).lower() for k, _ in pairs}
            if names.intersection(_TRACE_HEADERS):
                raise opentracing.SpanContextCorruptedException("the carrier's trace headers could not be decoded")
            if not context.get_all_baggage_items():
                return None
        return SpanContext(context)
