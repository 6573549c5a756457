# Spans: one message's span of an RPC, task queue or message broker integration, in one call each.
# Included by src/span.pyx (one extension module); pure twin: ddfast/_pure/span_carrier.py.

cdef extern from *:
    """
    /* a dict with room for n items: CPython's, as Cython's own dict displays make them */
    #if CYTHON_COMPILING_IN_CPYTHON
    #define ddf_dict_presized(n) _PyDict_NewPresized(n)
    #else
    #define ddf_dict_presized(n) PyDict_New()
    #endif
    """
    dict dict_presized "ddf_dict_presized"(Py_ssize_t n)


# keys whose tags have an effect beyond the tag (sampling, service) or are derived: never in a template
cdef frozenset _NOT_PLAIN = frozenset([
    "manual.keep", "manual.drop", "auto.keep", "auto.drop", "service.name", "service.version",
]) | frozenset(DERIVED_KEYS)


cdef tuple plain_tags(object tags, tuple keys):
    """``(meta, metrics, keys)``: a template's constant tags split as a span stores them (text tags,
    numeric tags), and the per-message keys, each checked to be a plain key (see ``MessageSpans``)."""
    cdef dict meta = {}, metrics = {}
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
                raise TypeError("a template's tag values are str, int or float, not %s (%r)"
                                % (type(value).__name__, key))
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


