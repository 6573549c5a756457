# Spans: the Span object, its trace state, and starting spans.
# Included by src/span.pyx (one extension module); pure twin: ddfast/_pure/span_object.py.

cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    cdef struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(clockid_t clk_id, timespec *tp)
    clockid_t CLOCK_REALTIME

cdef str MANUAL_KEEP = "manual.keep"
cdef str MANUAL_DROP = "manual.drop"
cdef str AUTO_KEEP_TAG = "auto.keep"
cdef str AUTO_DROP_TAG = "auto.drop"
cdef str SERVICE_KEY = "service.name"
cdef str SERVICE_VERSION_KEY = "service.version"
cdef str MEASURED_KEY = "_dd.measured"
cdef str STATUS_CODE_KEY = "http.status_code"
cdef str TARGET_PORT_KEY = "network.destination.port"
cdef str DECISION_MAKER_KEY = "_dd.p.dm"
cdef str LAST_PARENT_KEY = "_dd.parent_id"
cdef str TID_KEY = "_dd.p.tid"
cdef str BAGGAGE_TAG_PREFIX = "baggage."
cdef str LANGUAGE = "python"
#: sampling metrics a manual decision makes stale (removed from the local root)
cdef tuple _RATE_METRICS = ("_dd.rule_psr", "_dd.agent_psr", "_dd.limit_psr")
cdef tuple _STATUS_TEXT = tuple([str(code) for code in range(100, 600)])
# the most a traceback tag may hold before frames are dropped (ddtrace's MAX_SPAN_META_VALUE_LEN)
cdef Py_ssize_t MAX_META_VALUE_LEN = 25000
cdef int USER_KEEP = 2
cdef int USER_REJECT = -1
cdef int AUTO_KEEP = 1
cdef int AUTO_REJECT = 0
cdef int MECHANISM_MANUAL = 4


cdef bint _trace_id_128 = True


cdef inline int64_t now_ns() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline object _checked_text(object value, str what):
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise TypeError("Span %s must be a str or None, not %s" % (what, type(value).__name__))


cdef int trace_started(Context state, Span span) except -1:
    """``span`` of the local trace ``state`` started: collected, and counted until it finishes."""
    # a trace's spans may start and finish in several threads: where there is no GIL, the trace's own
    # lock makes each update one step (under the GIL, the section compiles to nothing)
    cdef cs_t cs
    cs_begin(&cs, state)
    try:
        if state._spans is None:  # the first span, or one started after its trace was handed on: a new chunk
            state._spans = [span]
        else:
            state._spans.append(span)
        state._open += 1
    finally:
        cs_end(&cs)
    return 0


cdef int trace_finished(Context state) except -1:
    """A span of the local trace ``state`` finished: the last open one hands the spans to the sink."""
    cdef cs_t cs
    cs_begin(&cs, state)
    state._open -= 1
    if state._open != 0:
        cs_end(&cs)
        return 0
    spans = state._spans
    state._spans = None  # no list (nor reference cycle) kept per finished trace
    cs_end(&cs)
    if type(state._sink) is TracerState:
        finish_trace(<TracerState>state._sink, spans)
    else:
        state._sink(spans)
    return 0


#: the keys of the derived tags and metrics, in the order of their DERIVED_* bits
DERIVED_KEYS = ("language", "runtime-id", "process_id", "_sampling_priority_v1", "_dd.top_level")
cdef tuple _DERIVED_KEYS = DERIVED_KEYS


cdef int derived_index(object key) noexcept:
    """The position of ``key`` in DERIVED_KEYS (its bit is ``1 << position``), -1 for any other key."""
    if type(key) is not str:
        return -1
    cdef str k = <str>key
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(k)
    if n == 8:
        return 0 if k == "language" else -1
    if n == 10:
        if k == "runtime-id":
            return 1
        return 2 if k == "process_id" else -1
    if n == 21:
        return 3 if k == "_sampling_priority_v1" else -1
    if n == 13:
        return 4 if k == "_dd.top_level" else -1
    return -1


