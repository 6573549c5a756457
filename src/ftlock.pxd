# cython: language_level=3
"""Per-object locks for the few places where threads update shared state, compiled away under the GIL.

On a free-threaded CPython (``Py_GIL_DISABLED``) ``cs_begin``/``cs_end`` are CPython's critical sections
on one object (the lock its own dict, list and attribute operations take; released while the thread
waits for a stop-the-world pause, so no deadlock with the collector). Under the GIL they are nothing: no
instruction, no reference taken. Unlike ``cython.critical_section`` they take no reference to the object,
so the caller holds one (an argument or ``self``), and every path out of the section calls ``cs_end``.
"""

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    typedef PyCriticalSection ddf_cs_t;
    #define ddf_cs_begin(cs, o) PyCriticalSection_Begin((cs), (PyObject *)(o))
    #define ddf_cs_end(cs) PyCriticalSection_End(cs)
    #else
    typedef char ddf_cs_t;
    #define ddf_cs_begin(cs, o) ((void)(cs))
    #define ddf_cs_end(cs) ((void)(cs))
    #endif
    """
    ctypedef struct cs_t "ddf_cs_t":
        pass
    void cs_begin "ddf_cs_begin"(cs_t *cs, object o) noexcept
    void cs_end "ddf_cs_end"(cs_t *cs) noexcept
