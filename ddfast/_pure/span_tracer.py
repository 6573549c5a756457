"""Spans: the tracer's per-span and per-trace work: its state, starting and finishing traces, decisions.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_tracer.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.span_object import BAGGAGE_TAG_PREFIX
from ddfast._pure.span_object import DECISION_MAKER_KEY
from ddfast._pure.span_object import DERIVED_KEYS
from ddfast._pure.span_object import DERIVED_LANGUAGE
from ddfast._pure.span_object import DERIVED_PROCESS_ID
from ddfast._pure.span_object import DERIVED_RUNTIME_ID
from ddfast._pure.span_object import LAST_PARENT_KEY
from ddfast._pure.span_object import Span
from ddfast._pure.span_object import count_dropped
from ddfast._pure.span_object import start_span

# -- the tracer's per-span and per-trace work ---------------------------------------------------------

PROPAGATED_PREFIX = "_dd.p."
TID_KEY = "_dd.p.tid"
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
                 "sample_spans", "enabled", "shut_down", "dropped", "_handoff", "var", "tracer")  # fmt: skip

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
        # (writer, its trace buffer or None): what finish_trace hands traces to, for the writer last seen
        self._handoff = None
        # the ContextVar of the tracer's active span, and the tracer (kept alive by whoever holds ``trace``)
        self.var = None
        self.tracer = None

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

    def before_inject(self, obj, context):
        """The propagation core's question before it injects ``context`` (of ``obj``) whose trace is
        undecided: decide it here, on its local root, with this tracer's sampler, as ddtrace does, so that
        every downstream service receives the decision. False when the trace is not a local trace of this
        tracer that this can place (the caller then asks its process-wide fallback)."""
        return decide_local(self, context)


def tracer_start(st, name, child_of, service, resource, span_type, adopt=False):
    """A new span of the tracer ``st``, child of ``child_of`` (a Span or a Context) or a new trace's
    root, tagged as ddtrace's tracer tags it; ``adopt``: see ``start_span``."""
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


def shared_tid_text(high):
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


_write_trace = None
_trace_buffer_type = None


def register_trace_buffer(buffer_type, write):
    """The encoding module's ``TraceBuffer`` and its write: a writer whose ``_trace_buffer`` is one has
    its traces written there directly; any other writer gets ``writer.write(spans)``."""
    global _write_trace, _trace_buffer_type
    _trace_buffer_type = buffer_type
    _write_trace = write


def trace_buffer_of(st, writer):
    """The trace buffer of ``writer`` (remembered for the writer last seen), or None."""
    handoff = st._handoff
    if handoff is not None and handoff[0] is writer:
        return handoff[1]
    try:
        buffer = getattr(writer, "_trace_buffer", None)
    except Exception:
        buffer = None
    if _write_trace is None or type(buffer) is not _trace_buffer_type:
        buffer = None
    st._handoff = (writer, buffer)
    return buffer


def finish_trace(st, spans):
    """A local trace finished: decide it if undecided, tag it as ddtrace does, write it."""
    if not st.enabled:
        return
    root = spans[0]  # a chunk's first span: the local root, but in a late chunk
    state = root._trace_ctx
    if state._priority is None and not (root._links and adopt_link_decision(root, state)):
        _, discard = st.sampler.sample_or_discard(root)
        if discard:
            count_dropped(st)
            return
    priority = state._priority
    if st.span_rules and priority is not None and priority <= 0:
        st.sample_spans(spans, st.span_rules)
    meta = root._meta
    local_root = root._parent is None
    has_tid = False
    for key, value in state._meta.items():
        if is_propagated_key(key):
            meta[key] = value
            has_tid = has_tid or key == TID_KEY
        elif local_root and (key == LAST_PARENT_KEY or key.startswith(BAGGAGE_TAG_PREFIX)):
            # the local root also shows the last Datadog parent upstream (tracestate p:) and the
            # baggage items DD_TRACE_BAGGAGE_TAG_KEYS names
            meta[key] = value
    if not has_tid and root.trace_id > U64 and TID_KEY not in meta:  # the trace's own spares the lookup
        meta[TID_KEY] = shared_tid_text(root.trace_id >> 64)
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
        count_dropped(st)
        return
    writer = st.writer
    buffer = trace_buffer_of(st, writer)
    if buffer is not None:
        _write_trace(buffer, spans)  # the agent writer's buffer, directly
    else:
        writer.write(spans)


def decide_local(st, context):
    """``TracerState.before_inject``: decide the undecided local trace of ``st`` that ``context`` belongs
    to; False when it is not one (another tracer's, an extracted or foreign context, a late chunk)."""
    state = context.trace_state()
    spans = state._spans
    if state._sink is not st or not spans or st.sampler is None:
        return False
    root = spans[0]
    if root._root is not None:  # a late chunk: its local root is gone
        return False
    if not (root._links and adopt_link_decision(root, state)):
        st.sampler.sample(root)
    return True
