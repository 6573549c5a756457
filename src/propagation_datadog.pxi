# Propagation: the datadog style.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_datadog.py.

# -- datadog ----------------------------------------------------------------------------------------


cdef Context _extract_datadog(_Headers h, Settings s):
    cdef str tid, dm, error, tags_text
    cdef PyObject *seen[2]  # the values of _dd.p.tid and _dd.p.dm the tags hold (borrowed from meta)
    cdef uint64_t low, span_id = 0, hi
    cdef object trace_id, priority = None
    cdef dict meta
    cdef long long value
    cdef Py_ssize_t n = 0
    cdef const unsigned char *p
    if h.slots[H_TRACE_ID] == NULL:
        return None
    # the ids and the priority read where the carrier holds them (see _Headers.chars); a str of wider
    # characters holds no digits only
    p = h.chars(H_TRACE_ID, &n)
    if p == NULL or n > 20 or parse_dec_chars(p, n, &low) < 0 or low == 0:
        record("datadog_trace_id", h.get(H_TRACE_ID))
        return None
    if h.slots[H_PARENT_ID] != NULL:
        p = h.chars(H_PARENT_ID, &n)
        if p == NULL or n > 20 or parse_dec_chars(p, n, &span_id) < 0:
            record("datadog_parent_id", h.get(H_PARENT_ID))
            return None
    if h.slots[H_PRIORITY] != NULL:
        p = h.chars(H_PRIORITY, &n)
        if p == NULL or _parse_priority_chars(p, n, &value) < 0:
            record("datadog_sampling_priority", h.get(H_PRIORITY))
            return None
        priority = value
    meta = {}
    trace_id = low
    seen[0] = seen[1] = NULL
    if h.slots[H_TAGS] != NULL:
        p = h.chars(H_TAGS, &n)
        if p == NULL:
            tags_text = h.get(H_TAGS)
            error = _decode_tagset_data(tags_text, PyUnicode_KIND(tags_text), PyUnicode_DATA(tags_text),
                                        len(tags_text), 512, meta, True, seen)
        elif n:
            error = _decode_tagset_data(None, 1, <void *>p, n, 512, meta, True, seen)
        else:
            error = None
        if error is not None:
            record(error, h.get(H_TAGS))
            meta.clear()
            meta["_dd.propagation_error"] = error
        elif meta:
            if seen[0] != NULL:  # _dd.p.tid
                tid = <str>seen[0]
                if len(tid) == 16 and parse_hex_range(tid, 0, 16, True, &hi) == 0 and hi != 0:
                    if s.trace_id_128:
                        trace_id = join_u128(hi, low)
                else:
                    record("malformed_tid", tid)
                    del meta["_dd.p.tid"]
                    meta["_dd.propagation_error"] = "malformed_tid " + tid
            if seen[1] != NULL and not _valid_decision_maker(<str>seen[1]):  # _dd.p.dm
                dm = <str>seen[1]
                record("decision_maker", dm)
                del meta["_dd.p.dm"]
                meta["_dd.propagation_error"] = "decoding_error"
    return new_context(trace_id, span_id if span_id else None, _accepted_origin(h.get(H_ORIGIN)), priority, meta)


cdef const char *_PAIRS = (b"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                           b"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                           b"8081828384858687888990919293949596979899")


cdef str _dec(uint64_t v):
    """Unsigned decimal of v: 8-digit groups from the right (``write_dec8``), then the leading digits
    two at a time."""
    cdef char buf[20]
    cdef int i = 20
    cdef uint32_t low, r
    while v >= 100000000:
        i -= 8
        write_dec8(buf + i, <uint32_t>(v % 100000000))
        v //= 100000000
    low = <uint32_t>v
    while low >= 10:
        r = low % 100
        low //= 100
        i -= 2
        buf[i] = _PAIRS[2 * r]
        buf[i + 1] = _PAIRS[2 * r + 1]
    if low or i == 20:  # a leading single digit, or v == 0
        i -= 1
        buf[i] = <char>(48 + low)
    return ascii_str(buf + i, 20 - i)


cdef str _hex16(uint64_t v):
    cdef char buf[16]
    write_hex16(buf, v)
    return ascii_str(buf, 16)


cdef inline Py_ssize_t _write_hex_id(char *buf, uint64_t hi, uint64_t lo) noexcept:
    """16 hex digits of a 64-bit id (``hi`` 0), 32 of a larger one (B3, traceparent), into ``buf``; how
    many it wrote."""
    if hi:
        write_hex16(buf, hi)
        write_hex16(buf + 16, lo)
        return 32
    write_hex16(buf, lo)
    return 16


