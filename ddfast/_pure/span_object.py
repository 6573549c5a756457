"""Spans: the Span object, its trace state, and starting spans.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_object.pxi``.
"""

import math
import sys
import sysconfig
import threading
import time

from ddfast._pure.context import Context
from ddfast._pure.context import span_context
from ddfast._pure.ids import generate_128bit_trace_id
from ddfast._pure.ids import rand64bits
from ddfast.span_link import SpanLink

MANUAL_KEEP = "manual.keep"
MANUAL_DROP = "manual.drop"
AUTO_KEEP_TAG = "auto.keep"
AUTO_DROP_TAG = "auto.drop"
SERVICE_KEY = "service.name"
SERVICE_VERSION_KEY = "service.version"
MEASURED_KEY = "_dd.measured"
STATUS_CODE_KEY = "http.status_code"
TARGET_PORT_KEY = "network.destination.port"
DECISION_MAKER_KEY = "_dd.p.dm"
LAST_PARENT_KEY = "_dd.parent_id"
BAGGAGE_TAG_PREFIX = "baggage."
LANGUAGE = "python"
#: sampling metrics a manual decision makes stale (removed from the local root)
_RATE_METRICS = ("_dd.rule_psr", "_dd.agent_psr", "_dd.limit_psr")
_STATUS_TEXT = tuple([str(code) for code in range(100, 600)])
# the most a traceback tag may hold before frames are dropped (ddtrace's MAX_SPAN_META_VALUE_LEN)
MAX_META_VALUE_LEN = 25000
USER_KEEP = 2
USER_REJECT = -1
AUTO_KEEP = 1
AUTO_REJECT = 0
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

_trace_id_128 = True


def set_trace_id_128(enabled):
    """New traces get 128-bit ids (ddtrace's default) unless disabled."""
    global _trace_id_128
    _trace_id_128 = bool(enabled)


def _checked_text(value, what):
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise TypeError("Span %s must be a str or None, not %s" % (what, type(value).__name__))


def trace_started(state, span):
    """``span`` of the local trace ``state`` started: collected, and counted until it finishes."""
    if state._spans is None:  # the first span, or one started after its trace was handed on: a new chunk
        state._spans = [span]
    else:
        state._spans.append(span)
    state._open += 1


def trace_finished(state):
    """A span of the local trace ``state`` finished: the last open one hands the spans to the sink."""
    state._open -= 1
    if state._open == 0:
        spans = state._spans
        state._spans = None  # no list (nor reference cycle) kept per finished trace
        state._sink(spans)


def count_dropped(st):
    """One more trace dropped by the tracer state ``st``."""
    st.dropped += 1


if sysconfig.get_config_var("Py_GIL_DISABLED"):
    # A free-threaded CPython runs these at once in several threads (a trace's spans may start and finish
    # in any of them): there, the same steps under one lock, as the compiled twin takes the trace's. Under
    # the GIL the functions above, which the GIL already keeps whole.
    _bookkeeping = threading.Lock()

    def trace_started(state, span):  # noqa: F811
        """``span`` of the local trace ``state`` started: collected, and counted until it finishes."""
        with _bookkeeping:
            if state._spans is None:
                state._spans = [span]
            else:
                state._spans.append(span)
            state._open += 1

    def trace_finished(state):  # noqa: F811
        """A span of the local trace ``state`` finished: the last open one hands the spans to the sink."""
        with _bookkeeping:
            state._open -= 1
            if state._open != 0:
                return
            spans = state._spans
            state._spans = None
        state._sink(spans)

    def count_dropped(st):  # noqa: F811
        """One more trace dropped by the tracer state ``st``."""
        with _bookkeeping:
            st.dropped += 1


