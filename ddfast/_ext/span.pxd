# Declaration of the compiled Span (src/span.pyx), for the other compiled modules to cimport (the
# sampler and the encoders read span fields directly).

from ddfast._ext.context cimport Context


cdef enum:
    # bits of Span._derived: which of DERIVED_KEYS (in that order) the span carries without storing
    # them; the first two are tags, the other three metrics
    DERIVED_LANGUAGE = 1
    DERIVED_RUNTIME_ID = 2
    DERIVED_PROCESS_ID = 4
    DERIVED_PRIORITY = 8
    DERIVED_TOP_LEVEL = 16
    DERIVED_TAGS = 3
    DERIVED_METRICS = 28
    DERIVED_COUNT = 5


cdef class Span:
    cdef public object name
    cdef public object service
    cdef object _resource
    cdef public object span_type
    cdef public object trace_id
    cdef public object span_id
    cdef public object parent_id
    cdef public long long start_ns
    cdef long long _duration_ns  # meaningful once _finished
    cdef public int error
    cdef bint _finished
    # an HTTP client integration's span (HttpTracer.client_start): while open and active, the exchange is
    # traced, and a client integration below it (requests -> urllib3) does not trace it again
    cdef bint _http_client
    cdef int _derived
    # (runtime id, process id) of the tracer that started a local root (its derived tags' values)
    cdef tuple _proc
    # the trace's priority when its chunk was handed on (the first span's _sampling_priority_v1)
    cdef object _chunk_priority
    cdef public dict _meta
    # None until the span's first stored metric: most spans have none
    cdef public dict _metrics
    cdef public list _links
    cdef public list _on_finish
    # the trace's shared state (the local root's own context); _context is made on first read
    cdef public Context _trace_ctx
    cdef Context _context
    cdef public Span _parent
    # the local root of a child span; None for a local root itself (no reference cycle per trace)
    cdef Span _root
    cdef object __weakref__

    cdef object derived_of(self, object key, int mask)
    cdef int add_derived(self, dict into, int mask) except -1
    cdef object tag_value(self, object key)
    cdef object metric_value(self, object key)
    cdef object derived_value(self, int index)
    cdef int store_tag(self, object key, str value) except -1
    cdef int store_metric(self, object key, object value) except -1
    cdef int put(self, object key, object value) except -1
    cdef _add_link(self, link)
    cdef int _finish_at(self, long long end) except -1


ctypedef int (*decide_fn)(object sampler, Span root, bint *discard) except -1

cdef void register_sampler(type sampler_type, decide_fn decide) noexcept

ctypedef int (*write_trace_fn)(object buffer, list spans) except -1

cdef void register_trace_buffer(type buffer_type, write_trace_fn write) noexcept

# the compiled propagation module's http_extract / http_inject / http_inject_pairs
ctypedef object (*extract_fn)(object carrier)
ctypedef object (*inject_fn)(object context, object headers)
ctypedef object (*inject_pairs_fn)(object context, bint as_bytes, bint decide)

cdef void register_propagation(object extract, extract_fn c_extract, object inject, inject_fn c_inject,
                               object inject_pairs, inject_pairs_fn c_inject_pairs) noexcept


cpdef Span start_span(
    object name, object service, object resource, object span_type, Span parent, Context remote, object sink,
    bint adopt=*
)
