# Declaration of the compiled Context (src/context.pyx), for the other compiled modules to cimport.
# It lives beside the built module so that Cython finds it under the module's package name.

cdef class Context:
    cdef public object trace_id
    cdef public object span_id
    cdef public object sampling_priority
    cdef object _origin
    cdef public dict _meta
    # made on first use: most contexts never carry metrics, baggage or links
    cdef dict _metrics_d
    cdef dict _baggage_d
    cdef list _links_d
    cdef public bint _is_remote

    cdef dict baggage_dict(self)


cdef Context new_context(object trace_id, object span_id, object origin, object priority, dict meta)
