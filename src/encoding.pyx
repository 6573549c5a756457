# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""Msgpack encoders for the agent's trace API, compiled. Twin of ``ddfast/_pure/encoding.py``.

``MsgpackEncoderV04`` (``/v0.4/traces``: an array of traces, each an array of span maps) and
``MsgpackEncoderV05`` (``/v0.5/traces``: ``[string table, traces]``, each span a 12-item array of
string-table indices and numbers) buffer finished traces as they come, bounded by ``max_size``
(the payload) and ``max_item_size`` (one trace), and hand out one payload per ``encode()``. The
payloads decode to what ddtrace 4.16's encoders produce for the same spans. Spans are written as
msgpack straight into one reusable buffer: no per-span dicts, no intermediate bytes.

``TraceBuffer`` is the agent writer's application side (``ddfast.writer``): the payload being filled,
the sealed payloads waiting for the sender, and the lock only application threads take; the tracer's
finish path writes each trace into it directly.
"""

from collections import deque
from time import monotonic as _monotonic
from time import perf_counter as _perf_counter

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject
from cpython.pythread cimport (
    NOWAIT_LOCK, PY_LOCK_ACQUIRED, WAIT_LOCK, PyLockStatus, PyThread_acquire_lock, PyThread_allocate_lock,
    PyThread_free_lock, PyThread_release_lock, PyThread_type_lock,
)
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from ddfast._ext.span cimport DERIVED_COUNT, DERIVED_METRICS, DERIVED_TAGS, Span, register_trace_buffer
from ddfast._ext.span import DERIVED_KEYS as _derived_keys
from ddfast.encoding_errors import BufferFull, BufferItemTooLarge
from idcodec cimport PyUnicode_DATA, PyUnicode_KIND, int_to_u128, low64, u64_exact, write_hex16
from ftlock cimport cs_begin, cs_end, cs_t
from strbuf cimport StrBuf, sb_bytes, sb_free, sb_init, sb_reserve

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    double PyFloat_AS_DOUBLE(object f)
    # without Cython's error check: pk_pyint looks at the error itself
    unsigned long long as_u64_or_error "PyLong_AsUnsignedLongLong"(object v) noexcept
    void *PyErr_Occurred_ "PyErr_Occurred"() noexcept  # a borrowed PyObject *, NULL when no error
    void PyErr_Clear() noexcept
    str PyUnicode_FromObject(object o)

# ddtrace's limits: a longer string is cut to its first characters and a marker
cdef Py_ssize_t MAX_TEXT_LEN = 25000
cdef Py_ssize_t TRUNCATED_LEN = 2500
cdef str TRUNCATED_MARK = "<truncated>..."
cdef str TID_KEY = "_dd.p.tid"
cdef str LINKS_KEY = "_dd.span_links"
cdef str CONTENT_TYPE = "application/msgpack"
# ddtrace starts every v0.5 string table with these two entries
cdef tuple V05_PRESET = ("", "_dd.origin")
cdef enum:
    # the v0.5 encoder's address cache (16 KB per encoder): 512 sets of 2 slots, the most recently used
    # first. Direct-mapped, 1024 slots still lost a few recurring strings per request to a collision
    # with another one (or with a fresh tag value), each costing a dict look-up per span.
    SEEN_SET_BITS = 9
    SEEN_SETS = 512
    SEEN_SLOTS = 1024
    # the v0.5 encoder's last value of each tag key (by the key's table index, direct-mapped): a value
    # made anew for each request (a client's address, its user agent, the route's resource) is most
    # often the text its key had last time, found by comparing the two instead of hashing the new one
    LAST_SLOTS = 256
cdef tuple DERIVED_KEYS = _derived_keys
cdef enum:
    # what an encoder's add() did with a trace
    ADDED = 0
    TOO_LARGE = 1
    FULL = 2
DEFAULT_MAX_SIZE = 20 << 20


# -- msgpack primitives --------------------------------------------------------------------------

cdef inline int put_be(StrBuf *b, uint8_t tag, uint64_t v, int width) except -1:
    """A one-byte type tag followed by ``v`` in ``width`` big-endian bytes."""
    cdef int i
    cdef char *p
    sb_reserve(b, 1 + width)
    p = b.data + b.length  # a local pointer: a byte stored through b.data could be b.length, to C
    b.length += 1 + width
    p[0] = <char>tag
    for i in range(width, 0, -1):
        p[i] = <char>(v & 0xFF)
        v >>= 8
    return 0


cdef inline int pk_byte(StrBuf *b, uint8_t c) except -1:
    sb_reserve(b, 1)
    b.data[b.length] = <char>c
    b.length += 1
    return 0


cdef inline int pk_nil(StrBuf *b) except -1:
    return pk_byte(b, 0xC0)


cdef inline int pk_uint(StrBuf *b, uint64_t v) except -1:
    if v < 0x80 and b.length < b.capacity:  # a positive fixint with room for it: most table indices
        b.data[b.length] = <char>v
        b.length += 1
        return 0
    return pk_uint_wide(b, v)


cdef int pk_uint_wide(StrBuf *b, uint64_t v) except -1:
    if v < 0x80:
        return pk_byte(b, <uint8_t>v)
    if v <= 0xFF:
        return put_be(b, 0xCC, v, 1)
    if v <= 0xFFFF:
        return put_be(b, 0xCD, v, 2)
    if v <= <uint64_t>0xFFFFFFFFU:
        return put_be(b, 0xCE, v, 4)
    return put_be(b, 0xCF, v, 8)


cdef inline int pk_int(StrBuf *b, int64_t v) except -1:
    if v >= 0:
        return pk_uint(b, <uint64_t>v)
    return pk_negative(b, v)


cdef int pk_negative(StrBuf *b, int64_t v) except -1:
    if v >= -32:
        return pk_byte(b, <uint8_t>(v & 0xFF))
    if v >= -128:
        return put_be(b, 0xD0, <uint64_t>v, 1)
    if v >= -32768:
        return put_be(b, 0xD1, <uint64_t>v, 2)
    if v >= -2147483648:
        return put_be(b, 0xD2, <uint64_t>v, 4)
    return put_be(b, 0xD3, <uint64_t>v, 8)


cdef inline int pk_double(StrBuf *b, double d) except -1:
    cdef uint64_t bits
    memcpy(&bits, &d, 8)
    return put_be(b, 0xCB, bits, 8)


cdef int pk_header(StrBuf *b, Py_ssize_t n, uint8_t fix, uint8_t tag16) except -1:
    """An array (``fix`` 0x90, ``tag16`` 0xDC) or map (0x80, 0xDE) header for ``n`` items."""
    if n < 16:
        return pk_byte(b, fix | <uint8_t>n)
    if n <= 0xFFFF:
        return put_be(b, tag16, n, 2)
    return put_be(b, tag16 + 1, n, 4)


cdef inline int pk_array(StrBuf *b, Py_ssize_t n) except -1:
    return pk_header(b, n, 0x90, 0xDC)


cdef inline int pk_map(StrBuf *b, Py_ssize_t n) except -1:
    return pk_header(b, n, 0x80, 0xDE)


cdef int pk_raw(StrBuf *b, const char *s, Py_ssize_t n) except -1:
    if n < 32:
        pk_byte(b, 0xA0 | <uint8_t>n)
    elif n <= 0xFF:
        put_be(b, 0xD9, n, 1)
    elif n <= 0xFFFF:
        put_be(b, 0xDA, n, 2)
    else:
        put_be(b, 0xDB, n, 4)
    return sb_bytes(b, s, n)


cdef inline str truncated(str s):
    """``s``, or when longer than 25000 characters its first 2486 and ``<truncated>...`` (as ddtrace)."""
    if PyUnicode_GET_LENGTH(s) > MAX_TEXT_LEN:
        return s[:TRUNCATED_LEN - len(TRUNCATED_MARK)] + TRUNCATED_MARK
    return s


cdef int pk_text(StrBuf *b, object s) except -1:
    """A str as UTF-8; None as nil; anything else as its str(). Lone surrogates are escaped, not fatal."""
    cdef Py_ssize_t n
    cdef const char *p
    cdef bytes raw
    if s is None:
        return pk_nil(b)
    if type(s) is not str:
        s = str(s)
    s = truncated(<str>s)
    try:
        p = PyUnicode_AsUTF8AndSize(s, &n)
    except UnicodeEncodeError:
        raw = (<str>s).encode("utf-8", "backslashreplace")
        return pk_raw(b, PyBytes_AS_STRING(raw), len(raw))
    return pk_raw(b, p, n)


cdef inline int pk_pyint(StrBuf *b, object v) except -1:
    """A Python int: signed 64-bit, unsigned 64-bit, else (out of range) a float."""
    cdef uint64_t w
    if u64_exact(v, &w):  # every id a tracer makes: no call
        return pk_uint(b, w)
    return pk_pyint_other(b, v)


cdef int pk_pyint_other(StrBuf *b, object v) except -1:
    """``pk_pyint`` of an int that is negative, at or above 2**64, or of a subclass."""
    cdef int overflow = 0
    cdef long long x = PyLong_AsLongLongAndOverflow(v, &overflow)
    cdef unsigned long long u
    if overflow == 0:
        return pk_int(b, x)
    if overflow > 0:  # above 2**63 - 1 (half of all span ids): unsigned, unless above 2**64 - 1 too
        u = as_u64_or_error(v)
        if not (u == 0xFFFFFFFFFFFFFFFFULL and PyErr_Occurred_() != NULL):
            return pk_uint(b, u)
        PyErr_Clear()
    return pk_double(b, float(v))


cdef inline int pk_number(StrBuf *b, object v) except -1:
    """A metric value: ints stay ints, floats stay floats (as ddtrace sends them)."""
    cdef type t = type(v)
    if t is float:
        return pk_double(b, PyFloat_AS_DOUBLE(v))
    if t is int:
        return pk_pyint(b, v)
    return pk_number_other(b, v)


cdef int pk_number_other(StrBuf *b, object v) except -1:
    """``pk_number`` of a value that is not exactly an int or a float."""
    if type(v) is bool:
        return pk_byte(b, 1 if v else 0)
    if isinstance(v, int):
        return pk_pyint(b, int(v))
    return pk_double(b, float(v))


cdef inline uint64_t id_low64(object v) except? 0xFFFFFFFFFFFFFFFF:
    """The low 64 bits of an id (0 for None): what the agent's ``trace_id`` field carries."""
    if v is None:
        return 0
    return low64(v)