@cython.final
cdef class MessageSpans:
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

    cdef readonly HttpTracer http
    cdef readonly object name
    cdef readonly object service
    cdef readonly object span_type
    cdef readonly bint distributed
    cdef readonly bint as_bytes
    cdef readonly tuple keys
    cdef dict meta
    cdef dict metrics
    cdef object on_error

    def __init__(self, HttpTracer http not None, name, service=None, span_type=None, tags=None, keys=(),
                 bint distributed=True, bint as_bytes=True, on_error=None):
        if not isinstance(name, str) or not name:
            raise TypeError("a span name is a non-empty str, not %r" % (name,))
        self.http = http
        self.name = name
        self.service = service or None
        self.span_type = span_type
        meta, self.metrics, self.keys = plain_tags(tags, tuple(keys))
        # with room for the per-message tags: a span's meta starts as a copy of it (see _tag), made at the
        # size it grows to rather than resized while the tags go in
        self.meta = dict_presized(len(meta) + len(self.keys))
        for key, value in meta.items():  # one by one: an update of an empty dict would take meta's size
            self.meta[key] = value
        self.distributed = distributed
        self.as_bytes = as_bytes
        self.on_error = on_error

    @property
    def tags(self):
        """The constant tags every span gets (a copy)."""
        tags = dict(self.meta)
        tags.update(self.metrics)
        return tags

    cdef inline int _tag(self, Span span, tuple values) except -1:
        if self.meta:
            if span._meta:
                PyDict_Update(span._meta, self.meta)
            else:  # a copy of the template, its size kept: room for the per-message tags
                span._meta = PyDict_Copy(self.meta)
        if self.metrics:
            if span._metrics is None:
                span._metrics = dict(self.metrics)
            else:
                PyDict_Update(span._metrics, self.metrics)
        if values is None:
            return 0
        cdef tuple keys = self.keys
        cdef Py_ssize_t i, n = PyTuple_GET_SIZE(values)
        for i in range(n):
            value = <object>PyTuple_GET_ITEM(values, i)
            if value is None:
                continue
            if type(value) is str:  # a plain key met once (checked when made): stored as it is
                PyDict_SetItem(span._meta, <object>PyTuple_GET_ITEM(keys, i), value)
            elif type(value) is int and fits_i64(value):  # a metric, as put stores it, without put's other checks
                span.store_metric(<object>PyTuple_GET_ITEM(keys, i), value)
            else:
                if isinstance(value, (bool, bytes)):
                    value = str(value)
                span.put(<object>PyTuple_GET_ITEM(keys, i), value)
        return 0

    cpdef Span start(self, tuple values=None, object child_of=None, bint activate=True, object resource=None,
                     object service=None):
        """A span of this operation, child of ``child_of`` (a Span or a Context; None: the active span, a new
        trace when there is none), tagged, the active one unless not ``activate``; ``resource`` (default: the
        span's name) and ``service`` (default: the operation's) of this span."""
        return self._start(values, child_of, activate, resource, service, False)

    cdef Span _start(self, tuple values, object child_of, bint activate, object resource, object service,
                     bint adopt):
        """``start``; ``adopt``: ``child_of`` is this object's own extracted context (see ``consume``)."""
        cdef HttpTracer http = self.http
        if values is not None and PyTuple_GET_SIZE(values) > PyTuple_GET_SIZE(self.keys):  # before any span
            raise ValueError("%d values for %d keys %r" % (PyTuple_GET_SIZE(values), len(self.keys), self.keys))
        if child_of is None:
            child_of = get_value(http.var)
            if type(child_of) is Span and (<Span>child_of)._finished:
                child_of = _open_ancestor(<Span>child_of)
        if service is None:
            service = self.service
        cdef Span span = tracer_start(http.state, self.name, child_of, service, resource, self.span_type, adopt)
        self._tag(span, values)
        if activate:
            PyContextVar_Set(http.var, span)
        return span

    cpdef Context extract(self, object carrier):
        """The context ``carrier`` (a message's headers: a mapping or ``(name, value)`` pairs, str or bytes)
        carries, or None: none there, not distributed, or a carrier that could not be read (counted)."""
        if not self.distributed or carrier is None:
            return None
        cdef HttpTracer http = self.http
        try:
            context = http._extracted(carrier)
        except Exception:
            self._error("carrier_type", type(carrier).__name__)
            return None
        if type(context) is not Context or (<Context>context).trace_id is None:
            return None
        return <Context>context

    cpdef Span consume(self, object carrier, tuple values=None, bint activate=False, object start_ns=None,
                       object resource=None, object service=None):
        """The span of one received message, request or task: a child of the context ``carrier`` carries
        (see ``extract``), else of the active span; tagged; started at ``start_ns`` when given (before
        the library waited for the message)."""
        cdef Context context = self.extract(carrier)  # a new context, of this call alone: the trace's state
        cdef Span span = self._start(values, context, activate, resource, service, context is not None)
        if start_ns is not None:
            span.start_ns = start_ns
        return span

    cpdef list context_pairs(self, Span span):
        """``span``'s context in the configured styles as a new list of ``(name, value)`` pairs (values
        bytes when ``as_bytes``), to send with a message; empty when not distributed or the propagation
        refused it (counted)."""
        if not self.distributed:
            return []
        cdef Context state = span._trace_ctx
        cdef bint decided = True
        cdef HttpTracer http = self.http
        try:
            if state is not None and state._priority is None:
                # an undecided trace of a tracer of this module is decided here, as the propagation core
                # would have its TracerState.before_inject decide it; any other is left to the core
                sink = state._sink
                decided = type(sink) is TracerState and decide_local(<TracerState>sink, state)
            context = span._context if decided and span._context is not None else span
            if http._inject_pairs != NULL:
                return http._inject_pairs(context, self.as_bytes, not decided)
            return http.inject_pairs(context, self.as_bytes, not decided)
        except Exception:
            self._error("inject_carrier", "message")
            return []

    cpdef int finish(self, Span span, object exc=None) except -1:
        """End ``span``, recording ``exc`` (the exception that ended the call) when given."""
        if exc is not None:
            span.set_exc_info(type(exc), exc, exc.__traceback__)
        span.finish()
        return 0

    cdef void _error(self, str reason, object detail):
        if self.on_error is not None:
            try:
                self.on_error(reason, detail)
            except Exception:
                pass
