# Declaration of the compiled id generator (src/ids.pyx), for the other compiled modules to cimport:
# span ids and trace ids made in C, without a Python call per span.

from libc.stdint cimport uint64_t

cdef uint64_t next_u64() noexcept
cdef object new_trace_id(bint full)