cdef inline bint fits_i64(object value) noexcept:
    """The int ``value`` fits in 64 signed bits (a metric, by ddtrace's rule; a larger one is a tag)."""
    cdef int overflow = 0
    PyLong_AsLongLongAndOverflow(value, &overflow)
    return overflow == 0


cdef inline int derived_bit(object key) noexcept:
    """The DERIVED_* bit of ``key``, 0 for any other key."""
    cdef int i = derived_index(key)
    return 1 << i if i >= 0 else 0


# a request makes and frees a server and a client span: reused from a short list instead of the allocator
@cython.freelist(8)
cdef class Span:
    """One timed operation of a trace (ddtrace's ``Span``); see the module docstring."""

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
            span_id = next_u64()
        elif not isinstance(span_id, int) or not 0 <= span_id < 2**64:
            raise ValueError("Span span_id must be an int in [0, 2**64), got %r" % (span_id,))
        if context is not None and not isinstance(context, Context):
            raise TypeError("Span context must be a ddfast Context or None, not %s" % type(context).__name__)
        if trace_id is None:
            if context is not None and context.trace_id:
                trace_id = context.trace_id
            else:
                trace_id = new_trace_id(_trace_id_128)
        elif not isinstance(trace_id, int) or not 0 <= trace_id < 2**128:
            raise ValueError("Span trace_id must be an int in [0, 2**128), got %r" % (trace_id,))
        if parent_id is not None and (not isinstance(parent_id, int) or not 0 <= parent_id < 2**64):
            raise ValueError("Span parent_id must be an int in [0, 2**64), got %r" % (parent_id,))
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start_ns = now_ns() if start is None else int(start * 1e9)
        self._finished = False
        self._meta = {}
        self._links = None
        self._on_finish = list(on_finish) if on_finish else None
        self._trace_ctx = trace_context_of(context, trace_id, span_id)
        if context is not None and context._links_d:
            self._links = list(context._links_d)
        self._context = self._trace_ctx
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
    def duration_ns(self):
        """Duration in nanoseconds, None while the span is open."""
        return self._duration_ns if self._finished else None

    @duration_ns.setter
    def duration_ns(self, value):
        if value is None:
            self._finished = False
        else:
            self._duration_ns = value
            self._finished = True

    @property
    def duration(self):
        """Duration in seconds, None while the span is open."""
        return self._duration_ns / 1e9 if self._finished else None

    @duration.setter
    def duration(self, value):
        self.duration_ns = int(value * 1e9)

    @property
    def finished(self):
        return self._finished

    @property
    def _trace_id_64bits(self):
        return self.trace_id & 0xFFFFFFFFFFFFFFFF

    @property
    def _is_top_level(self):
        """True for a service entry span: no local parent, or a parent of another service."""
        return self._parent is None or self._parent.service != self.service

    # -- tags and metrics --------------------------------------------------------------------------

    cdef object derived_value(self, int index):
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

    cdef object derived_of(self, object key, int mask):
        """The derived value of ``key`` among the span's derived entries in ``mask``, else None."""
        cdef int i
        if not self._derived & mask:
            return None
        i = derived_index(key)
        return self.derived_value(i) if i >= 0 and self._derived & mask & (1 << i) else None

    cdef int add_derived(self, dict into, int mask) except -1:
        """Add the span's derived entries of ``mask`` to ``into`` (``get_tags``, ``get_metrics``)."""
        cdef int i
        for i in range(DERIVED_COUNT):
            if self._derived & mask & (1 << i):
                into[_DERIVED_KEYS[i]] = self.derived_value(i)
        return 0

    cdef object tag_value(self, object key):
        """``get_tag``: a stored tag, else a derived one, else None."""
        value = self._meta.get(key)
        return value if value is not None else self.derived_of(key, DERIVED_TAGS)

    cdef object metric_value(self, object key):
        """``get_metric``: a stored metric, else a derived one, else None."""
        value = self._metrics.get(key) if self._metrics is not None else None
        return value if value is not None else self.derived_of(key, DERIVED_METRICS)

    cdef int store_tag(self, object key, str value) except -1:
        if self._derived:
            self._derived &= ~derived_bit(key)  # a stored value replaces the derived one
        self._meta[key] = value
        if self._metrics:
            self._metrics.pop(key, None)
        return 0

    cdef int store_metric(self, object key, object value) except -1:
        if self._derived:
            self._derived &= ~derived_bit(key)
        if self._metrics is None:
            self._metrics = {key: value}
        else:
            self._metrics[key] = value
        if self._meta:
            self._meta.pop(key, None)
        return 0

    cdef int put(self, object key, object value) except -1:
        """ddtrace's attribute rule: strings are tags, 64-bit ints and finite floats are metrics, NaN and
        infinities are dropped, anything else is a tag of its ``str``; a key lives in one of the two dicts only."""
        cdef type t = type(value)
        if t is str:
            self.store_tag(key, <str>value)
        elif t is int:
            if fits_i64(value):
                self.store_metric(key, value)
            else:
                self.store_tag(key, str(value))
        elif t is float:
            if not isnan(<double>value) and not isinf(<double>value):
                self.store_metric(key, value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):  # subclasses, as their base
            self.put(key, int(value) if isinstance(value, int) else float(value))
        else:
            self.store_tag(key, str(value))
        return 0

    def set_tag(self, key, value=None):
        """Set a tag. Numbers become metrics (as ddtrace stores them); ``manual.keep``/``manual.drop``
        (and ``auto.keep``/``auto.drop``, the Datadog tracers' automatic priorities) decide the trace;
        ``service.name`` sets the service; bools, bytes and objects are stored as text."""
        cdef str k
        if type(key) is str:
            k = <str>key
        elif isinstance(key, bytes):
            k = (<bytes>key).decode("utf-8", "replace")
        elif isinstance(key, str):
            k = str(key)
        else:
            raise TypeError("Span tag key must be a str, not %s" % type(key).__name__)
        # the special keys, told apart by length first (str == str: no call for the usual mismatch)
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(k)
        if type(value) is str and n != 9 and n != 11 and n != 12 and n != 15 and n != 24:  # text, no special key
            self.store_tag(k, <str>value)
            return
        key = k
        if n == 11 and k == MANUAL_KEEP:
            self._override_sampling_decision(USER_KEEP)
            return
        if n == 11 and k == MANUAL_DROP:
            self._override_sampling_decision(USER_REJECT)
            return
        if n == 9 and (k == AUTO_KEEP_TAG or k == AUTO_DROP_TAG):
            self._override_sampling_decision(AUTO_KEEP if k == AUTO_KEEP_TAG else AUTO_REJECT)
            return
        if n == 12 and k == SERVICE_KEY:
            self.service = None if value is None else str(value)
        elif n == 15 and k == SERVICE_VERSION_KEY:
            self.put("version", value if isinstance(value, str) else str(value))
        elif n == 12 and k == MEASURED_KEY:
            self.set_metric(key, 1 if value is None else value)
            return
        elif n == 16 and k == STATUS_CODE_KEY:
            # always text, as ddtrace stores it; the usual codes share one string each
            value = _STATUS_TEXT[value - 100] if type(value) is int and 100 <= value < 600 else str(value)
        elif n == 24 and k == TARGET_PORT_KEY:
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
        cdef Context state = self._trace_ctx
        state._meta[DECISION_MAKER_KEY] = "-4"
        state._priority = decision
        state._ot = ""  # a manual decision: no ot= of ours, and an inherited th no longer holds
        root = self._root if self._root is not None else self
        if (<Span>root)._metrics:
            for key in _RATE_METRICS:
                (<Span>root)._metrics.pop(key, None)

    def _set_sampling_decision_maker(self, mechanism):
        value = "-%d" % mechanism
        self._trace_ctx._meta[DECISION_MAKER_KEY] = value
        return value

    # -- links -------------------------------------------------------------------------------------

    cdef _add_link(self, link):
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
            raise ValueError(
                "Invalid span or trace id. trace_id:%s span_id:%s" % (context.trace_id, context.span_id)
            )
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
        if self._finished:
            return
        cdef int64_t end = now_ns() if finish_time is None else <int64_t>(finish_time * 1e9)
        self._finish_at(end)

    def _finish_ns(self, finish_time_ns):
        if not self._finished:
            self._finish_at(finish_time_ns)

    cdef int _finish_at(self, long long end) except -1:
        self._duration_ns = end - self.start_ns
        self._finished = True
        if self._on_finish is not None:
            for callback in self._on_finish:
                callback(self)
        if self._trace_ctx is not None and self._trace_ctx._sink is not None:
            trace_finished(self._trace_ctx)
        return 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is not None:
            self.set_exc_info(exc_type, exc_val, exc_tb)
        if type(self) is not Span:
            self.finish()  # a subclass may have its own
        elif not self._finished:
            self._finish_at(now_ns())

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


