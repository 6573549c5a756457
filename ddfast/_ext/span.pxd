# Declaration of the compiled Span and TraceBuffer (src/span.pyx), for the other compiled modules to
# cimport (the sampler reads span fields directly).

from ddfast._ext.context cimport Context


cdef class TraceBuffer:
    cdef list spans
    cdef Py_ssize_t open
    cdef public object sink

    cdef void started(self, Span span)
    cdef int finished(self, Span span) except -1


cdef class Span:
    cdef public object name
    cdef public object service
    cdef object _resource
    cdef public object span_type
    cdef public object trace_id
    cdef public object span_id
    cdef public object parent_id
    cdef public long long start_ns
    cdef public object duration_ns
    cdef public int error
    cdef public dict _meta
    cdef public dict _metrics
    cdef public list _links
    cdef public list _on_finish
    # the trace's shared state (the local root's own context); _context is made on first read
    cdef public Context _trace_ctx
    cdef Context _context
    cdef public Span _parent
    # the local root of a child span; None for a local root itself (no reference cycle per trace)
    cdef Span _root
    cdef public TraceBuffer _buffer
    cdef object __weakref__

    cdef int store_tag(self, object key, str value) except -1
    cdef int store_metric(self, object key, object value) except -1
    cdef int put(self, object key, object value) except -1
    cdef _add_link(self, link)
    cdef int _finish_at(self, long long end) except -1


cpdef Span start_span(
    object name, object service, object resource, object span_type, Span parent, Context remote, object sink
)