cdef inline int bit_count(int bits) noexcept:
    cdef int n = 0
    while bits:
        bits &= bits - 1
        n += 1
    return n


cdef int pk_derived(StrBuf *b, Span s, int mask) except -1:
    """The span's derived entries of ``mask`` as v0.4 map items (tags: text values; metrics: numbers)."""
    cdef int i
    for i in range(DERIVED_COUNT):
        if s._derived & mask & (1 << i):
            pk_text(b, DERIVED_KEYS[i])
            if mask == DERIVED_TAGS:
                pk_text(b, s.derived_value(i))
            else:
                pk_number(b, s.derived_value(i))
    return 0


cdef str tid_of(object trace_id, dict meta):
    """The ``_dd.p.tid`` tag the chunk's first span must carry, or None when present or not needed."""
    cdef uint64_t hi = 0, lo = 0
    cdef char buf[16]
    if trace_id is None or TID_KEY in meta:  # a tracer's chunk has it already: no id conversion
        return None
    int_to_u128(trace_id, &hi, &lo)
    if hi == 0:
        return None
    write_hex16(buf, hi)
    return buf[:16].decode("ascii")


def _links_json(links):
    """The span links as the JSON text ddtrace puts in the ``_dd.span_links`` tag (v0.5)."""
    import json  # spans with links only: not imported by ``import ddfast``

    return json.dumps([link.to_dict() for link in links])


# -- the v0.5 string table -------------------------------------------------------------------------

cdef enum:
    STRTABLE_SLOTS = 256  # the index's first size; a reset gives back one grown past 64 times that


cdef struct StrTable:
    # the strings of a v0.5 payload (held), in index order, with their hashes, and an index of them:
    # open addressing, linear probing, each slot the string's index + 1 (0: empty). Only exact str go
    # in, compared by their characters, hashed as str hashes them: what a dict of them would do, without
    # the dict's calls and index objects.
    PyObject **strs
    Py_hash_t *hashes
    Py_ssize_t count
    Py_ssize_t capacity
    Py_ssize_t *slots
    size_t mask


cdef int st_init(StrTable *t) except -1:
    t.count = 0
    t.capacity = STRTABLE_SLOTS // 2
    t.mask = STRTABLE_SLOTS - 1
    t.strs = <PyObject **>PyMem_Malloc(t.capacity * sizeof(PyObject *))
    t.hashes = <Py_hash_t *>PyMem_Malloc(t.capacity * sizeof(Py_hash_t))
    t.slots = <Py_ssize_t *>PyMem_Malloc(STRTABLE_SLOTS * sizeof(Py_ssize_t))
    if t.strs == NULL or t.hashes == NULL or t.slots == NULL:
        st_free(t)
        raise MemoryError()
    memset(t.slots, 0, STRTABLE_SLOTS * sizeof(Py_ssize_t))
    return 0