cdef Context trace_context_of(Context parent, object trace_id, object span_id, bint adopt=False):
    """The trace state of a new local root: fresh, or a copy of a remote parent's decision, origin,
    propagated tags and baggage. ``adopt``: the parent is an extracted context no one else holds (a
    consumed message's); it becomes the state itself, holding what the copy would."""
    if adopt and parent is not None and parent._shared is None and parent._sink is None:
        parent.trace_id = trace_id
        parent.span_id = span_id
        parent._is_remote = False
        parent._metrics_d = None
        parent._links_d = None
        if not parent._baggage_d:
            parent._baggage_d = None
        return parent
    cdef Context state = Context.__new__(Context)
    state.trace_id = trace_id
    state.span_id = span_id
    state._is_remote = False
    if parent is None:
        state._meta = {}
        return state
    parent_state = parent.trace_state()
    state._priority = parent_state._priority
    state._origin = parent_state._origin
    state._ot = parent_state._ot
    state._meta = dict(parent._meta)
    state._baggage_d = dict(parent._baggage_d) if parent._baggage_d else None
    return state


def format_traceback(exc_type, exc_val, exc_tb, limit=None):
    """The traceback text ddtrace stores in ``error.stack``: the most recent ``limit`` frames, halved
    until it fits in a tag value."""
    cdef int frames = -abs(limit) if limit else -30
    import traceback  # an error's path only: not imported by ``import ddfast``
    text = "".join(traceback.format_exception(exc_type, exc_val, exc_tb, limit=frames))
    while len(text) > MAX_META_VALUE_LEN and abs(frames) > 1:
        frames //= 2
        text = "".join(traceback.format_exception(exc_type, exc_val, exc_tb, limit=frames))
    return text


