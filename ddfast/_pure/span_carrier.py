"""Spans: one message's span of an RPC, task queue or message broker integration, in one call each.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_carrier.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.span_http import HttpTracer
from ddfast._pure.span_object import DERIVED_KEYS
from ddfast._pure.span_object import Span
from ddfast._pure.span_tracer import TracerState
from ddfast._pure.span_tracer import _open_ancestor
from ddfast._pure.span_tracer import decide_local
from ddfast._pure.span_tracer import tracer_start

# keys whose tags have an effect beyond the tag (sampling, service) or are derived: never in a template
_NOT_PLAIN = frozenset([
    "manual.keep", "manual.drop", "auto.keep", "auto.drop", "service.name", "service.version",
]) | frozenset(DERIVED_KEYS)  # fmt: skip


def plain_tags(tags, keys):
    """``(meta, metrics, keys)``: a template's constant tags split as a span stores them (text tags,
    numeric tags), and the per-message keys, each checked to be a plain key (see ``MessageSpans``)."""
    meta, metrics = {}, {}
    if tags is not None:
        for key, value in dict(tags).items():
            if type(key) is not str:
                raise TypeError("a tag key is a str, not %s" % type(key).__name__)
            if key in _NOT_PLAIN:
                raise ValueError("%r is not a plain tag: set it on the span itself" % key)
            if type(value) is str:
                meta[key] = value
            elif type(value) is int or type(value) is float:
                metrics[key] = value
            else:
                raise TypeError(
                    "a template's tag values are str, int or float, not %s (%r)" % (type(value).__name__, key)
                )
    for key in keys:
        if type(key) is not str:
            raise TypeError("a tag key is a str, not %s" % type(key).__name__)
        if key in _NOT_PLAIN:
            raise ValueError("%r is not a plain tag: set it on the span itself" % key)
        if key in meta or key in metrics:
            raise ValueError("%r is both a constant tag and a per-message one" % key)
    if len(set(keys)) != len(keys):
        raise ValueError("per-message keys repeat: %r" % (keys,))
    return meta, metrics, keys


class MessageSpans:
    """How one operation of a carrier integration (a Kafka produce, a gRPC server call, a task run) makes
    its spans, bound once to the tracer's request path (``tracer.http``): the span name, service and type,
    its constant tags (``tags``: text and numbers, copied onto each span in one step) and the keys of the
    tags that change per message (``keys``: ``start``'s and ``consume``'s ``values``, in that order; a
    None value is not tagged, others follow ``Span.set_tag``'s rule for text and numbers).

    ``distributed``: whether its spans continue the context a message carries and write theirs into
    the messages sent. ``as_bytes``: the context is written as bytes values (Kafka headers), else text
    (gRPC metadata). ``on_error(reason, detail)`` counts a carrier that could not be read or written
    (``ddfast.contrib.integration.record``): tracing never raises into the producer or the consumer.

    Template keys are plain tags: the keys with an effect (``manual.keep``, ``service.name``...) and the
    tracer's derived keys are refused (``ValueError``)."""

    __slots__ = ("http", "name", "service", "span_type", "distributed", "as_bytes", "keys", "_meta", "_metrics",
                 "_on_error")  # fmt: skip

    def __init__(self, http, name, service=None, span_type=None, tags=None, keys=(), distributed=True,
                 as_bytes=True, on_error=None):  # fmt: skip
        if type(http) is not HttpTracer:
            raise TypeError("MessageSpans needs the tracer's HttpTracer, not %s" % type(http).__name__)
        if not isinstance(name, str) or not name:
            raise TypeError("a span name is a non-empty str, not %r" % (name,))
        self.http = http
        self.name = name
        self.service = service or None
        self.span_type = span_type
        self._meta, self._metrics, self.keys = plain_tags(tags, tuple(keys))
        self.distributed = bool(distributed)
        self.as_bytes = bool(as_bytes)
        self._on_error = on_error

    @property
    def tags(self):
        """The constant tags every span gets (a copy)."""
        tags = dict(self._meta)
        tags.update(self._metrics)
        return tags

    def _tag(self, span, values):
        if self._meta:
            if span._meta:
                span._meta.update(self._meta)
            else:  # a copy of the template (the compiled twin's is presized for the per-message tags)
                span._meta = self._meta.copy()
        if self._metrics:
            if span._metrics is None:
                span._metrics = dict(self._metrics)
            else:
                span._metrics.update(self._metrics)
        if values is None:
            return
        keys = self.keys
        for key, value in zip(keys, values, strict=False):  # fewer values than keys: the rest untagged
            if value is None:
                continue
            if type(value) is str:  # a plain key met once (checked when made): stored as it is
                span._meta[key] = value
            elif type(value) is int and -(2**63) <= value < 2**63:  # a metric, as put stores it (no other check)
                span.store_metric(key, value)
            else:
                if isinstance(value, (bool, bytes)):
                    value = str(value)
                span.put(key, value)

    def start(self, values=None, child_of=None, activate=True, resource=None, service=None):
        """A span of this operation, child of ``child_of`` (a Span or a Context; None: the active span, a new
        trace when there is none), tagged, the active one unless not ``activate``; ``resource`` (default: the
        span's name) and ``service`` (default: the operation's) of this span."""
        return self._start(values, child_of, activate, resource, service, False)

    def _start(self, values, child_of, activate, resource, service, adopt):
        """``start``; ``adopt``: ``child_of`` is this object's own extracted context (see ``consume``)."""
        http = self.http
        if values is not None:  # checked before any span is made
            if type(values) is not tuple:
                raise TypeError("values is a tuple, not %s" % type(values).__name__)
            if len(values) > len(self.keys):
                raise ValueError("%d values for %d keys %r" % (len(values), len(self.keys), self.keys))
        if child_of is None:
            child_of = http.var.get(None)
            if type(child_of) is Span and child_of.duration_ns is not None:
                child_of = _open_ancestor(child_of)
        service = service if service is not None else self.service
        span = tracer_start(http.state, self.name, child_of, service, resource, self.span_type, adopt)
        self._tag(span, values)
        if activate:
            http.var.set(span)
        return span

    def extract(self, carrier):
        """The context ``carrier`` (a message's headers: a mapping or ``(name, value)`` pairs, str or bytes)
        carries, or None: none there, not distributed, or a carrier that could not be read (counted)."""
        if not self.distributed or carrier is None:
            return None
        try:
            context = self.http.extract(carrier)
        except Exception:
            self._error("carrier_type", type(carrier).__name__)
            return None
        if type(context) is not Context or context.trace_id is None:
            return None
        return context

    def consume(self, carrier, values=None, activate=False, start_ns=None, resource=None, service=None):
        """The span of one received message, request or task: a child of the context ``carrier`` carries
        (see ``extract``), else of the active span; tagged; started at ``start_ns`` when given (before
        the library waited for the message)."""
        context = self.extract(carrier)  # a new context, of this call alone: the trace's state (adopted)
        span = self._start(values, context, activate, resource, service, context is not None)
        if start_ns is not None:
            span.start_ns = start_ns
        return span

    def context_pairs(self, span):
        """``span``'s context in the configured styles as a new list of ``(name, value)`` pairs (values
        bytes when ``as_bytes``), to send with a message; empty when not distributed or the propagation
        refused it (counted)."""
        if not self.distributed:
            return []
        state = span._trace_ctx
        decided = True
        try:
            if state is not None and state._priority is None:
                # an undecided trace of a tracer of this module is decided here, as the propagation core
                # would have its TracerState.before_inject decide it; any other is left to the core
                sink = state._sink
                decided = type(sink) is TracerState and decide_local(sink, state)
            return self.http.inject_pairs(span._context if decided and span._context is not None else span,
                                          self.as_bytes, not decided)  # fmt: skip
        except Exception:
            self._error("inject_carrier", "message")
            return []

    def finish(self, span, exc=None):
        """End ``span``, recording ``exc`` (the exception that ended the call) when given."""
        if exc is not None:
            span.set_exc_info(type(exc), exc, exc.__traceback__)
        span.finish()
        return 0

    def _error(self, reason, detail):
        if self._on_error is not None:
            try:
                self._on_error(reason, detail)
            except Exception:
                pass