# bits of Span._derived: which of DERIVED_KEYS (in that order) the span carries without storing them;
# the first two are tags, the other three metrics
DERIVED_LANGUAGE = 1
DERIVED_RUNTIME_ID = 2
DERIVED_PROCESS_ID = 4
DERIVED_PRIORITY = 8
DERIVED_TOP_LEVEL = 16
DERIVED_TAGS = 3
DERIVED_METRICS = 28
DERIVED_COUNT = 5
#: the keys of the derived tags and metrics, in the order of their DERIVED_* bits
DERIVED_KEYS = ("language", "runtime-id", "process_id", "_sampling_priority_v1", "_dd.top_level")
_DERIVED_INDEX = {key: i for i, key in enumerate(DERIVED_KEYS)}


def derived_index(key):
    """The position of ``key`` in DERIVED_KEYS (its bit is ``1 << position``), -1 for any other key."""
    return _DERIVED_INDEX.get(key, -1) if type(key) is str else -1


def derived_bit(key):
    """The DERIVED_* bit of ``key``, 0 for any other key."""
    i = derived_index(key)
    return 1 << i if i >= 0 else 0


class Span:
    """One timed operation of a trace (ddtrace's ``Span``); see the module docstring."""

    __slots__ = (
        "name",
        "service",
        "_resource",
        "span_type",
        "trace_id",
        "span_id",
        "parent_id",
        "start_ns",
        "duration_ns",
        "error",
        "_http_client",
        "_derived",
        "_proc",
        "_chunk_priority",
        "_meta",
        "_metrics",
        "_links",
        "_on_finish",
        "_trace_ctx",
        "_context",
        "_parent",
        "_root",
        "__weakref__",
    )

    def __init__(
        self,
        name,
        service=None,
        resource=None,
        span_type=None,
        trace_id=None,
        span_id=None,
        parent_id=None,
        start=None,
        context=None,
        on_finish=None,
        span_api="datadog",
        links=None,
    ):
        if not isinstance(name, str):
            raise TypeError("Span name must be a str, not %s" % type(name).__name__)
        self.name = name
        self.service = _checked_text(service, "service")
        self._resource = _checked_text(resource, "resource")
        self.span_type = _checked_text(span_type, "span_type")
        if span_id is None:
            span_id = rand64bits()
        elif not isinstance(span_id, int) or not 0 <= span_id < 2**64:
            raise ValueError("Span span_id must be an int in [0, 2**64), got %r" % (span_id,))
        if context is not None and not isinstance(context, Context):
            raise TypeError("Span context must be a ddfast Context or None, not %s" % type(context).__name__)
        if trace_id is None:
            if context is not None and context.trace_id:
                trace_id = context.trace_id
            else:
                trace_id = generate_128bit_trace_id() if _trace_id_128 else rand64bits()
        elif not isinstance(trace_id, int) or not 0 <= trace_id < 2**128:
            raise ValueError("Span trace_id must be an int in [0, 2**128), got %r" % (trace_id,))
        if parent_id is not None and (not isinstance(parent_id, int) or not 0 <= parent_id < 2**64):
            raise ValueError("Span parent_id must be an int in [0, 2**64), got %r" % (parent_id,))
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start_ns = time.time_ns() if start is None else int(start * 1e9)
        self.duration_ns = None
        self.error = 0
        self._http_client = False
        self._derived = 0
        self._proc = None
        self._chunk_priority = None
        self._meta = {}
        self._metrics = None
        self._links = None
        self._on_finish = list(on_finish) if on_finish else None
        self._trace_ctx = trace_context_of(context, trace_id, span_id)
        if context is not None and context._span_links:
            self._links = list(context._span_links)
        self._context = self._trace_ctx
        self._parent = None
        self._root = None
        if links:
            for link in links:
                self._add_link(link)

    # -- identity and time ------------------------------------------------------------------------

    @property
    def resource(self):
        """What the operation acted on (``GET /users``); the name when unset, as ddtrace reports it."""
        return self._resource if self._resource is not None else self.name

    @resource.setter
    def resource(self, value):
        self._resource = _checked_text(value, "resource")

    @property
    def context(self):
        """This span's Context: its ids, with the trace-wide state shared by every span of the trace."""
        if self._context is None:
            self._context = span_context(self._trace_ctx, self.trace_id, self.span_id)
        return self._context

    @property
    def _local_root(self):
        """The first span of this trace in this process."""
        return self._root if self._root is not None else self

    @property
    def start(self):
        """Start time in seconds since the epoch."""
        return self.start_ns / 1e9

    @start.setter
    def start(self, value):
        self.start_ns = int(value * 1e9)

    @property
    def duration(self):
        """Duration in seconds, None while the span is open."""
        return None if self.duration_ns is None else self.duration_ns / 1e9

    @duration.setter
    def duration(self, value):
        self.duration_ns = int(value * 1e9)

    @property
    def finished(self):
        return self.duration_ns is not None

    @property
    def _trace_id_64bits(self):
        return self.trace_id & 0xFFFFFFFFFFFFFFFF

    @property
    def _is_top_level(self):
        """True for a service entry span: no local parent, or a parent of another service."""
        return self._parent is None or self._parent.service != self.service

    # -- tags and metrics --------------------------------------------------------------------------

    def derived_value(self, index):
        """The value of derived key ``DERIVED_KEYS[index]`` (whether the span has it is its bit's say)."""
        if index == 0:
            return LANGUAGE
        if index == 1:
            return self._proc[0]
        if index == 2:
            return self._proc[1]
        if index == 3:
            return self._chunk_priority
        return 1

    def derived_of(self, key, mask):
        """The derived value of ``key`` among the span's derived entries in ``mask``, else None."""
        if not self._derived & mask:
            return None
        i = derived_index(key)
        return self.derived_value(i) if i >= 0 and self._derived & mask & (1 << i) else None

    def add_derived(self, into, mask):
        """Add the span's derived entries of ``mask`` to ``into`` (``get_tags``, ``get_metrics``)."""
        for i in range(DERIVED_COUNT):
            if self._derived & mask & (1 << i):
                into[DERIVED_KEYS[i]] = self.derived_value(i)

    def tag_value(self, key):
        """``get_tag``: a stored tag, else a derived one, else None."""
        value = self._meta.get(key)
        return value if value is not None else self.derived_of(key, DERIVED_TAGS)

    def metric_value(self, key):
        """``get_metric``: a stored metric, else a derived one, else None."""
        value = self._metrics.get(key) if self._metrics is not None else None
        return value if value is not None else self.derived_of(key, DERIVED_METRICS)

    def store_tag(self, key, value):
        if self._derived:
            self._derived &= ~derived_bit(key)  # a stored value replaces the derived one
        self._meta[key] = value
        if self._metrics:
            self._metrics.pop(key, None)

    def store_metric(self, key, value):
        if self._derived:
            self._derived &= ~derived_bit(key)
        if self._metrics is None:
            self._metrics = {key: value}
        else:
            self._metrics[key] = value
        if self._meta:
            self._meta.pop(key, None)

    def put(self, key, value):
        """ddtrace's attribute rule: strings are tags, 64-bit ints and finite floats are metrics, NaN and
        infinities are dropped, anything else is a tag of its ``str``; a key lives in one of the two dicts only."""
        t = type(value)
        if t is str:
            self.store_tag(key, value)
        elif t is int:
            if _I64_MIN <= value <= _I64_MAX:
                self.store_metric(key, value)
            else:
                self.store_tag(key, str(value))
        elif t is float:
            if math.isfinite(value):
                self.store_metric(key, value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):  # subclasses, as their base
            self.put(key, int(value) if isinstance(value, int) else float(value))
        else:
            self.store_tag(key, str(value))

    def set_tag(self, key, value=None):
        """Set a tag. Numbers become metrics (as ddtrace stores them); ``manual.keep``/``manual.drop``
        (and ``auto.keep``/``auto.drop``, the Datadog tracers' automatic priorities) decide the trace;
        ``service.name`` sets the service; bools, bytes and objects are stored as text."""
        if type(key) is not str:
            if isinstance(key, bytes):
                key = key.decode("utf-8", "replace")
            elif isinstance(key, str):
                key = str(key)
            else:
                raise TypeError("Span tag key must be a str, not %s" % type(key).__name__)
        if key == MANUAL_KEEP:
            self._override_sampling_decision(USER_KEEP)
            return
        if key == MANUAL_DROP:
            self._override_sampling_decision(USER_REJECT)
            return
        if key == AUTO_KEEP_TAG or key == AUTO_DROP_TAG:
            self._override_sampling_decision(AUTO_KEEP if key == AUTO_KEEP_TAG else AUTO_REJECT)
            return
        if key == SERVICE_KEY:
            self.service = None if value is None else str(value)
        elif key == SERVICE_VERSION_KEY:
            self.put("version", value if isinstance(value, str) else str(value))
        elif key == MEASURED_KEY:
            self.set_metric(key, 1 if value is None else value)
            return
        elif key == STATUS_CODE_KEY:
            # always text, as ddtrace stores it; the usual codes share one string each
            value = _STATUS_TEXT[value - 100] if type(value) is int and 100 <= value < 600 else str(value)
        elif key == TARGET_PORT_KEY:
            try:
                value = int(value)
            except (TypeError, ValueError, OverflowError):  # an infinite float: stored as put stores it
                pass
        if isinstance(value, (bool, bytes)):
            value = str(value)
        self.put(key, value)

    def set_tags(self, tags):
        if tags:
            for key, value in tags.items():
                self.set_tag(key, value)

    def get_tag(self, key):
        return self.tag_value(key)

    def get_tags(self):
        tags = dict(self._meta)
        self.add_derived(tags, DERIVED_TAGS)
        return tags

    def remove_tag(self, key):
        self._derived &= ~(derived_bit(key) & DERIVED_TAGS)
        self._meta.pop(key, None)

    def set_metric(self, key, value):
        """Set a numeric tag; a value that is not a number (or is not finite) is ignored, as ddtrace does."""
        if not isinstance(key, str):
            raise TypeError("Span metric key must be a str, not %s" % type(key).__name__)
        if key == MEASURED_KEY:
            try:
                value = int(bool(value))
            except (TypeError, ValueError):
                return
        if type(value) is not int and type(value) is not float:
            if isinstance(value, int):  # bool and int subclasses
                value = int(value)
            else:
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    return
        self.put(key, value)  # ints beyond 64 bits become text tags, non-finite floats are dropped

    def set_metrics(self, metrics):
        if metrics:
            for key, value in metrics.items():
                self.set_metric(key, value)

    def get_metric(self, key):
        return self.metric_value(key)

    def get_metrics(self):
        metrics = dict(self._metrics) if self._metrics else {}
        self.add_derived(metrics, DERIVED_METRICS)
        return metrics

    def remove_metric(self, key):
        self._derived &= ~(derived_bit(key) & DERIVED_METRICS)
        if self._metrics:
            self._metrics.pop(key, None)

    def _set_attribute(self, key, value):
        self.put(key, value)

    # -- errors ------------------------------------------------------------------------------------

    def set_exc_info(self, exc_type, exc_val, exc_tb, limit=None):
        """Mark the span as failed with ``error.type``, ``error.message`` and ``error.stack`` from a
        ``sys.exc_info()`` triple; ``SystemExit(0)`` is not an error."""
        if not (exc_type and exc_val and exc_tb):
            return
        if issubclass(exc_type, SystemExit) and exc_val.code == 0:
            return
        self.error = 1
        self._meta["error.type"] = "%s.%s" % (exc_type.__module__, exc_type.__name__)
        try:
            self._meta["error.message"] = str(exc_val)
        except Exception:
            self._meta["error.message"] = type(exc_val).__name__
        self._meta["error.stack"] = format_traceback(exc_type, exc_val, exc_tb, limit)

    def set_traceback(self, limit=None):
        """Tag the current exception if there is one, else the current stack."""
        exc_type, exc_val, exc_tb = sys.exc_info()
        if exc_type and exc_val and exc_tb:
            self.set_exc_info(exc_type, exc_val, exc_tb, limit=limit)
        else:
            import traceback  # an error's path only: not imported by ``import ddfast``

            frames = traceback.format_stack(limit=(limit or 30) + 1)
            del frames[len(frames) - 1]  # this method's own frame
            self._meta["error.stack"] = "".join(frames)

    # -- sampling ----------------------------------------------------------------------------------

    def _override_sampling_decision(self, decision):
        """A manual keep/drop: it wins over any other decision and marks the trace ``_dd.p.dm=-4``."""
        state = self._trace_ctx
        state._meta[DECISION_MAKER_KEY] = "-4"
        state._priority = decision
        state._ot = ""  # a manual decision: no ot= of ours, and an inherited th no longer holds
        root = self._root if self._root is not None else self
        if root._metrics:
            for key in _RATE_METRICS:
                root._metrics.pop(key, None)

    def _set_sampling_decision_maker(self, mechanism):
        value = "-%d" % mechanism
        self._trace_ctx._meta[DECISION_MAKER_KEY] = value
        return value

    # -- links -------------------------------------------------------------------------------------

    def _add_link(self, link):
        if not isinstance(link, SpanLink):
            raise TypeError("Span links must be SpanLink objects, not %s" % type(link).__name__)
        if self._links is None:
            self._links = []
        # one link per linked span: a new link to the same span id replaces the old one in place
        # (as ddtrace keeps them)
        for i in range(len(self._links)):
            if self._links[i].span_id == link.span_id:
                self._links[i] = link
                return
        self._links.append(link)

    def set_link(self, trace_id, span_id, tracestate=None, flags=None, attributes=None):
        """Link this span to span ``span_id`` of trace ``trace_id`` (ValueError for invalid ids)."""
        self._add_link(SpanLink(trace_id, span_id, tracestate, flags, attributes))

    def link_span(self, context, attributes=None):
        """Link this span to the span a Context points at."""
        if not context.trace_id or not context.span_id:
            raise ValueError("Invalid span or trace id. trace_id:%s span_id:%s" % (context.trace_id, context.span_id))
        # the linked span's W3C tracestate (for a context extracted from headers, as it came: the
        # decision its dd= member carries is the linked span's own) and its sampled flag
        priority = getattr(context, "sampling_priority", None)
        upstream = context._meta.get("tracestate") if getattr(context, "_is_remote", False) else None
        self.set_link(
            context.trace_id,
            context.span_id,
            tracestate=upstream or getattr(context, "_tracestate", None) or None,
            flags=1 if priority is not None and priority > 0 else 0,
            attributes=attributes,
        )

    @property
    def _span_links(self):
        if self._links is None:
            self._links = []
        return self._links

    # -- finishing ---------------------------------------------------------------------------------

    def finish(self, finish_time=None):
        """End the span (``finish_time`` in seconds, default now); finishing twice does nothing."""
        if self.duration_ns is not None:
            return
        self._finish_at(time.time_ns() if finish_time is None else int(finish_time * 1e9))

    def _finish_ns(self, finish_time_ns):
        if self.duration_ns is None:
            self._finish_at(finish_time_ns)

    def _finish_at(self, end):
        self.duration_ns = end - self.start_ns
        if self._on_finish is not None:
            for callback in self._on_finish:
                callback(self)
        if self._trace_ctx is not None and self._trace_ctx._sink is not None:
            trace_finished(self._trace_ctx)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is not None:
            self.set_exc_info(exc_type, exc_val, exc_tb)
        self.finish()

    def __repr__(self):
        return (
            "Span(name=%r, span_id=%r, parent_id=%r, trace_id=%r, service=%r, resource=%r, type=%r, "
            "start_ns=%r, duration_ns=%r, error=%r, tags=%r, metrics=%r)"
            % (
                self.name,
                self.span_id,
                self.parent_id,
                self.trace_id,
                self.service,
                self.resource,
                self.span_type,
                self.start_ns,
                self.duration_ns,
                self.error,
                self.get_tags(),
                self.get_metrics(),
            )
        )