cdef str _hex_u128(uint64_t hi, uint64_t lo):
    """``_write_hex_id`` as a str."""
    cdef char buf[32]
    return ascii_str(buf, _write_hex_id(buf, hi, lo))


cdef str _hex_id(object value):
    """``_hex_u128`` of an id."""
    cdef uint64_t hi, lo
    int_to_u128(value, &hi, &lo)
    return _hex_u128(hi, lo)


cdef inline bint _is_hex_of(object text, uint64_t v):
    """``text`` is already the 16-digit lowercase hex of ``v`` (saves re-making an equal string)."""
    cdef char buf[16]
    if type(text) is not str or PyUnicode_GET_LENGTH(<str>text) != 16 or PyUnicode_KIND(<str>text) != 1:
        return False
    write_hex16(buf, v)
    return memcmp(buf, PyUnicode_DATA(<str>text), 16) == 0


# -- what inject reads of a context's meta, found in one walk ------------------------------------------

cdef extern from *:
    """
    /* the keys of a context's meta that inject reads */
    enum { DDF_M_TID, DDF_M_DM, DDF_M_USR, DDF_M_TRACEPARENT, DDF_M_TRACESTATE, DDF_M_PARENT_ID,
           DDF_M_ERROR, DDF_M_SLOTS };
    #define DDF_M_NONE 15  /* a key that is none of them */
    #define DDF_M_TAG 16   /* flag: a str starting with "_dd.p.": a propagated tag */
    /* The DDF_M_* slot of a meta key (one equal to a name above), with DDF_M_TAG for a propagated tag.
       Text that is not one byte per character cannot equal an ASCII name (CPython keeps every str in
       its narrowest kind), but it can still be a propagated tag. */
    static CYTHON_INLINE int ddf_meta_key(PyObject *key) {
        const char *p;
        Py_ssize_t n;
        int tag, i;
        if (!PyUnicode_Check(key))
            return DDF_M_NONE;
        if (PyUnicode_KIND(key) != PyUnicode_1BYTE_KIND) {
            if (PyUnicode_GET_LENGTH(key) < 6)
                return DDF_M_NONE;
            for (i = 0; i < 6; i++)
                if (PyUnicode_READ(PyUnicode_KIND(key), PyUnicode_DATA(key), i) != (Py_UCS4)"_dd.p."[i])
                    return DDF_M_NONE;
            return DDF_M_TAG | DDF_M_NONE;
        }
        p = (const char *)PyUnicode_DATA(key);
        n = PyUnicode_GET_LENGTH(key);
        tag = n >= 6 && memcmp(p, "_dd.p.", 6) == 0 ? DDF_M_TAG : 0;
        switch (n) {
        case 8: if (memcmp(p, "_dd.p.dm", 8) == 0) return tag | DDF_M_DM; break;
        case 9: if (memcmp(p, "_dd.p.tid", 9) == 0) return tag | DDF_M_TID; break;
        case 10: if (memcmp(p, "tracestate", 10) == 0) return DDF_M_TRACESTATE; break;
        case 11: if (memcmp(p, "traceparent", 11) == 0) return DDF_M_TRACEPARENT; break;
        case 12: if (memcmp(p, "_dd.p.usr.id", 12) == 0) return tag | DDF_M_USR; break;
        case 13: if (memcmp(p, "_dd.parent_id", 13) == 0) return DDF_M_PARENT_ID; break;
        case 21: if (memcmp(p, "_dd.propagation_error", 21) == 0) return DDF_M_ERROR; break;
        }
        return tag | DDF_M_NONE;
    }
    """
    enum:
        M_TID "DDF_M_TID"                  # _dd.p.tid
        M_DM "DDF_M_DM"                    # _dd.p.dm
        M_USR "DDF_M_USR"                  # _dd.p.usr.id
        M_TRACEPARENT "DDF_M_TRACEPARENT"  # traceparent
        M_TRACESTATE "DDF_M_TRACESTATE"    # tracestate
        M_PARENT_ID "DDF_M_PARENT_ID"      # _dd.parent_id
        M_ERROR "DDF_M_ERROR"              # _dd.propagation_error
        M_SLOTS "DDF_M_SLOTS"
        M_NONE "DDF_M_NONE"
        M_TAG "DDF_M_TAG"
    int meta_key "ddf_meta_key"(PyObject *key) noexcept

cdef enum:
    _SCAN_TAGS = 32  # the propagated tags a scan holds; a meta with more is walked instead


cdef struct _MetaScan:
    PyObject *found[M_SLOTS]         # the value of each key inject reads, NULL when absent
    PyObject *tags[2 * _SCAN_TAGS]   # the propagated tags' keys and values, in meta's order
    unsigned char slots[_SCAN_TAGS]  # the M_* slot of each of those keys (M_NONE for most)
    Py_ssize_t n_tags                # how many tags; -1 when meta has more than fit
    bint tid_hex                     # found[M_TID] is known to be 16 lowercase hex digits


