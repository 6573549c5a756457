# cython: language_level=3
"""A growable ASCII buffer for building header values in one pass and one final allocation.

Values are validated (or cleaned) to printable ASCII as they are copied in, so the result is made with
``PyUnicode_FromKindAndData(1, ...)``: no decoding, no intermediate strings.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport uint32_t
from libc.string cimport memcpy

from idcodec cimport PyUnicode_DATA, PyUnicode_KIND, ascii_str, read_char


cdef struct StrBuf:
    char *data
    Py_ssize_t length
    Py_ssize_t capacity
    char inline_store[512]


cdef inline void sb_init(StrBuf *b) noexcept:
    b.data = b.inline_store
    b.length = 0
    b.capacity = 512


cdef inline void sb_free(StrBuf *b) noexcept:
    if b.data != b.inline_store:
        PyMem_Free(b.data)
    b.data = b.inline_store
    b.capacity = 512
    b.length = 0


cdef inline int sb_reserve(StrBuf *b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.length + extra
    cdef char *grown
    if need <= b.capacity:
        return 0
    need = max(need, 2 * b.capacity)
    if b.data == b.inline_store:
        grown = <char *>PyMem_Malloc(need)
        if grown is NULL:
            raise MemoryError()
        memcpy(grown, b.data, b.length)
    else:
        grown = <char *>PyMem_Realloc(b.data, need)
        if grown is NULL:
            raise MemoryError()
    b.data = grown
    b.capacity = need
    return 0


cdef inline int sb_char(StrBuf *b, char c) except -1:
    if b.length >= b.capacity:
        sb_reserve(b, 1)
    b.data[b.length] = c
    b.length += 1
    return 0


cdef inline int sb_bytes(StrBuf *b, const char *s, Py_ssize_t n) except -1:
    sb_reserve(b, n)
    memcpy(b.data + b.length, s, n)
    b.length += n
    return 0


cdef inline int sb_ascii(StrBuf *b, str s, Py_ssize_t start, Py_ssize_t stop) except -1:
    """Copy s[start:stop], which the caller knows to be ASCII."""
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_ssize_t i
    sb_reserve(b, stop - start)
    if kind == 1:
        memcpy(b.data + b.length, (<char *>data) + start, stop - start)
        b.length += stop - start
    else:
        for i in range(start, stop):
            b.data[b.length] = <char>read_char(kind, data, i)
            b.length += 1
    return 0


cdef inline str sb_str(StrBuf *b, Py_ssize_t start=0):
    return ascii_str(b.data + start, b.length - start)
