# Spans: the tracer's per-span and per-trace work: its state, starting and finishing traces, decisions.
# Included by src/span.pyx (one extension module); pure twin: ddfast/_pure/span_tracer.py.

# -- the tracer's per-span and per-trace work ---------------------------------------------------------

cdef inline bint inherited(str key) noexcept:
    """Whether a child span copies the trace's propagated tag ``key`` (a ``_dd.p.`` name): all but the
    decision maker ``_dd.p.dm`` and ``_dd.p.ts``, which only the root carries (as ddtrace)."""
    if PyUnicode_GET_LENGTH(key) != 8:
        return True
    cdef int kind = PyUnicode_KIND(key)
    cdef void *data = PyUnicode_DATA(key)
    cdef Py_UCS4 a = read_char(kind, data, 6), b = read_char(kind, data, 7)
    return not ((a == 100 and b == 109) or (a == 116 and b == 115))  # "dm", "ts"


cdef class TracerState:
    """What a tracer applies to every span it starts and every trace it finishes: its settings,
    sampler and writer. Calling it with a finished trace's spans is the traces' sink."""

    cdef public object service
    cdef public object env
    cdef public object version
    cdef public dict tags
    # (runtime id, process id): the values of the local roots' derived tags
    cdef public tuple proc
    cdef public object sampler
    cdef public object writer
    cdef public list span_rules
    cdef public object sample_spans
    cdef public bint enabled
    cdef public bint shut_down
    cdef public Py_ssize_t dropped
    # (writer, its trace buffer or None): what finish_trace hands traces to, for the writer last seen
    cdef tuple _handoff
    # the ContextVar of the tracer's active span, and the tracer (kept alive by whoever holds ``trace``)
    cdef public object var
    cdef public object tracer

    def __init__(self, sampler, writer, sample_spans, runtime_id, pid):
        self.tags = {}
        self.span_rules = []
        self.sampler = sampler
        self.writer = writer
        self.sample_spans = sample_spans
        self.proc = (runtime_id, pid)
        self.enabled = True

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

    def trace(self, name, service=None, resource=None, span_type=None):
        """``Tracer.trace(name, service=None, resource=None, span_type=None)``: a new span, child of the
        active span (or activated Context), made the active one; use it as a context manager. A tracer's
        ``trace`` is this method of its state: a call goes straight into the core."""
        return tracer_trace(self, self.var, name, service, resource, span_type)

    cpdef bint before_inject(self, object obj, Context context) except -1:
        """The propagation core's question before it injects ``context`` (of ``obj``) whose trace is
        undecided: decide it here, on its local root, with this tracer's sampler, as ddtrace does, so that
        every downstream service receives the decision. False when the trace is not a local trace of this
        tracer that this can place (the caller then asks its process-wide fallback)."""
        return decide_local(self, context)


cpdef Span tracer_start(
    TracerState st, object name, object child_of, object service, object resource, object span_type,
    bint adopt=False
):
    """A new span of the tracer ``st``, child of ``child_of`` (a Span or a Context) or a new trace's
    root, tagged as ddtrace's tracer tags it; ``adopt``: see ``start_span``."""
    cdef Span parent = None
    cdef Context remote = None
    cdef Span span, root
    cdef dict meta
    if child_of is not None:
        if type(child_of) is Span:
            parent = <Span>child_of
        elif type(child_of) is Context:
            remote = <Context>child_of
        else:
            raise TypeError("child_of must be a Span or a Context, not %s" % type(child_of).__name__)
    if parent is None and service is None:
        service = st.service
    span = start_span(name, service, resource, span_type, parent, remote, st, adopt)
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
                if is_propagated_key(key) and inherited(<str>key):
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


cpdef Span tracer_trace(
    TracerState st, object var, object name, object service=None, object resource=None, object span_type=None
):
    """``Tracer.trace``: a new span of ``st``, child of what is active in the ContextVar ``var`` (a
    span, or an activated Context), made the active one."""
    item = get_value(var)
    if type(item) is Span and (<Span>item)._finished:
        item = _open_ancestor(<Span>item)  # no need to store it: the new span replaces it at once
    cdef Span span = tracer_start(st, name, item, service, resource, span_type)
    PyContextVar_Set(var, span)
    return span


cdef inline Span _open_ancestor(Span span):
    """The nearest unfinished ancestor of the finished ``span``, or None."""
    parent = span._parent
    while parent is not None and parent._finished:
        parent = parent._parent
    return parent


