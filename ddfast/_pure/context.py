"""The propagated state of a trace, pure Python. Twin of ``src/context.pyx``.

A ``Context`` is what extraction returns and injection reads: trace id (up to 128 bits), parent span
id, sampling priority, origin, the propagated ``_dd.p.*`` tags and propagation errors (``meta``),
baggage and span links. Keywords and behaviour follow ddtrace's ``Context``.
"""

ORIGIN_KEY = "_dd.origin"
_U64 = 0xFFFFFFFFFFFFFFFF
_U128 = (1 << 128) - 1


# (traceparent_of, tracestate_of) of the propagation module, which hands them over when it is imported:
# writing W3C headers is its job, and this module imports it only when they are first asked for (a
# context's or a span link's W3C view before anything imported propagation)
_w3c_writers = (None, None)


def set_w3c_writers(traceparent_of, tracestate_of):
    """Called once by the propagation module: what ``Context._traceparent``/``_tracestate`` use."""
    global _w3c_writers
    _w3c_writers = (traceparent_of, tracestate_of)


def w3c_writers():
    """``(traceparent_of, tracestate_of)``, the propagation module imported first when nothing has yet."""
    if _w3c_writers[0] is None:
        from ddfast._pure import propagation  # noqa: F401  (it hands them over as it is imported)
    return _w3c_writers


def _valid_origin(origin):
    """ddtrace drops an origin that is not printable ASCII: it could not be propagated intact."""
    return origin.isascii() and origin.isprintable()


def _checked_id(value, name, limit):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("Context %s must be an int or None, not %s" % (name, type(value).__name__))
    if not 0 <= value <= limit:
        raise ValueError("Context %s must be in [0, %d], got %d" % (name, limit, value))
    return value


def _checked_dict(value, name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError("Context %s must be a dict or None, not %s" % (name, type(value).__name__))
    return value


def span_context(shared, trace_id, span_id):
    """A local span's Context: its own ids, the trace-wide state (priority, origin, meta, baggage,
    metrics) read through ``shared``, the context of the trace."""
    ctx = Context.__new__(Context)
    ctx.trace_id = trace_id
    ctx.span_id = span_id
    ctx._priority = None
    ctx._origin = None
    ctx._shared = shared
    ctx._ot = None
    ctx._meta = shared._meta
    ctx._baggage = shared._baggage
    ctx._metrics = shared._metrics
    ctx._span_links = []
    ctx._is_remote = False
    return ctx


class Context:
    """Trace state that crosses process boundaries (ddtrace's ``Context``)."""

    __slots__ = (
        "trace_id",
        "span_id",
        "_priority",
        "_origin",
        "_meta",
        "_metrics",
        "_baggage",
        "_span_links",
        "_is_remote",
        "_shared",
        "_ot",
        # the local trace's collection, on its trace-state context (set by the span module): the spans
        # started and not yet handed on, how many are open, what receives them (None: nothing does)
        "_sink",
        "_spans",
        "_open",
    )

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
        self._shared = None
        self._ot = None
        self._sink = self._spans = None
        self._open = 0
        self._priority = sampling_priority
        self._origin = None
        self._meta = _checked_dict(meta, "meta")
        if dd_origin is None and type(self._meta.get(ORIGIN_KEY)) is str:
            dd_origin = self._meta[ORIGIN_KEY]  # ddtrace reads the origin from meta
        self.dd_origin = dd_origin
        self._metrics = _checked_dict(metrics, "metrics")
        self._baggage = _checked_dict(baggage, "baggage")
        if span_links is None:
            span_links = []
        elif not isinstance(span_links, list):
            raise TypeError("Context span_links must be a list or None, not %s" % type(span_links).__name__)
        self._span_links = span_links
        self._is_remote = bool(is_remote)

    def trace_state(self):
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
        state = self.trace_state()
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
        state = self.trace_state()
        state._origin = value if value is not None and _valid_origin(value) else None
        # kept in meta too, as ddtrace's Context keeps it
        if state._origin is not None:
            state._meta[ORIGIN_KEY] = state._origin
        else:
            state._meta.pop(ORIGIN_KEY, None)

    @property
    def meta(self):
        """Propagated ``_dd.p.*`` tags, ``_dd.propagation_error`` and W3C state (shared, mutable)."""
        return self._meta

    @property
    def metrics(self):
        return self._metrics

    @property
    def baggage(self):
        return self._baggage

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
        self._baggage[key] = value

    def get_baggage_item(self, key):
        return self._baggage.get(key)

    def get_all_baggage_items(self):
        return dict(self._baggage)

    def remove_baggage_item(self, key):
        self._baggage.pop(key, None)

    def remove_all_baggage_items(self):
        self._baggage.clear()

    # -- value semantics -----------------------------------------------------------------------------

    def __eq__(self, other):
        if not isinstance(other, Context):
            return NotImplemented
        return (
            self.trace_id == other.trace_id
            and self.span_id == other.span_id
            and self.sampling_priority == other.sampling_priority
            and self.dd_origin == other.dd_origin
            and self._meta == other._meta
            and self._metrics == other._metrics
            and self._span_links == other._span_links
            and self._baggage == other._baggage
            and self._is_remote == other._is_remote
        )

    __hash__ = None

    def __repr__(self):
        return (
            "Context(trace_id=%r, span_id=%r, sampling_priority=%r, dd_origin=%r, meta=%r, metrics=%r, "
            "baggage=%r, span_links=%r, is_remote=%r)"
            % (
                self.trace_id,
                self.span_id,
                self.sampling_priority,
                self.dd_origin,
                self._meta,
                self._metrics,
                self._baggage,
                self._span_links,
                self._is_remote,
            )
        )