cpdef Span start_span(
    object name, object service, object resource, object span_type, Span parent, Context remote, object sink,
    bint adopt=False
):
    """The tracer's fast constructor: a child of local span ``parent``, else a local root continuing
    ``remote`` (or a new trace when both are None); ``sink(spans)`` receives a finished root's trace.
    ``adopt``: ``remote`` is the caller's own extracted context, which becomes the trace's state."""
    cdef Span span = Span.__new__(Span)
    if not isinstance(name, str):
        raise TypeError("Span name must be a str, not %s" % type(name).__name__)
    span.name = name
    span._resource = _checked_text(resource, "resource")
    span.span_type = _checked_text(span_type, "span_type")
    span.span_id = next_u64()
    span.start_ns = now_ns()
    span._meta = {}
    if parent is not None:
        span.service = _checked_text(service, "service") if service is not None else parent.service
        span.trace_id = parent.trace_id
        span.parent_id = parent.span_id
        span._trace_ctx = parent._trace_ctx
        span._parent = parent
        span._root = parent._root if parent._root is not None else parent
    else:
        span.service = _checked_text(service, "service")
        if remote is not None and remote.trace_id:
            span.trace_id = remote.trace_id
            span.parent_id = remote.span_id
        else:
            span.trace_id = new_trace_id(_trace_id_128)
        if remote is not None and remote._links_d:
            span._links = list(remote._links_d)
        span._trace_ctx = trace_context_of(remote, span.trace_id, span.span_id, adopt)
        span._context = span._trace_ctx
        span._trace_ctx._sink = sink
    if span._trace_ctx._sink is not None:
        trace_started(span._trace_ctx, span)
    return span