cpdef Span active_span_of(object var):
    """The span (or None) active in the ContextVar ``var`` when it holds a span: a finished span gives
    way to its nearest open ancestor, which becomes the active one."""
    item = get_value(var)
    if type(item) is not Span:
        return None
    cdef Span span = <Span>item
    if not span._finished:
        return span
    parent = _open_ancestor(span)
    PyContextVar_Set(var, parent)
    return parent


cdef decide_fn _decide = NULL
cdef type _decider_type = None


cdef void register_sampler(type sampler_type, decide_fn decide) noexcept:
    """The compiled sampler's decision, called directly (no Python call) for samplers of exactly
    ``sampler_type``; any other sampler is asked through ``sample_or_discard``."""
    global _decide, _decider_type
    _decider_type = sampler_type
    _decide = decide


cdef inline int set_derived(Span span, int index) except -1:
    """Give ``span`` the derived metric ``DERIVED_KEYS[index]``: it replaces a stored one, as an
    assignment would."""
    if span._metrics:
        span._metrics.pop(_DERIVED_KEYS[index], None)
    span._derived |= 1 << index
    return 0


cdef bint adopt_link_decision(Span root, Context state) except -1:
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


cdef object _dd_decision(object tracestate):
    """(priority, decision maker or None) of the ``dd=`` member of ``tracestate``, or None without ``s:``."""
    if not tracestate or "dd=" not in tracestate:
        return None
    for member in (<str>tracestate).split(","):
        member = (<str>member).strip()
        if (<str>member).startswith("dd="):
            priority = dm = None
            for item in (<str>member)[3:].split(";"):
                key, _, value = (<str>item).partition(":")
                if key == "s" and len(value) <= 4 and _is_int_text(value):
                    priority = int(value)
                elif key == "t.dm" and value[:1] == "-" and _is_int_text(value):
                    dm = value
            return None if priority is None else (priority, dm)
    return None


cdef bint _is_int_text(str value):
    """``value`` is ASCII digits, with an optional leading ``-``."""
    digits = value[1:] if value[:1] == "-" else value
    return digits.isascii() and digits.isdigit()


# (upper 64 bits, their text) of the trace last finished: the traces of one second share one string
cdef uint64_t _last_tid_high = 0
cdef str _last_tid_text = None
cdef object _last_tid_guard = object()  # what the cache's critical section locks (free-threaded builds)


cdef str shared_tid_text(uint64_t high):
    """``_dd.p.tid`` of the upper 64 bits ``high``: the traces of one second share one string."""
    global _last_tid_high, _last_tid_text
    cdef cs_t cs
    cdef str text = None
    cs_begin(&cs, _last_tid_guard)
    if _last_tid_text is not None and _last_tid_high == high:
        text = _last_tid_text
    cs_end(&cs)
    if text is None:
        text = tid_text(high)
        cs_begin(&cs, _last_tid_guard)
        _last_tid_high = high
        _last_tid_text = text
        cs_end(&cs)
    return text


cdef write_trace_fn _write_trace = NULL
cdef type _trace_buffer_type = None


cdef void register_trace_buffer(type buffer_type, write_trace_fn write) noexcept:
    """The compiled encoding module's ``TraceBuffer`` and its write: a writer whose ``_trace_buffer`` is
    one has its traces written there directly; any other writer gets ``writer.write(spans)``."""
    global _write_trace, _trace_buffer_type
    _trace_buffer_type = buffer_type
    _write_trace = write


cdef object trace_buffer_of(TracerState st, object writer):
    """The trace buffer of ``writer`` (remembered for the writer last seen), or None."""
    cdef cs_t cs
    cs_begin(&cs, st)
    handoff = st._handoff
    cs_end(&cs)
    if handoff is not None and (<tuple>handoff)[0] is writer:
        return (<tuple>handoff)[1]
    try:
        buffer = getattr(writer, "_trace_buffer", None)
    except Exception:
        buffer = None
    if _write_trace == NULL or type(buffer) is not _trace_buffer_type:
        buffer = None
    handoff = (writer, buffer)
    cs_begin(&cs, st)
    st._handoff = handoff
    cs_end(&cs)
    return buffer


