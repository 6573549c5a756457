# Declaration of the compiled Context (src/context.pyx), for the other compiled modules to cimport.
# It lives beside the built module so that Cython finds it under the module's package name.

cdef class Context:
    cdef public object trace_id
    cdef public object span_id
    cdef public object _priority
    cdef public object _origin
    cdef public dict _meta
    # made on first use: most contexts never carry metrics, baggage or links
    cdef dict _metrics_d
    cdef dict _baggage_d
    cdef list _links_d
    cdef public bint _is_remote
    # a span's context: the trace's own context, which holds the trace-wide priority, origin and
    # OpenTelemetry sampling state; None for a context that is its own trace state
    cdef public Context _shared
    # "rv:<hex>;th:<hex>" of a probabilistic local sampling decision (sent as the tracestate ot= member);
    # "" after a manual decision (none of ours, and an inherited th no longer holds); None otherwise
    cdef public object _ot
    # the local trace's collection, on its trace-state context: the spans started and not yet handed on,
    # how many are open, and what receives them when the last one finishes (None: nothing does)
    cdef public object _sink
    cdef list _spans
    cdef Py_ssize_t _open

    cdef dict baggage_dict(self)
    cdef Context trace_state(self)


cdef Context new_context(object trace_id, object span_id, object origin, object priority, dict meta)
cdef Context span_context(Context shared, object trace_id, object span_id)