def trace_context_of(parent, trace_id, span_id, adopt=False):
    """The trace state of a new local root: fresh, or a copy of a remote parent's decision, origin,
    propagated tags and baggage. ``adopt``: the parent is an extracted context no one else holds (a
    consumed message's); it becomes the state itself, holding what the copy would."""
    if adopt and parent is not None and parent._shared is None and parent._sink is None:
        parent.trace_id = trace_id
        parent.span_id = span_id
        parent._is_remote = False
        parent._metrics = {}
        parent._span_links = []
        return parent
    state = Context(trace_id=trace_id, span_id=span_id, is_remote=False)
    if parent is None:
        return state
    parent_state = parent.trace_state()
    state._priority = parent_state._priority
    state._origin = parent_state._origin
    state._ot = parent_state._ot
    state._meta = dict(parent._meta)
    state._baggage = dict(parent._baggage)
    return state


def format_traceback(exc_type, exc_val, exc_tb, limit=None):
    """The traceback text ddtrace stores in ``error.stack``: the most recent ``limit`` frames, halved
    until it fits in a tag value."""
    import traceback  # an error's path only: not imported by ``import ddfast``

    frames = -abs(limit) if limit else -30
    text = "".join(traceback.format_exception(exc_type, exc_val, exc_tb, limit=frames))
    while len(text) > MAX_META_VALUE_LEN and abs(frames) > 1:
        frames //= 2
        text = "".join(traceback.format_exception(exc_type, exc_val, exc_tb, limit=frames))
    return text