# The last x-datadog-tags value encoded from scanned tags, and the tags it was made of (references held):
# the same key and value objects give the same text. A trace's tags are those of its caller (the shared
# _dd.p.dm and _dd.p.tid texts of extract: the tid is the trace's start second), so most injects of a
# busy service repeat the previous one's.
cdef PyObject *_memo_tags[2 * _SCAN_TAGS]
cdef Py_ssize_t _memo_n = 0
cdef Py_ssize_t _memo_max_size = -1
cdef str _memo_text = None

# Where there is no GIL (free-threaded CPython), the memo is read and replaced under a lock of its own,
# held for pointer compares and reference counts (no Python code runs under it); under the GIL, nothing.
cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    static PyMutex ddf_memo_mutex = {0};
    #define DDF_MEMO_LOCK() PyMutex_Lock(&ddf_memo_mutex)
    #define DDF_MEMO_UNLOCK() PyMutex_Unlock(&ddf_memo_mutex)
    #else
    #define DDF_MEMO_LOCK() ((void)0)
    #define DDF_MEMO_UNLOCK() ((void)0)
    #endif
    """
    void _memo_lock "DDF_MEMO_LOCK"() noexcept nogil
    void _memo_unlock "DDF_MEMO_UNLOCK"() noexcept nogil


cdef inline str _memo_get(_MetaScan *m, Py_ssize_t max_size):
    """The remembered text when the scanned tags are those it was made of, else None."""
    cdef str text = None
    _memo_lock()
    if _memo_hit(m, max_size):
        text = _memo_text
    _memo_unlock()
    return text


cdef inline bint _memo_hit(_MetaScan *m, Py_ssize_t max_size) noexcept:
    cdef Py_ssize_t i
    if m.n_tags != _memo_n or max_size != _memo_max_size:
        return False
    for i in range(2 * m.n_tags):
        if m.tags[i] != _memo_tags[i]:
            return False
    return True


cdef void _memo_store(_MetaScan *m, Py_ssize_t max_size, str text) noexcept:
    """Remember ``text`` as the encoding of the scanned tags, when they are all exact str (whose release
    runs no Python code)."""
    global _memo_n, _memo_max_size, _memo_text
    cdef Py_ssize_t i
    for i in range(2 * m.n_tags):
        if type(<object>m.tags[i]) is not str:
            return
    _memo_lock()
    for i in range(2 * _memo_n):
        Py_XDECREF(_memo_tags[i])
    for i in range(2 * m.n_tags):
        Py_INCREF(<object>m.tags[i])
        _memo_tags[i] = m.tags[i]
    _memo_n = m.n_tags
    _memo_max_size = max_size
    _memo_text = text
    _memo_unlock()


cdef void _scan_meta(dict meta, _MetaScan *m) noexcept:
    """What inject reads of the trace's meta, from one walk of it (a handful of entries) rather than a
    look-up per key and a walk per style. ``m`` holds references until ``_release_meta``, so that what
    it found stays valid whatever Python code runs in between."""
    cdef Py_ssize_t pos = 0
    cdef PyObject *key
    cdef PyObject *value
    cdef int kind, slot
    for slot in range(M_SLOTS):
        m.found[slot] = NULL
    m.n_tags = 0
    m.tid_hex = False
    if meta is None:
        return
    while PyDict_Next(meta, &pos, &key, &value):
        kind = meta_key(key)
        slot = kind & 15
        if slot != M_NONE:
            Py_INCREF(<object>value)
            Py_XDECREF(m.found[slot])  # a str subclass equal to a str key: the last one stands
            m.found[slot] = value
        if kind & M_TAG and m.n_tags >= 0:
            if m.n_tags == _SCAN_TAGS:
                _release_tags(m)
                m.n_tags = -1
            else:
                Py_INCREF(<object>key)
                Py_INCREF(<object>value)
                m.tags[2 * m.n_tags] = key
                m.tags[2 * m.n_tags + 1] = value
                m.slots[m.n_tags] = slot
                m.n_tags += 1


cdef inline void _release_tags(_MetaScan *m) noexcept:
    cdef Py_ssize_t i
    for i in range(2 * m.n_tags):
        Py_XDECREF(m.tags[i])
    m.n_tags = 0


cdef void _release_meta(_MetaScan *m) noexcept:
    """Drop the references ``_scan_meta`` took."""
    cdef int i
    for i in range(M_SLOTS):
        Py_XDECREF(m.found[i])
        m.found[i] = NULL
    _release_tags(m)


cdef int _meta_set(dict meta, _MetaScan *m, int slot, str key, object value) except -1:
    """meta[key] = value, and ``m`` kept up to date: a new propagated tag goes last, as in meta."""
    cdef Py_ssize_t i
    meta[key] = value
    Py_INCREF(value)
    Py_XDECREF(m.found[slot])
    m.found[slot] = <PyObject *>value
    if not key.startswith("_dd.p.") or m.n_tags < 0:
        return 0
    for i in range(m.n_tags):
        if m.slots[i] == slot:
            Py_INCREF(value)
            Py_XDECREF(m.tags[2 * i + 1])
            m.tags[2 * i + 1] = <PyObject *>value
            return 0
    if m.n_tags == _SCAN_TAGS:
        _release_tags(m)
        m.n_tags = -1
        return 0
    Py_INCREF(key)
    Py_INCREF(value)
    m.tags[2 * m.n_tags] = <PyObject *>key
    m.tags[2 * m.n_tags + 1] = <PyObject *>value
    m.slots[m.n_tags] = slot
    m.n_tags += 1
    return 0


cdef inline object _found(PyObject *value):
    """A found value (None when absent)."""
    return <object>value if value is not NULL else None


cdef enum:
    _KNOWN_KEY = 1    # a tag key that is one of the M_* names: valid as it is in both headers
    _KNOWN_VALUE = 2  # a tag value known to be valid as it is (the _dd.p.tid inject checked or made)


cdef inline int _known(_MetaScan *m, Py_ssize_t i) noexcept:
    """What is known valid of the scan's tag ``i`` (``_KNOWN_*`` bits)."""
    if m.slots[i] == M_NONE:
        return 0
    return _KNOWN_KEY | (_KNOWN_VALUE if m.slots[i] == M_TID and m.tid_hex else 0)


