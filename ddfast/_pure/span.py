"""Spans and the tracer's per-span and per-trace work, pure Python. Twin of ``src/span.pyx``.

A ``Span`` is one timed operation: name, service, resource, type, ids, start and duration, string
tags (``meta``) and numeric tags (``metrics``), error state, links. Every span of a local trace shares
one trace context (priority, origin, propagated tags, baggage), which also collects the trace's spans
and hands them to the tracer (its ``_sink``) when the last open span of the trace finishes. Behaviour
and names follow ddtrace 4.16's ``Span``.

The tags a tracer puts on every local root (``language``, ``runtime-id``, ``process_id``) and those
that follow from the finished trace (``_sampling_priority_v1`` on a chunk's first span,
``_dd.top_level`` on service entry spans) are not stored in the span's dicts but derived: flags on the
span say which it has, and ``get_tag``/``get_tags``/``get_metric``/``get_metrics``, the sampler's tag
rules and the encoders read them as if stored. A finished span so holds about half of ddtrace's memory.
Setting or removing one of those keys works as for any other key.
"""

import math
import sys
import time
import traceback

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
            except (TypeError, ValueError):
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


def trace_context_of(parent, trace_id, span_id):
    """The trace state of a new local root: fresh, or a copy of a remote parent's decision, origin,
    propagated tags and baggage."""
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
    frames = -abs(limit) if limit else -30
    text = "".join(traceback.format_exception(exc_type, exc_val, exc_tb, limit=frames))
    while len(text) > MAX_META_VALUE_LEN and abs(frames) > 1:
        frames //= 2
        text = "".join(traceback.format_exception(exc_type, exc_val, exc_tb, limit=frames))
    return text


def start_span(name, service, resource, span_type, parent, remote, sink):
    """The tracer's fast constructor: a child of local span ``parent``, else a local root continuing
    ``remote`` (or a new trace when both are None); ``sink(spans)`` receives a finished root's trace."""
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
        span._trace_ctx = trace_context_of(remote, span.trace_id, span.span_id)
        if remote is not None and remote._span_links:
            span._links = list(remote._span_links)
        span._context = span._trace_ctx
        span._parent = None
        span._root = None
        span._trace_ctx._sink = sink
    if span._trace_ctx._sink is not None:
        trace_started(span._trace_ctx, span)
    return span


# -- the tracer's per-span and per-trace work ---------------------------------------------------------

LANGUAGE = "python"
PROPAGATED_PREFIX = "_dd.p."
NOT_INHERITED = frozenset(("_dd.p.dm", "_dd.p.ts"))
U64 = 0xFFFFFFFFFFFFFFFF


def is_propagated_key(key):
    """``key`` is a str starting with ``_dd.p.`` (a propagated tag; any other key is not)."""
    return isinstance(key, str) and key.startswith(PROPAGATED_PREFIX)


def inherited(key):
    """Whether a child span copies the trace's propagated tag ``key`` (a ``_dd.p.`` name): all but the
    decision maker ``_dd.p.dm`` and ``_dd.p.ts``, which only the root carries (as ddtrace)."""
    return key not in NOT_INHERITED


class TracerState:
    """What a tracer applies to every span it starts and every trace it finishes: its settings,
    sampler and writer. Calling it with a finished trace's spans is the traces' sink."""

    __slots__ = ("service", "env", "version", "tags", "proc", "sampler", "writer", "span_rules",
                 "sample_spans", "enabled", "shut_down", "dropped")  # fmt: skip

    def __init__(self, sampler, writer, sample_spans, runtime_id, pid):
        self.service = self.env = self.version = None
        self.tags = {}
        self.span_rules = []
        self.sampler = sampler
        self.writer = writer
        self.sample_spans = sample_spans
        # (runtime id, process id): the values of the local roots' derived tags
        self.proc = (runtime_id, pid)
        self.enabled = True
        self.shut_down = False
        self.dropped = 0

    @property
    def runtime_id(self):
        return self.proc[0]

    @runtime_id.setter
    def runtime_id(self, value):
        self.proc = (value, self.proc[1])

    @property
    def pid(self):
        return self.proc[1]

    @pid.setter
    def pid(self, value):
        self.proc = (self.proc[0], value)

    def __call__(self, spans):
        finish_trace(self, spans)


def tracer_start(st, name, child_of, service, resource, span_type):
    """A new span of the tracer ``st``, child of ``child_of`` (a Span or a Context) or a new trace's
    root, tagged as ddtrace's tracer tags it."""
    parent = remote = None
    if child_of is not None:
        if type(child_of) is Span:
            parent = child_of
        elif type(child_of) is Context:
            remote = child_of
        else:
            raise TypeError("child_of must be a Span or a Context, not %s" % type(child_of).__name__)
    if parent is None and service is None:
        service = st.service
    span = start_span(name, service, resource, span_type, parent, remote, st)
    meta = span._meta
    if parent is None:
        # language, runtime-id and process_id: derived (see the module docstring); the root gets every
        # propagated tag when its trace finishes
        span._derived = DERIVED_LANGUAGE | DERIVED_RUNTIME_ID | DERIVED_PROCESS_ID
        span._proc = st.proc
    else:
        trace_meta = span._trace_ctx._meta
        if trace_meta:
            for key, value in trace_meta.items():
                if is_propagated_key(key) and inherited(key):
                    meta[key] = value
    if st.tags:
        span.set_tags(st.tags)
    if st.env:
        meta["env"] = st.env
    if st.version:
        root = span._root if span._root is not None else span
        if span.service == st.service if root is span else (root.service == span.service and "version" in root._meta):
            meta["version"] = st.version
    return span