cdef void st_free(StrTable *t) noexcept:
    st_truncate(t, 0, False)
    PyMem_Free(t.strs)
    PyMem_Free(t.hashes)
    PyMem_Free(t.slots)
    t.strs = NULL
    t.hashes = NULL
    t.slots = NULL
    t.capacity = 0
    t.mask = 0


cdef void st_truncate(StrTable *t, Py_ssize_t n, bint reindex) noexcept:
    """Drop the strings from index ``n`` on; ``reindex``: rebuild the index of those left."""
    cdef Py_ssize_t i
    cdef size_t at
    for i in range(n, t.count):
        Py_XDECREF(t.strs[i])
    t.count = n
    if not reindex or t.slots == NULL:
        return
    memset(t.slots, 0, (t.mask + 1) * sizeof(Py_ssize_t))
    for i in range(n):
        at = <size_t>t.hashes[i] & t.mask
        while t.slots[at]:
            at = (at + 1) & t.mask
        t.slots[at] = i + 1


cdef inline bint same_text(PyObject *a, object b) noexcept:
    """Whether the exact str ``a`` and ``b`` have the same characters (their hashes are equal)."""
    cdef Py_ssize_t n
    cdef int kind
    if a == <PyObject *>b:
        return True
    n = PyUnicode_GET_LENGTH(<object>a)
    kind = PyUnicode_KIND(<object>a)
    return (n == PyUnicode_GET_LENGTH(b) and kind == PyUnicode_KIND(b)
            and memcmp(PyUnicode_DATA(<object>a), PyUnicode_DATA(b), n * kind) == 0)


cdef inline Py_ssize_t st_find(StrTable *t, object s, Py_hash_t h, size_t *at) noexcept:
    """The index of the exact str ``s`` of hash ``h``, or -1 with ``at`` its free slot."""
    cdef size_t i = <size_t>h & t.mask
    cdef Py_ssize_t n
    while True:
        n = t.slots[i]
        if n == 0:
            at[0] = i
            return -1
        n -= 1
        if t.hashes[n] == h and same_text(t.strs[n], s):
            return n
        i = (i + 1) & t.mask


cdef Py_ssize_t st_add(StrTable *t, object s, Py_hash_t h, size_t at) except -1:
    """Add the exact str ``s`` (not in the table; ``at``: the free slot ``st_find`` gave): its index."""
    cdef Py_ssize_t n = t.count, size
    cdef void *grown
    if n + 1 > t.capacity:  # at most half the slots used: grow the arrays and the index
        grown = PyMem_Realloc(t.strs, 2 * t.capacity * sizeof(PyObject *))
        if grown == NULL:
            raise MemoryError()
        t.strs = <PyObject **>grown
        grown = PyMem_Realloc(t.hashes, 2 * t.capacity * sizeof(Py_hash_t))
        if grown == NULL:
            raise MemoryError()
        t.hashes = <Py_hash_t *>grown
        size = 4 * t.capacity
        grown = PyMem_Malloc(size * sizeof(Py_ssize_t))
        if grown == NULL:
            raise MemoryError()
        PyMem_Free(t.slots)
        t.slots = <Py_ssize_t *>grown
        t.mask = size - 1
        t.capacity *= 2
        st_truncate(t, n, True)
        st_find(t, s, h, &at)
    Py_INCREF(s)
    t.strs[n] = <PyObject *>s
    t.hashes[n] = h
    t.slots[at] = n + 1
    t.count = n + 1
    return n


cdef int st_reset(StrTable *t) except -1:
    """Empty, the index back to its first size if it grew large."""
    if <Py_ssize_t>t.mask + 1 > 64 * STRTABLE_SLOTS:
        st_free(t)
        return st_init(t)
    st_truncate(t, 0, False)
    memset(t.slots, 0, (t.mask + 1) * sizeof(Py_ssize_t))
    return 0


# -- the encoders ----------------------------------------------------------------------------------

cdef inline Py_ssize_t header_size(Py_ssize_t n) noexcept:
    """Bytes of an array/map header for ``n`` items."""
    return 1 if n < 16 else (3 if n <= 0xFFFF else 5)


cdef bytes join_payload(StrBuf *a, StrBuf *b, StrBuf *c, StrBuf *d):
    """The buffers (``b`` and ``c`` may be NULL) one after the other, as one bytes object: one copy."""
    cdef StrBuf *parts[4]
    cdef Py_ssize_t total = 0, i
    cdef bytes out
    cdef char *p
    parts[0] = a
    parts[1] = b
    parts[2] = c
    parts[3] = d
    for i in range(4):
        if parts[i] is not NULL:
            total += parts[i].length
    out = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(out)
    for i in range(4):
        if parts[i] is not NULL:
            memcpy(p, parts[i].data, parts[i].length)
            p += parts[i].length
    return out


