# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""The propagated state of a trace, compiled. Twin of ``ddfast/_pure/context.py``.

A ``Context`` is what extraction returns and injection reads: trace id (up to 128 bits), parent span
id, sampling priority, origin, the propagated ``_dd.p.*`` tags and propagation errors (``meta``),
baggage and span links. Keywords and behaviour follow ddtrace's ``Context``.
"""

cimport cython
from idcodec cimport is_printable_ascii

cdef str ORIGIN_KEY = "_dd.origin"
cdef object _U64 = 0xFFFFFFFFFFFFFFFF
cdef object _U128 = (1 << 128) - 1


# (traceparent_of, tracestate_of) of the propagation module, which hands them over when it is imported:
# writing W3C headers is its job, and this module imports it only when they are first asked for (a
# context's or a span link's W3C view before anything imported propagation)
cdef tuple _w3c_writers = (None, None)


def set_w3c_writers(traceparent_of, tracestate_of):
    """Called once by the propagation module: what ``Context._traceparent``/``_tracestate`` use."""
    global _w3c_writers
    _w3c_writers = (traceparent_of, tracestate_of)


cdef tuple w3c_writers():
    """``(traceparent_of, tracestate_of)``, the propagation module imported first when nothing has yet."""
    if _w3c_writers[0] is None:
        from ddfast._ext import propagation  # no-cython-lint  (it hands them over as it is imported)
    return _w3c_writers


cdef inline bint _valid_origin(str origin):
    """ddtrace drops an origin that is not printable ASCII: it could not be propagated intact."""
    return is_printable_ascii(origin)


cdef object _checked_id(object value, str name, object limit):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("Context %s must be an int or None, not %s" % (name, type(value).__name__))
    if not 0 <= value <= limit:
        raise ValueError("Context %s must be in [0, %d], got %d" % (name, limit, value))
    return value


cdef dict _checked_dict(object value, str name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError("Context %s must be a dict or None, not %s" % (name, type(value).__name__))
    return value


cdef Context new_context(object trace_id, object span_id, object origin, object priority, dict meta):
    """A remote Context from already-validated parts (the extraction fast path: no argument parsing)."""
    cdef Context ctx = Context.__new__(Context)
    ctx.trace_id = trace_id
    ctx.span_id = span_id
    ctx._priority = priority
    ctx._origin = origin if origin is not None and _valid_origin(origin) else None
    if ctx._origin is not None:
        meta[ORIGIN_KEY] = origin  # where ddtrace's Context keeps it: code reading _meta finds it there
    ctx._meta = meta
    ctx._is_remote = True
    return ctx


cdef Context span_context(Context shared, object trace_id, object span_id):
    """A local span's Context: its own ids, the trace-wide state (priority, origin, meta, baggage,
    metrics) read through ``shared``, the context of the trace."""
    cdef Context ctx = Context.__new__(Context)
    ctx.trace_id = trace_id
    ctx.span_id = span_id
    ctx._shared = shared
    ctx._meta = shared._meta
    ctx._baggage_d = shared.baggage_dict()
    ctx._metrics_d = shared._metrics_d
    ctx._is_remote = False
    return ctx


# made and freed several times per traced request (extracted, per span): reused from a short list
@cython.freelist(8)
cdef class Context:
    """Trace state that crosses process boundaries (ddtrace's ``Context``)."""

    def __init__(
        self,
        trace_id=None,
        span_id=None,
        dd_origin=None,
        sampling_priority=None,
        meta=None,
        metrics=None,
        span_links=None,
        baggage=None,
        is_remote=True,
    ):
        self.trace_id = _checked_id(trace_id, "trace_id", _U128)
        self.span_id = _checked_id(span_id, "span_id", _U64)
        if sampling_priority is not None and not isinstance(sampling_priority, (int, float)):
            raise TypeError(
                "Context sampling_priority must be a number or None, not %s" % type(sampling_priority).__name__
            )
        self._priority = sampling_priority
        self._meta = _checked_dict(meta, "meta")
        if dd_origin is None and type(self._meta.get(ORIGIN_KEY)) is str:
            dd_origin = self._meta[ORIGIN_KEY]  # ddtrace reads the origin from meta
        self.dd_origin = dd_origin
        self._metrics_d = _checked_dict(metrics, "metrics") if metrics is not None else None
        self._baggage_d = _checked_dict(baggage, "baggage") if baggage is not None else None
        if span_links is not None and not isinstance(span_links, list):
            raise TypeError("Context span_links must be a list or None, not %s" % type(span_links).__name__)
        self._links_d = span_links
        self._is_remote = bool(is_remote)

    cdef dict baggage_dict(self):
        if self._baggage_d is None:
            self._baggage_d = {}
        return self._baggage_d

    cdef Context trace_state(self):
        """The context holding the trace-wide priority, origin and sampling state."""
        return self._shared if self._shared is not None else self

    # -- ddtrace-compatible accessors ------------------------------------------------------------

    @property
    def sampling_priority(self):
        """The trace's priority: -1 user reject, 0 auto reject, 1 auto keep, 2 user keep; None if undecided."""
        return self.trace_state()._priority

    @sampling_priority.setter
    def sampling_priority(self, value):
        if value is not None and not isinstance(value, (int, float)):
            raise TypeError("Context sampling_priority must be a number or None, not %s" % type(value).__name__)
        cdef Context state = self.trace_state()
        state._priority = value
        state._ot = None

    @property
    def dd_origin(self):
        """The product that started the trace (``synthetics``, ``rum``…), or None."""
        return self.trace_state()._origin

    @dd_origin.setter
    def dd_origin(self, value):
        if value is not None and not isinstance(value, str):
            raise TypeError("Context dd_origin must be a str or None, not %s" % type(value).__name__)
        cdef Context state = self.trace_state()
        state._origin = value if value is not None and _valid_origin(value) else None
        # kept in meta too, as ddtrace's Context keeps it
        if state._origin is not None:
            state._meta[ORIGIN_KEY] = state._origin
        elif ORIGIN_KEY in state._meta:
            del state._meta[ORIGIN_KEY]

    @property
    def meta(self):
        """Propagated ``_dd.p.*`` tags, ``_dd.propagation_error`` and W3C state (shared, mutable)."""
        return self._meta

    @property
    def _metrics(self):
        if self._metrics_d is None:
            self._metrics_d = self._shared._metrics if self._shared is not None else {}
        return self._metrics_d

    @_metrics.setter
    def _metrics(self, value):
        self._metrics_d = _checked_dict(value, "metrics")

    @property
    def _baggage(self):
        return self.baggage_dict()

    @_baggage.setter
    def _baggage(self, value):
        self._baggage_d = _checked_dict(value, "baggage")

    @property
    def _span_links(self):
        if self._links_d is None:
            self._links_d = []
        return self._links_d

    @_span_links.setter
    def _span_links(self, value):
        if not isinstance(value, list):
            raise TypeError("Context span_links must be a list, not %s" % type(value).__name__)
        self._links_d = value

    @property
    def metrics(self):
        return self._metrics

    @property
    def baggage(self):
        return self.baggage_dict()

    @property
    def span_links(self):
        return self._span_links

    @property
    def is_remote(self):
        """True for a context extracted from headers (or made by hand), False for a local span's."""
        return self._is_remote

    @property
    def _trace_id_64bits(self):
        return None if self.trace_id is None else self.trace_id & _U64

    @property
    def _traceparent(self):
        """The ``traceparent`` this context is sent with (ddtrace's private property)."""
        return w3c_writers()[0](self)

    @property
    def _tracestate(self):
        """The ``tracestate`` this context is sent with (ddtrace's private property)."""
        return w3c_writers()[1](self)

    # -- baggage -----------------------------------------------------------------------------------

    def set_baggage_item(self, key, value):
        self.baggage_dict()[key] = value

    def get_baggage_item(self, key):
        return self._baggage_d.get(key) if self._baggage_d is not None else None

    def get_all_baggage_items(self):
        return dict(self._baggage_d) if self._baggage_d is not None else {}

    def remove_baggage_item(self, key):
        if self._baggage_d is not None:
            self._baggage_d.pop(key, None)

    def remove_all_baggage_items(self):
        if self._baggage_d is not None:
            self._baggage_d.clear()

    # -- value semantics -----------------------------------------------------------------------------

    def __eq__(self, other):
        if not isinstance(other, Context):
            return NotImplemented
        cdef Context o = <Context>other
        return (
            self.trace_id == o.trace_id
            and self.span_id == o.span_id
            and self.trace_state()._priority == o.trace_state()._priority
            and self.trace_state()._origin == o.trace_state()._origin
            and self._meta == o._meta
            and (self._metrics_d or {}) == (o._metrics_d or {})
            and (self._links_d or []) == (o._links_d or [])
            and (self._baggage_d or {}) == (o._baggage_d or {})
            and self._is_remote == o._is_remote
        )

    __hash__ = None

    def __repr__(self):
        return (
            "Context(trace_id=%r, span_id=%r, sampling_priority=%r, dd_origin=%r, meta=%r, metrics=%r, "
            "baggage=%r, span_links=%r, is_remote=%r)"
            % (
                self.trace_id,
                self.span_id,
                self.trace_state()._priority,
                self.trace_state()._origin,
                self._meta,
                self._metrics_d or {},
                self._baggage_d or {},
                self._links_d or [],
                self._is_remote,
            )
        )