def start_span(name, service, resource, span_type, parent, remote, sink, adopt=False):
    """The tracer's fast constructor: a child of local span ``parent``, else a local root continuing
    ``remote`` (or a new trace when both are None); ``sink(spans)`` receives a finished root's trace.
    ``adopt``: ``remote`` is the caller's own extracted context, which becomes the trace's state."""
    if not isinstance(name, str):
        raise TypeError("Span name must be a str, not %s" % type(name).__name__)
    span = Span.__new__(Span)
    span.name = name
    span._resource = _checked_text(resource, "resource")
    span.span_type = _checked_text(span_type, "span_type")
    span.span_id = rand64bits()
    span.start_ns = time.time_ns()
    span.duration_ns = None
    span.error = 0
    span._http_client = False
    span._derived = 0
    span._proc = None
    span._chunk_priority = None
    span._meta = {}
    span._metrics = None
    span._links = None
    span._on_finish = None
    if parent is not None:
        span.service = _checked_text(service, "service") if service is not None else parent.service
        span.trace_id = parent.trace_id
        span.parent_id = parent.span_id
        span._trace_ctx = parent._trace_ctx
        span._context = None
        span._parent = parent
        span._root = parent._root if parent._root is not None else parent
    else:
        span.service = _checked_text(service, "service")
        if remote is not None and remote.trace_id:
            span.trace_id = remote.trace_id
            span.parent_id = remote.span_id
        else:
            span.trace_id = generate_128bit_trace_id() if _trace_id_128 else rand64bits()
            span.parent_id = None
        if remote is not None and remote._span_links:
            span._links = list(remote._span_links)
        span._trace_ctx = trace_context_of(remote, span.trace_id, span.span_id, adopt)
        span._context = span._trace_ctx
        span._parent = None
        span._root = None
        span._trace_ctx._sink = sink
    if span._trace_ctx._sink is not None:
        trace_started(span._trace_ctx, span)
    return span