cdef class _BufferedEncoder:
    """Traces encoded as they come, into one buffer reused from payload to payload."""

    cdef StrBuf buf
    cdef Py_ssize_t count
    cdef Py_ssize_t mark
    cdef readonly Py_ssize_t max_size
    cdef readonly Py_ssize_t max_item_size
    cdef Py_ssize_t refused_size

    def __cinit__(self, *args, **kwargs):
        sb_init(&self.buf)

    def __init__(self, max_size=DEFAULT_MAX_SIZE, max_item_size=DEFAULT_MAX_SIZE):
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError("max_size must be a positive int, got %r" % (max_size,))
        if isinstance(max_item_size, bool) or not isinstance(max_item_size, int) or max_item_size <= 0:
            raise ValueError("max_item_size must be a positive int, got %r" % (max_item_size,))
        self.max_size = max_size
        self.max_item_size = max_item_size
        self.count = 0

    def __dealloc__(self):
        sb_free(&self.buf)

    @property
    def content_type(self):
        return CONTENT_TYPE

    def __len__(self):
        """The number of traces waiting in the buffer."""
        return self.count

    @property
    def size(self):
        """The size in bytes of the payload ``encode()`` would return now."""
        return self._size(self.count)

    def put(self, spans):
        """Add one trace (a list of finished spans). Raises ``BufferItemTooLarge`` when the trace alone
        exceeds ``max_item_size`` and ``BufferFull`` when the payload would exceed ``max_size``; the
        buffer is then unchanged, as after any error encoding the trace."""
        cdef int refused = self.add(spans)
        if refused == TOO_LARGE:
            raise BufferItemTooLarge(self.refused_size)
        if refused == FULL:
            raise BufferFull(self.refused_size)

    cdef int add(self, object spans) except -1:
        """``put`` without the exceptions for a refused trace: ``ADDED``, ``TOO_LARGE`` or ``FULL`` (the
        refused trace's size then in ``refused_size``); any other error raises, the buffer unchanged."""
        cdef Py_ssize_t item
        if not isinstance(spans, (list, tuple)):
            raise TypeError("a trace is a list of spans, not %s" % type(spans).__name__)
        self._mark()
        try:
            self._put(spans)
        except BaseException:
            self._rollback()
            raise
        item = self._item_size()
        if item > self.max_item_size or self._size(self.count + 1) > self.max_size:
            self.refused_size = item
            self._rollback()
            return TOO_LARGE if item > self.max_item_size else FULL
        self.count += 1
        return ADDED

    def encode(self):
        """``[(payload, trace_count)]`` for the traces buffered so far, or ``[]``; the buffer is reset."""
        if self.count == 0:
            return []
        payload = self._payload()
        count = self.count
        self._reset()
        return [(payload, count)]

    def encode_traces(self, traces):
        """One payload for ``traces`` (an iterable of span lists), through the same buffer."""
        for spans in traces:
            self.put(spans)
        payload = self._payload()
        self._reset()
        return payload

    cdef int _put(self, object spans) except -1:
        cdef Py_ssize_t i, n = len(spans)
        cdef Span s
        pk_array(&self.buf, n)
        for i in range(n):
            span = spans[i]
            if type(span) is Span:
                s = <Span>span
                self._span(
                    s.name, s.service, s._resource if s._resource is not None else s.name, s.span_type,
                    s.trace_id, s.span_id, s.parent_id, s.start_ns, s._duration_ns, s._finished, s.error,
                    s._meta, s._metrics, s._links, i == 0, s if s._derived else None,
                )
            else:
                duration = span.duration_ns
                self._span(
                    span.name, span.service, span.resource, span.span_type, span.trace_id, span.span_id,
                    span.parent_id, span.start_ns, duration if duration is not None else 0, duration is not None,
                    int(span.error), span.get_tags(), span.get_metrics(), getattr(span, "_links", None), i == 0,
                    None,
                )
        return 0

    cdef int _span(
        self, object name, object service, object resource, object span_type, object trace_id,
        object span_id, object parent_id, int64_t start, int64_t duration, bint finished, int error,
        dict meta, dict metrics, list links, bint first, Span derived,
    ) except -1:
        """One span; ``metrics`` may be None; ``derived``: the compiled span whose derived tags and
        metrics (``Span._derived``) are written after the stored ones, or None."""
        raise NotImplementedError

    cdef Py_ssize_t _size(self, Py_ssize_t count):
        return 0

    cdef int _mark(self) except -1:
        self.mark = self.buf.length
        return 0

    cdef void _rollback(self) noexcept:
        self.buf.length = self.mark

    cdef Py_ssize_t _item_size(self) noexcept:
        return self.buf.length - self.mark

    cdef bytes _payload(self):
        return b""

    cdef void _reset(self) noexcept:
        self.count = 0
        self.buf.length = 0
        if self.buf.capacity > (1 << 20):
            sb_free(&self.buf)     # a burst's big buffer is not kept for ever


cdef class MsgpackEncoderV04(_BufferedEncoder):
    """``/v0.4/traces``: an array of traces, each an array of span maps (see the module docstring)."""

    @property
    def endpoint(self):
        return "v0.4/traces"

    cdef Py_ssize_t _size(self, Py_ssize_t count):
        return header_size(count) + self.buf.length

    cdef int _span(
        self, object name, object service, object resource, object span_type, object trace_id,
        object span_id, object parent_id, int64_t start, int64_t duration, bint finished, int error,
        dict meta, dict metrics, list links, bint first, Span derived,
    ) except -1:
        cdef StrBuf *b = &self.buf
        cdef str tid = tid_of(trace_id, meta) if first else None
        cdef bint has_parent = parent_id is not None and parent_id != 0
        cdef int bits = derived._derived if derived is not None else 0
        cdef Py_ssize_t nmeta = len(meta) + (tid is not None) + bit_count(bits & DERIVED_TAGS)
        cdef Py_ssize_t nmetrics = (len(metrics) if metrics else 0) + bit_count(bits & DERIVED_METRICS)
        pk_map(b, 7 + has_parent + (error != 0) + (span_type is not None) + (1 if links else 0)
               + (nmeta > 0) + (nmetrics > 0))
        pk_raw(b, b"trace_id", 8)
        pk_uint(b, id_low64(trace_id))
        if has_parent:
            pk_raw(b, b"parent_id", 9)
            pk_pyint(b, parent_id)
        pk_raw(b, b"span_id", 7)
        pk_pyint(b, span_id)
        pk_raw(b, b"service", 7)
        pk_text(b, service)
        pk_raw(b, b"resource", 8)
        pk_text(b, resource)
        pk_raw(b, b"name", 4)
        pk_text(b, name)
        pk_raw(b, b"start", 5)
        pk_int(b, start)
        pk_raw(b, b"duration", 8)
        if finished:
            pk_int(b, duration)
        else:
            pk_nil(b)
        if error != 0:
            pk_raw(b, b"error", 5)
            pk_int(b, error)
        if span_type is not None:
            pk_raw(b, b"type", 4)
            pk_text(b, span_type)
        if links:
            pk_raw(b, b"span_links", 10)
            pk_links(b, links)
        if nmeta:
            pk_raw(b, b"meta", 4)
            pk_map(b, nmeta)
            for k, v in meta.items():
                pk_text(b, k)
                pk_text(b, v)
            if tid is not None:
                pk_raw(b, b"_dd.p.tid", 9)
                pk_text(b, tid)
            if bits & DERIVED_TAGS:
                pk_derived(b, derived, DERIVED_TAGS)
        if nmetrics:
            pk_raw(b, b"metrics", 7)
            pk_map(b, nmetrics)
            if metrics:
                for k, v in metrics.items():
                    pk_text(b, k)
                    pk_number(b, v)
            if bits & DERIVED_METRICS:
                pk_derived(b, derived, DERIVED_METRICS)
        return 0

    cdef bytes _payload(self):
        cdef StrBuf head
        sb_init(&head)
        try:
            pk_array(&head, self.count)
            return join_payload(&head, NULL, NULL, &self.buf)
        finally:
            sb_free(&head)