@cython.final
@cython.freelist(4)
cdef class _Pairs:
    """Where ``http_inject_pairs`` writes: each header appended as a ``(name, value)`` pair, in the order
    a dict would hold them (injection writes each name once), the value UTF-8 bytes when ``as_bytes``."""

    cdef list pairs
    cdef bint as_bytes


cdef int _add_pair(_Pairs pairs, str name, object value) except -1:
    if pairs.as_bytes and type(value) is str:
        value = PyUnicode_AsUTF8String(<str>value)
    return PyList_Append(pairs.pairs, (name, value))


cdef inline int _set(object headers, str name, object value) except -1:
    """headers[name] = value: straight into the dict when it is one, appended when pairs."""
    if type(headers) is dict:
        return PyDict_SetItem(<dict>headers, name, value)
    if type(headers) is _Pairs:
        return _add_pair(<_Pairs>headers, name, value)
    headers[name] = value
    return 0


cdef tuple _PRIORITIES = ("-1", "0", "1", "2")


cdef inline str _priority_str(object priority):
    """str(priority), without an allocation for the four standard values."""
    cdef long long v
    if small_int(priority, &v) and -1 <= v <= 2:
        return <str>_PRIORITIES[v + 1]
    return str(priority)


cdef int _inject_datadog(Context ctx, object headers, Settings s, uint64_t hi, uint64_t lo, uint64_t span_id,
                         _MetaScan *m) except -1:
    """The datadog headers; ``span_id`` is the low half of the context's, ``m`` is ``_scan_meta`` of its
    meta, kept up to date with what this adds to it."""
    cdef dict meta = ctx._meta
    cdef str encoded
    cdef int error = 0
    _set(headers, "x-datadog-trace-id", _dec(lo))
    if hi:
        if not _is_hex_of(_found(m.found[M_TID]), hi):
            _meta_set(meta, m, M_TID, "_dd.p.tid", tid_text(hi))
        m.tid_hex = True
    cdef Context state = ctx.trace_state()
    _set(headers, "x-datadog-parent-id", _dec(span_id))
    if state._priority is not None:
        _set(headers, "x-datadog-sampling-priority", _priority_str(state._priority))
    if state._origin is not None:
        _set(headers, "x-datadog-origin", state._origin)
    if s.tags_max_length == 0:
        _meta_set(meta, m, M_ERROR, "_dd.propagation_error", "disabled")
        return 0
    if m.found[M_ERROR] is not NULL:
        return 0
    encoded = _encode_scanned_tags(m, meta, s.tags_max_length, &error)
    if error:
        record(_TAGSET_ERRORS[error], meta)
        _meta_set(meta, m, M_ERROR, "_dd.propagation_error", _TAGSET_ERRORS[error])
    elif encoded is not None:
        _set(headers, "x-datadog-tags", encoded)
    return 0