def tracer_trace(st, var, name, service=None, resource=None, span_type=None):
    """``Tracer.trace``: a new span of ``st``, child of what is active in the ContextVar ``var`` (a
    span, or an activated Context), made the active one."""
    item = var.get()
    if type(item) is Span and item.duration_ns is not None:
        item = _open_ancestor(item)  # no need to store it: the new span replaces it at once
    span = tracer_start(st, name, item, service, resource, span_type)
    var.set(span)
    return span


def _open_ancestor(span):
    """The nearest unfinished ancestor of the finished ``span``, or None."""
    parent = span._parent
    while parent is not None and parent.duration_ns is not None:
        parent = parent._parent
    return parent


def active_span_of(var):
    """The span (or None) active in the ContextVar ``var`` when it holds a span: a finished span gives
    way to its nearest open ancestor, which becomes the active one."""
    item = var.get()
    if type(item) is not Span:
        return None
    if item.duration_ns is None:
        return item
    parent = _open_ancestor(item)
    var.set(parent)
    return parent


_last_tid = (None, None)  # (upper 64 bits, their text), replaced as one object (thread-safe)


def tid_text(high):
    """``_dd.p.tid`` of the upper 64 bits ``high``: the traces of one second share one string."""
    global _last_tid
    last = _last_tid
    if last[0] == high:
        return last[1]
    text = "%016x" % high
    _last_tid = (high, text)
    return text


def set_derived(span, index):
    """Give ``span`` the derived metric ``DERIVED_KEYS[index]``: it replaces a stored one, as an
    assignment would."""
    if span._metrics:
        span._metrics.pop(DERIVED_KEYS[index], None)
    span._derived |= 1 << index


def adopt_link_decision(root, state):
    """An undecided local trace whose root links to a decided context takes that decision (priority
    and decision maker of the first link whose tracestate ``dd=`` member has ``s:``), as the other
    Datadog tracers do; False when no link carries one."""
    for link in root._links:
        decision = _dd_decision(link.tracestate)
        if decision is not None:
            state._priority, dm = decision
            if dm is not None:
                state._meta[DECISION_MAKER_KEY] = dm
            return True
    return False


def _dd_decision(tracestate):
    """(priority, decision maker or None) of the ``dd=`` member of ``tracestate``, or None without ``s:``."""
    if not tracestate or "dd=" not in tracestate:
        return None
    for member in tracestate.split(","):
        member = member.strip()
        if member.startswith("dd="):
            priority = dm = None
            for item in member[3:].split(";"):
                key, _, value = item.partition(":")
                if key == "s" and len(value) <= 4 and _is_int_text(value):
                    priority = int(value)
                elif key == "t.dm" and value[:1] == "-" and _is_int_text(value):
                    dm = value
            return None if priority is None else (priority, dm)
    return None


def _is_int_text(value):
    """``value`` is ASCII digits, with an optional leading ``-``."""
    digits = value[1:] if value[:1] == "-" else value
    return digits.isascii() and digits.isdigit()


def finish_trace(st, spans):
    """A local trace finished: decide it if undecided, tag it as ddtrace does, write it."""
    if not st.enabled:
        return
    root = spans[0]  # a chunk's first span: the local root, but in a late chunk
    state = root._trace_ctx
    if state._priority is None and not (root._links and adopt_link_decision(root, state)):
        _, discard = st.sampler.sample_or_discard(root)
        if discard:
            st.dropped += 1
            return
    priority = state._priority
    if st.span_rules and priority is not None and priority <= 0:
        st.sample_spans(spans, st.span_rules)
    meta = root._meta
    local_root = root._parent is None
    for key, value in state._meta.items():
        if is_propagated_key(key):
            meta[key] = value
        elif local_root and (key == LAST_PARENT_KEY or key.startswith(BAGGAGE_TAG_PREFIX)):
            # the local root also shows the last Datadog parent upstream (tracestate p:) and the
            # baggage items DD_TRACE_BAGGAGE_TAG_KEYS names
            meta[key] = value
    if root.trace_id > U64 and "_dd.p.tid" not in meta:
        meta["_dd.p.tid"] = tid_text(root.trace_id >> 64)
    if priority is not None:
        set_derived(root, 3)  # _sampling_priority_v1
        root._chunk_priority = priority
    origin = state._origin
    service = st.service
    for span in spans:
        if origin is not None:
            span._meta["_dd.origin"] = origin
        if span._parent is None or span._parent.service != span.service:
            set_derived(span, 4)  # _dd.top_level
        if service and span.service != service:
            span._meta["_dd.base_service"] = service
    if st.shut_down:
        st.dropped += 1
        return
    st.writer.write(spans)


_inject_fallback = None


def set_inject_fallback(fallback):
    """What ``before_inject`` asks about a context that is not of a local trace of a tracer (an
    extracted or foreign one): ``fallback(obj, context)``; None asks nothing."""
    global _inject_fallback
    _inject_fallback = fallback


def before_inject(obj, context):
    """The propagation hook for an undecided trace about to be injected: decide it first, on its local
    root, as ddtrace does, so that every downstream service receives the decision. A local trace of a
    tracer (the outgoing call of a request) is decided here; anything else through the fallback."""
    state = context.trace_state()
    spans = state._spans
    if type(state._sink) is TracerState and spans:
        st = state._sink
        root = spans[0]
        if root._root is None and st.sampler is not None:  # the chunk opens with the local root
            if not (root._links and adopt_link_decision(root, state)):
                st.sampler.sample(root)
            return
    if _inject_fallback is not None:
        _inject_fallback(obj, context)