cdef int pk_links(StrBuf *b, list links) except -1:
    """Span links as v0.4 maps: ids split in 64-bit halves, flags with bit 31 set to say "set"."""
    cdef uint64_t hi = 0, lo = 0
    pk_array(b, len(links))
    for link in links:
        attributes = link._flat_attributes()
        int_to_u128(link.trace_id, &hi, &lo)
        pk_map(b, 2 + (1 if attributes else 0) + (1 if link.tracestate else 0) + (link.flags is not None)
               + (hi != 0))
        pk_raw(b, b"trace_id", 8)
        pk_uint(b, lo)
        pk_raw(b, b"span_id", 7)
        pk_pyint(b, link.span_id)
        if attributes:
            pk_raw(b, b"attributes", 10)
            pk_map(b, len(attributes))
            for k, v in attributes.items():
                pk_text(b, k)
                pk_text(b, v)
        if link.tracestate:
            pk_raw(b, b"tracestate", 10)
            pk_text(b, link.tracestate)
        if link.flags is not None:
            pk_raw(b, b"flags", 5)
            pk_pyint(b, (link.flags & 0xFFFFFFFF) | 0x80000000)
        if hi != 0:
            pk_raw(b, b"trace_id_high", 13)
            pk_uint(b, hi)
    return 0