cdef inline bint _shown_on_local_root(str key) noexcept:
    """``key`` is the last Datadog parent upstream or a ``baggage.`` tag: a key the trace's state holds that
    its local root shows too. The first character decides for the ``_dd.`` keys the state mostly holds."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(key)
    if n == 0:
        return False
    cdef Py_UCS4 first = read_char(PyUnicode_KIND(key), PyUnicode_DATA(key), 0)
    if first == 95:  # "_"
        return n == 13 and key == LAST_PARENT_KEY  # the length of "_dd.parent_id" first
    return first == 98 and key.startswith(BAGGAGE_TAG_PREFIX)  # "b"


cdef inline void _count_dropped(TracerState st) noexcept:
    """One more trace dropped: a tracer-wide count, which threads finishing traces at once update."""
    cdef cs_t cs
    cs_begin(&cs, st)
    st.dropped += 1
    cs_end(&cs)


cdef int finish_trace(TracerState st, list spans) except -1:
    """A local trace finished: decide it if undecided, tag it as ddtrace does, write it."""
    if not st.enabled:
        return 0
    cdef Span root = <Span>spans[0]  # a chunk's first span: the local root, but in a late chunk
    cdef uint64_t high, low
    cdef Span span, parent
    cdef Context state = root._trace_ctx
    cdef bint discard = False
    if state._priority is None and not (root._links and adopt_link_decision(root, state)):
        if _decide != NULL and type(st.sampler) is _decider_type:
            _decide(st.sampler, root, &discard)
        else:
            _, discard = st.sampler.sample_or_discard(root)
        if discard:
            _count_dropped(st)
            return 0
    priority = state._priority
    if st.span_rules and priority is not None and priority <= 0:
        st.sample_spans(spans, st.span_rules)
    cdef dict meta = root._meta
    cdef bint local_root = root._parent is None
    cdef bint has_tid = False
    for key, value in state._meta.items():
        if is_propagated_key(key):
            meta[key] = value
            if not has_tid and PyUnicode_GET_LENGTH(<str>key) == 9 and PyUnicode_KIND(<str>key) == 1:
                has_tid = memcmp(PyUnicode_DATA(<str>key), b"_dd.p.tid", 9) == 0  # TID_KEY (str == costs more)
        elif local_root and type(key) is str and _shown_on_local_root(<str>key):
            # the local root also shows the last Datadog parent upstream (tracestate p:) and the
            # baggage items DD_TRACE_BAGGAGE_TAG_KEYS names
            meta[key] = value
    if not has_tid and TID_KEY not in meta:  # the trace's own (copied just now) spares the lookup
        int_to_u128(root.trace_id, &high, &low)
        if high:
            meta[TID_KEY] = shared_tid_text(high)
    if priority is not None:
        set_derived(root, 3)  # _sampling_priority_v1
        root._chunk_priority = priority
    origin = state._origin
    service = st.service
    for item in spans:
        span = <Span>item
        if origin is not None:
            span._meta["_dd.origin"] = origin
        parent = span._parent
        if parent is None or (parent.service is not span.service and parent.service != span.service):
            set_derived(span, 4)  # _dd.top_level
        if service and span.service is not service and span.service != service:
            span._meta["_dd.base_service"] = service
    if st.shut_down:
        _count_dropped(st)
        return 0
    writer = st.writer
    buffer = trace_buffer_of(st, writer)
    if buffer is not None:
        _write_trace(buffer, spans)  # the agent writer's buffer, in C: no Python call per trace
    else:
        writer.write(spans)
    return 0


cdef bint decide_local(TracerState st, Context context) except -1:
    """``TracerState.before_inject``: decide the undecided local trace of ``st`` that ``context`` belongs
    to, in C; False when it is not one (another tracer's, an extracted or foreign context, a late chunk)."""
    cdef Context state = context.trace_state()
    cdef Span root
    spans = state._spans
    if state._sink is not st or not spans or st.sampler is None:
        return False
    root = <Span>(<list>spans)[0]
    if root._root is not None:  # a late chunk: its local root is gone
        return False
    if root._links and adopt_link_decision(root, state):
        return True
    if _decide != NULL and type(st.sampler) is _decider_type:
        _decide(st.sampler, root, NULL)
    else:
        st.sampler.sample(root)
    return True


def set_trace_id_128(bint enabled):
    """New traces get 128-bit ids (ddtrace's default) unless disabled."""
    global _trace_id_128
    _trace_id_128 = enabled


# Context is cimported (a C-level name); publish it as a module attribute too, as the pure twin has it.
globals()["Context"] = Context