cdef class MsgpackEncoderV05(_BufferedEncoder):
    """``/v0.5/traces``: ``[string table, traces]``, each span a 12-item array (see the module docstring)."""

    cdef StrTable strings       # the table: its strings, their indices
    cdef StrBuf table           # the table's strings, msgpack-encoded as they are added
    cdef Py_ssize_t table_mark, strings_mark
    # the str objects last looked up, by address (held, so an address is never another object's), and
    # their table index: a span's names and tags are mostly the same objects span after span, found
    # here without hashing and comparing them again
    cdef PyObject *seen[SEEN_SLOTS]
    cdef Py_ssize_t seen_index[SEEN_SLOTS]
    cdef uint16_t seen_sets[SEEN_SETS]  # the sets in use (first slot taken), to forget only those
    cdef Py_ssize_t seen_used
    # the last value of the key of table index i, at i % LAST_SLOTS: that key's index and the value's,
    # valid while last_gen is the table's generation (a new one at each reset and taking back)
    cdef Py_ssize_t last_key[LAST_SLOTS]
    cdef Py_ssize_t last_index[LAST_SLOTS]
    cdef size_t last_gen[LAST_SLOTS]
    cdef size_t gen

    def __cinit__(self, *args, **kwargs):
        sb_init(&self.table)
        st_init(&self.strings)
        self._clear_table()

    def __dealloc__(self):
        sb_free(&self.table)
        self._forget_seen()
        st_free(&self.strings)

    cdef void _forget_seen(self) noexcept:
        cdef Py_ssize_t i
        cdef size_t slot
        for i in range(self.seen_used):
            slot = <size_t>self.seen_sets[i] * 2
            Py_XDECREF(self.seen[slot])
            Py_XDECREF(self.seen[slot + 1])
            self.seen[slot] = self.seen[slot + 1] = NULL
        self.seen_used = 0
        self.gen += 1  # every last value forgotten too

    @property
    def endpoint(self):
        return "v0.5/traces"

    cdef int _clear_table(self) except -1:
        self._forget_seen()
        self.table.length = 0
        if self.strings.slots == NULL:  # a reset that failed (out of memory) left none
            st_init(&self.strings)
        else:
            st_reset(&self.strings)
        for s in V05_PRESET:
            self._ref(s)
        return 0

    cdef int _ref_derived(self, Span s, int mask) except -1:
        """The span's derived entries of ``mask`` (tags: text values; metrics: numbers), keys by index."""
        cdef int i, bits = s._derived & mask  # a local: the buffer's byte stores could alias a field
        for i in range(DERIVED_COUNT):
            if bits & (1 << i):
                put_ref(self, <object>PyTuple_GET_ITEM(DERIVED_KEYS, i))
                value = s.derived_value(i)
                if mask == DERIVED_TAGS:
                    put_ref(self, value)
                else:
                    pk_number(&self.buf, value)
        return 0

    cdef Py_ssize_t _ref(self, object s) except -1:
        """The table index of ``s`` (None is the empty string), adding it on first use; ``ref_index`` has
        looked at the first slot of its set already."""
        cdef Py_ssize_t n
        cdef size_t slot
        cdef PyObject *other
        if s is None:
            return 0
        if type(s) is not str:
            return self._lookup(s)
        slot = seen_slot(s)
        if self.seen[slot + 1] == <PyObject *>s:  # the set's other slot: now the most recently used
            n = self.seen_index[slot + 1]
            self.seen[slot + 1] = self.seen[slot]
            self.seen_index[slot + 1] = self.seen_index[slot]
            self.seen[slot] = <PyObject *>s
            self.seen_index[slot] = n
            return n
        n = self._lookup(s)
        if PyUnicode_GET_LENGTH(<str>s) <= MAX_TEXT_LEN:  # not truncated: the index is this object's
            Py_INCREF(s)
            if self.seen[slot] == NULL:  # a set taken for the first time
                self.seen_sets[self.seen_used] = <uint16_t>(slot // 2)
                self.seen_used += 1
            other = self.seen[slot + 1]  # the least recently used goes
            self.seen[slot + 1] = self.seen[slot]
            self.seen_index[slot + 1] = self.seen_index[slot]
            self.seen[slot] = <PyObject *>s
            self.seen_index[slot] = n
            Py_XDECREF(other)
        return n

    cdef Py_ssize_t _value_ref(self, Py_ssize_t key, object v) except -1:
        """The table index of ``v``, an exact str not in the address cache, the value of the key of table
        index ``key``: that of the key's last value when it has the same text, else ``_ref``'s (then the
        key's last value)."""
        cdef size_t slot = <size_t>key % LAST_SLOTS
        cdef Py_ssize_t n
        if self.last_gen[slot] == self.gen and self.last_key[slot] == key:
            n = self.last_index[slot]
            if same_text(self.strings.strs[n], v):  # the table holds the string of that index
                return n
        n = self._ref(v)
        self.last_key[slot] = key
        self.last_index[slot] = n
        self.last_gen[slot] = self.gen
        return n

    cdef Py_ssize_t _lookup(self, object s) except -1:
        """``_ref`` without the remembered addresses: through the table's index."""
        cdef Py_hash_t h
        cdef size_t at = 0
        cdef Py_ssize_t n
        if type(s) is not str:
            s = str(s)
            if type(s) is not str:  # a __str__ returning a str subclass: its characters
                s = PyUnicode_FromObject(s)
        if PyUnicode_GET_LENGTH(<str>s) > MAX_TEXT_LEN:
            s = truncated(<str>s)
        h = hash(s)  # a str's own, kept on it: computed once per string object
        n = st_find(&self.strings, s, h, &at)
        if n >= 0:
            return n
        pk_text(&self.table, s)
        return st_add(&self.strings, s, h, at)

    cdef Py_ssize_t _size(self, Py_ssize_t count):
        return (1 + header_size(self.strings.count) + self.table.length + header_size(count)
                + self.buf.length)

    cdef int _mark(self) except -1:
        if self.strings.slots == NULL:  # a reset that failed (out of memory): the table made now
            self._clear_table()
        self.mark = self.buf.length
        self.table_mark = self.table.length
        self.strings_mark = self.strings.count
        return 0

    cdef void _rollback(self) noexcept:
        self.buf.length = self.mark
        self.table.length = self.table_mark
        if self.strings.count > self.strings_mark:
            st_truncate(&self.strings, self.strings_mark, True)
            self._forget_seen()  # some of them may be indices just taken back

    cdef Py_ssize_t _item_size(self) noexcept:
        return (self.buf.length - self.mark) + (self.table.length - self.table_mark)

    cdef int _span(
        self, object name, object service, object resource, object span_type, object trace_id,
        object span_id, object parent_id, int64_t start, int64_t duration, bint finished, int error,
        dict meta, dict metrics, list links, bint first, Span derived,
    ) except -1:
        cdef StrBuf *b = &self.buf
        cdef str tid = tid_of(trace_id, meta) if first else None
        cdef str links_json = _links_json(links) if links else None
        cdef int bits = derived._derived if derived is not None else 0
        cdef Py_ssize_t pos = 0, size, n
        cdef PyObject *k
        cdef PyObject *v
        pk_array(b, 12)
        put_ref(self, service)
        n = ref_index(self, name)
        pk_uint(b, n)
        if type(resource) is str:  # by the span's name: the route's resource, often made anew
            put_value(self, n, resource)
        else:
            put_ref(self, resource)
        pk_uint(b, id_low64(trace_id))
        pk_pyint(b, span_id)
        pk_pyint(b, parent_id if parent_id is not None else 0)
        pk_int(b, start)
        pk_int(b, duration if finished else 0)
        pk_int(b, error)
        size = len(meta)
        pk_map(b, size + (tid is not None) + (links_json is not None) + bit_count(bits & DERIVED_TAGS))
        # borrowed entries: putting two str runs no Python code that could change the dict
        while PyDict_Next(meta, &pos, &k, &v):
            if type(<object>k) is str and type(<object>v) is str:
                n = str_index(self, <object>k)
                pk_uint(b, n)
                put_value(self, n, <object>v)
            else:
                self._tag_item(<object>k, <object>v, meta, size)
        if tid is not None:
            put_ref(self, TID_KEY)
            put_ref(self, tid)
        if links_json is not None:
            put_ref(self, LINKS_KEY)
            put_ref(self, links_json)
        if bits & DERIVED_TAGS:
            self._ref_derived(derived, DERIVED_TAGS)
        size = len(metrics) if metrics else 0
        pk_map(b, size + bit_count(bits & DERIVED_METRICS))
        if size:
            pos = 0
            while PyDict_Next(metrics, &pos, &k, &v):
                if type(<object>k) is str and (type(<object>v) is float or type(<object>v) is int):
                    pk_uint(b, str_index(self, <object>k))
                    pk_number(b, <object>v)
                else:
                    self._metric_item(<object>k, <object>v, metrics, size)
        if bits & DERIVED_METRICS:
            self._ref_derived(derived, DERIVED_METRICS)
        put_ref(self, span_type)
        return 0

    cdef int _tag_item(self, object k, object v, dict meta, Py_ssize_t size) except -1:
        """A meta entry that is not two str (their str() may run any code): held while put, and the
        dict's size checked after, as iterating ``items()`` would."""
        cdef tuple held = (k, v)  # the dict's references are borrowed
        put_ref(self, held[0])
        put_ref(self, held[1])
        if len(meta) != size:
            raise RuntimeError("dictionary changed size during iteration")
        return 0

    cdef int _metric_item(self, object k, object v, dict metrics, Py_ssize_t size) except -1:
        """A metrics entry other than a str and an int or float: as ``_tag_item``."""
        cdef tuple held = (k, v)
        put_ref(self, held[0])
        pk_number(&self.buf, held[1])
        if len(metrics) != size:
            raise RuntimeError("dictionary changed size during iteration")
        return 0

    cdef bytes _payload(self):
        cdef StrBuf head, mid
        sb_init(&head)
        sb_init(&mid)
        try:
            pk_array(&head, 2)
            pk_array(&head, self.strings.count)
            pk_array(&mid, self.count)
            return join_payload(&head, &self.table, &mid, &self.buf)
        finally:
            sb_free(&head)
            sb_free(&mid)

    cdef void _reset(self) noexcept:
        _BufferedEncoder._reset(self)
        if self.table.capacity > (1 << 20):
            sb_free(&self.table)
        try:
            self._clear_table()
        except BaseException:
            pass


cdef inline size_t seen_slot(object s) noexcept:
    """The first slot of the address cache set of ``s``: its address, multiplied to spread the bits."""
    return <size_t>(((<uint64_t><size_t><PyObject *>s >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - SEEN_SET_BITS)) * 2


cdef inline Py_ssize_t str_index(MsgpackEncoderV05 e, object s) except -1:
    """``e._ref(s)`` of an exact str, with the address cache's most likely hit (a set's first slot) inline."""
    cdef size_t slot = seen_slot(s)
    if e.seen[slot] == <PyObject *>s:
        return e.seen_index[slot]
    return e._ref(s)


cdef inline Py_ssize_t ref_index(MsgpackEncoderV05 e, object s) except -1:
    """``e._ref(s)``, through ``str_index`` for an exact str."""
    if type(s) is str:
        return str_index(e, s)
    return e._ref(s)


cdef inline int put_value(MsgpackEncoderV05 e, Py_ssize_t key, object v) except -1:
    """The table index of the exact str ``v``, the value of the key of table index ``key``, into the span
    buffer (see ``_value_ref``)."""
    cdef size_t slot = seen_slot(v)
    if e.seen[slot] == <PyObject *>v:
        return pk_uint(&e.buf, e.seen_index[slot])
    return pk_uint(&e.buf, e._value_ref(key, v))


cdef inline int put_ref(MsgpackEncoderV05 e, object s) except -1:
    """The table index of ``s`` into the span buffer."""
    return pk_uint(&e.buf, ref_index(e, s))


# -- the writer's buffer -----------------------------------------------------------------------------

cdef extern from "pythread.h":
    PyLockStatus acquire_timed "PyThread_acquire_lock_timed"(
        PyThread_type_lock lock, long long microseconds, int intr_flag) nogil

cdef enum:
    # why the application's side refused a trace: the indices of DROP_REASONS
    DROP_TOO_LARGE = 0
    DROP_ENCODING_ERROR = 1
    DROP_BUFFER_FULL = 2
    DROP_STOPPED = 3
    DROP_REASON_COUNT = 4
DROP_REASONS = ("too_large", "encoding_error", "buffer_full", "stopped")
# the longest wait a lock is given, in seconds: longer timeouts wait without a bound
cdef double MAX_WAIT = 1e9


cdef int buffer_write(object buffer, list spans) except -1:
    """``TraceBuffer.write`` for the tracer's finish path, called from C (see span.register_trace_buffer)."""
    return (<TraceBuffer>buffer)._write(spans)


cdef class TraceBuffer:
    """The application's side of the agent writer: the payload being filled (``encoder``), the sealed
    payloads waiting for the sender, the lock only application threads contend for, and what was
    refused. ``write(spans)`` encodes one trace under that lock, seals the payload when the sender asked
    for it (``request_seal``) or when it is full (room permitting: past ``buffer_size`` bytes waiting,
    the newest trace is refused and counted), and does nothing under the lock that could switch threads
    or greenlets. Outside it, once: ``on_start()`` at the first trace (the writer starts its thread);
    and ``on_drop(error)`` after a refused trace, no sooner than ``report_after`` (a ``time.monotonic``
    time; at once for an encoding error, which it receives). The tracer's finish path calls ``write``
    directly, without a Python call."""

    cdef PyThread_type_lock _lock  # the application's lock
    cdef PyThread_type_lock _wake_lock  # held while no wake-up is pending for the sender
    cdef bint _woken
    cdef _BufferedEncoder _encoder
    cdef object _pending  # sealed payloads, oldest first: (payload, trace count, endpoint)
    cdef Py_ssize_t _pending_traces
    cdef Py_ssize_t _queued_bytes  # written under the application's lock ...
    cdef Py_ssize_t _sent_bytes  # ... and this by the sender: waiting = queued - sent
    cdef readonly Py_ssize_t buffer_size
    cdef bint _seal_due
    cdef bint _stopped
    cdef bint _thread_started
    cdef Py_ssize_t _drops[DROP_REASON_COUNT]
    cdef double _report_after
    cdef public object on_start
    cdef public object on_drop
    #: application threads that found the lock taken, and the longest they waited (seconds)
    cdef readonly Py_ssize_t lock_contended
    cdef readonly double lock_wait

    def __cinit__(self, *args, **kwargs):
        self._new_locks()

    def __init__(self, encoder, buffer_size, on_start=None, on_drop=None):
        if not isinstance(encoder, _BufferedEncoder):
            raise TypeError("encoder must be a MsgpackEncoderV04 or V05, not %s" % type(encoder).__name__)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size <= 0:
            raise ValueError("buffer_size must be a positive int, got %r" % (buffer_size,))
        self.buffer_size = buffer_size
        self.on_start = on_start
        self.on_drop = on_drop
        self._clear(encoder)

    def __dealloc__(self):
        if self._wake_lock != NULL:
            if not self._woken:
                PyThread_release_lock(self._wake_lock)
            PyThread_free_lock(self._wake_lock)
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    cdef int _new_locks(self) except -1:
        self._lock = PyThread_allocate_lock()
        self._wake_lock = PyThread_allocate_lock()
        if self._lock == NULL or self._wake_lock == NULL:
            raise MemoryError()
        PyThread_acquire_lock(self._wake_lock, WAIT_LOCK)
        self._woken = False
        return 0

    cdef int _clear(self, _BufferedEncoder encoder) except -1:
        cdef int i
        self._encoder = encoder
        self._pending = deque()
        self._pending_traces = self._queued_bytes = self._sent_bytes = 0
        self._seal_due = self._thread_started = False
        for i in range(DROP_REASON_COUNT):
            self._drops[i] = 0
        self._report_after = 0.0
        self.lock_contended = 0
        self.lock_wait = 0.0
        return 0

    def reset(self, encoder):
        """A forked child's buffer: new locks (the parent's may have been held by a thread the child does
        not have: they are left, not freed, as CPython leaves its own), ``encoder`` empty, nothing sealed,
        no thread, counters zeroed; ``stopped`` stays."""
        if not isinstance(encoder, _BufferedEncoder):
            raise TypeError("encoder must be a MsgpackEncoderV04 or V05, not %s" % type(encoder).__name__)
        self._new_locks()
        self._clear(encoder)

    # -- the application's side

    def write(self, spans):
        """Encode one finished trace into the payload being filled (see the class docstring)."""
        self._write(spans)

    cdef int _write(self, object spans) except -1:
        cdef int reason = -1, added = ADDED
        cdef bint start = False, stopped, seal_due
        cdef double report_after
        cdef cs_t cs
        error = None
        self._acquire(-1.0)
        try:
            cs_begin(&cs, self)  # flags the sender and a flush set without the application's lock
            stopped = self._stopped
            cs_end(&cs)
            if stopped:
                reason = DROP_STOPPED
            else:
                try:
                    added = self._encoder.add(spans)
                    if added == FULL:
                        added = self._add_to_next(spans)
                except Exception as e:
                    error = e
                    reason = DROP_ENCODING_ERROR
                if added == TOO_LARGE:
                    reason = DROP_TOO_LARGE
                elif added == FULL:
                    reason = DROP_BUFFER_FULL
                cs_begin(&cs, self)
                seal_due = self._seal_due
                cs_end(&cs)
                if seal_due:  # once an interval: the sender asked for the payload
                    self._seal()
            cs_begin(&cs, self)  # the counts and flags the sender reads and sets
            if reason >= 0:
                self._drops[reason] += 1
            if not self._thread_started and not self._stopped:
                self._thread_started = start = True
            cs_end(&cs)
        finally:
            PyThread_release_lock(self._lock)
        if start and self.on_start is not None:
            try:
                self.on_start()  # outside the lock: under gevent, starting a thread may switch greenlets
            except Exception:
                pass
        if reason >= 0 and self.on_drop is not None:
            cs_begin(&cs, self)
            report_after = self._report_after
            cs_end(&cs)
            if reason == DROP_ENCODING_ERROR or _monotonic() >= report_after:  # at most once an interval
                try:
                    self.on_drop(error)
                except Exception:  # a logging handler's failure is not the application's
                    pass
        return 0

    cdef int _add_to_next(self, object spans) except -1:
        """The payload is full: sealed for the sender if the room allows, and ``spans`` put in the next."""
        cdef cs_t cs
        cdef Py_ssize_t waiting
        cs_begin(&cs, self)
        waiting = self._queued_bytes - self._sent_bytes
        cs_end(&cs)
        if waiting + self._encoder._size(self._encoder.count) > self.buffer_size:
            self._wake()
            return FULL  # the newest traces are the ones refused: those waiting keep their turn
        self._seal()
        try:
            return ADDED if self._encoder.add(spans) == ADDED else FULL
        except Exception:
            return FULL

    cdef int _seal(self) except -1:
        """Move the payload being filled to the sealed ones and wake the sender (application's lock held)."""
        cdef cs_t cs
        cdef Py_ssize_t count = self._encoder.count
        cs_begin(&cs, self)
        self._seal_due = False
        cs_end(&cs)
        if count == 0:
            return 0
        payload = self._encoder._payload()
        self._encoder._reset()
        item = (payload, count, self._encoder.endpoint)
        cs_begin(&cs, self)
        self._pending.append(item)
        self._pending_traces += count
        self._queued_bytes += len(<bytes>payload)
        cs_end(&cs)
        self._wake()
        return 0

    cdef int _acquire(self, double timeout) except -1:
        """Take the application's lock, waiting at most ``timeout`` seconds (negative: no bound) with the
        GIL released; 1 when taken. A wait is timed (the lock is the application's: the sender only tries
        it, so an application thread waits only for another one)."""
        cdef PyLockStatus got
        cdef long long us
        if PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            return 1
        if timeout == 0:
            return 0
        us = -1 if timeout < 0 or timeout > MAX_WAIT else <long long>(timeout * 1e6)
        start = _perf_counter()
        with nogil:
            got = acquire_timed(self._lock, us, 0)
        if got != PY_LOCK_ACQUIRED:
            return 0
        waited = _perf_counter() - start
        self.lock_contended += 1
        if waited > self.lock_wait:
            self.lock_wait = waited
        return 1

    def __enter__(self):
        """The application's lock, held (``with buffer:``): what it guards stays still meanwhile."""
        self._acquire(-1.0)
        return self

    def __exit__(self, *exc_info):
        PyThread_release_lock(self._lock)

    # -- the sender's side

    def request_seal(self):
        """Ask for the payload being filled: the next ``write`` seals it (or ``try_seal``)."""
        cdef cs_t cs
        cs_begin(&cs, self)
        self._seal_due = True
        cs_end(&cs)

    def try_seal(self):
        """Seal the payload as requested, if the application's lock is free right now (an idle
        application's payload): never waits. True when sealed here."""
        if not self.seal_due or not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            return False
        try:
            if not self.seal_due:
                return False
            self._seal()
            return True
        finally:
            PyThread_release_lock(self._lock)

    def seal(self, timeout=-1.0, stop=False):
        """Seal the payload being filled, waiting for the lock at most ``timeout`` seconds (negative: no
        bound); with ``stop``, refuse every trace written afterwards. False when the lock was not had in
        time (its holder may be the thread a signal interrupted to ask for this)."""
        if not self._acquire(timeout):
            return False
        try:
            if stop:
                self.stopped = True
            self._seal()
        finally:
            PyThread_release_lock(self._lock)
        return True

    def replace_encoder(self, encoder):
        """Seal the payload being filled and fill ``encoder``'s from now on."""
        if not isinstance(encoder, _BufferedEncoder):
            raise TypeError("encoder must be a MsgpackEncoderV04 or V05, not %s" % type(encoder).__name__)
        self._acquire(-1.0)
        try:
            self._seal()
            self._encoder = encoder
        finally:
            PyThread_release_lock(self._lock)

    def take(self):
        """The oldest sealed payload, ``(payload, trace count, endpoint)``, taken; None when there is none."""
        cdef cs_t cs
        item = None
        cs_begin(&cs, self)
        if len(self._pending):
            item = self._pending.popleft()
            self._pending_traces -= <Py_ssize_t>(<tuple>item)[1]
        cs_end(&cs)
        return item

    def sent(self, Py_ssize_t size):
        """A taken payload of ``size`` bytes is done with (sent or dropped): its room is free again."""
        cdef cs_t cs
        cs_begin(&cs, self)
        self._sent_bytes += size
        cs_end(&cs)

    cdef void _wake(self) noexcept:
        cdef cs_t cs
        cs_begin(&cs, self)
        if not self._woken:
            self._woken = True
            PyThread_release_lock(self._wake_lock)
        cs_end(&cs)

    def wake(self):
        """Wake the sender's ``wait`` (kept for the next one when it is not waiting)."""
        self._wake()

    def wait(self, double timeout):
        """The sender's sleep: True when woken (the wake-up is used), False after ``timeout`` seconds."""
        cdef PyLockStatus got
        cdef long long us = <long long>(min(max(timeout, 0.0), MAX_WAIT) * 1e6)
        cdef cs_t cs
        with nogil:
            got = acquire_timed(self._wake_lock, us, 0)
        if got != PY_LOCK_ACQUIRED:
            return False
        cs_begin(&cs, self)
        self._woken = False
        cs_end(&cs)
        return True

    # -- what it holds

    @property
    def encoder(self):
        """The encoder of the payload being filled."""
        return self._encoder

    @property
    def seal_due(self):
        """Whether the sender asked for the payload being filled and it is not sealed yet."""
        cdef cs_t cs
        cs_begin(&cs, self)
        due = self._seal_due
        cs_end(&cs)
        return due

    @property
    def stopped(self):
        return self._stopped

    @stopped.setter
    def stopped(self, value):
        cdef cs_t cs
        cs_begin(&cs, self)
        self._stopped = bool(value)
        cs_end(&cs)

    @property
    def thread_started(self):
        return self._thread_started

    @thread_started.setter
    def thread_started(self, value):
        cdef cs_t cs
        cs_begin(&cs, self)
        self._thread_started = bool(value)
        cs_end(&cs)

    @property
    def drops(self):
        """Traces refused here, by reason (only the reasons with some)."""
        cdef Py_ssize_t counts[DROP_REASON_COUNT]
        cdef int i
        cdef cs_t cs
        cs_begin(&cs, self)
        for i in range(DROP_REASON_COUNT):
            counts[i] = self._drops[i]
        cs_end(&cs)
        return {DROP_REASONS[i]: counts[i] for i in range(DROP_REASON_COUNT) if counts[i]}

    @property
    def report_after(self):
        """The ``time.monotonic()`` time before which a refused trace is not reported (``on_drop``)."""
        cdef cs_t cs
        cs_begin(&cs, self)
        value = self._report_after
        cs_end(&cs)
        return value

    @report_after.setter
    def report_after(self, double value):
        cdef cs_t cs
        cs_begin(&cs, self)
        self._report_after = value
        cs_end(&cs)

    @property
    def waiting_bytes(self):
        """Bytes of the sealed payloads not yet done with (the room ``buffer_size`` bounds)."""
        return self._queued_bytes - self._sent_bytes

    def __len__(self):
        """Traces in the payload being filled and in the sealed payloads not yet taken."""
        return self._encoder.count + self._pending_traces

    def __repr__(self):
        return "TraceBuffer(%s, %d traces)" % (type(self._encoder).__name__, len(self))


# the tracer's finish path writes into a TraceBuffer without a Python call
register_trace_buffer(TraceBuffer, buffer_write)
