# Propagation: small parsers and x-datadog-tags.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_tagset.py.

# -- small parsers ----------------------------------------------------------------------------------


cpdef object parse_u64(str text):
    """Unsigned decimal 64-bit id, or None (no sign, space, or overflow)."""
    cdef uint64_t v
    if len(text) > 20 or parse_dec_u64(text, &v) < 0:
        return None
    return v


cpdef object parse_priority(str text):
    """A sampling priority: an optionally negative decimal integer, or None."""
    cdef Py_ssize_t n = len(text), i, start = 0
    cdef long long v = 0
    cdef Py_UCS4 c
    if n > 0 and text[0] == u"-":
        start = 1
    if n - start == 0 or n - start > 18:
        return None
    for i in range(start, n):
        c = text[i]
        if c < u"0" or c > u"9":
            return None
        v = v * 10 + (<long>c - 48)
    return -v if start else v


cdef inline int _parse_priority_chars(const unsigned char *p, Py_ssize_t n, long long *out) noexcept:
    """``parse_priority`` of the one-byte characters ``p[:n]``: 0 and *out, or -1."""
    cdef Py_ssize_t i, start = 1 if n > 0 and p[0] == 0x2D else 0
    cdef long long v = 0
    if n - start == 0 or n - start > 18:
        return -1
    for i in range(start, n):
        if p[i] < 0x30 or p[i] > 0x39:
            return -1
        v = v * 10 + (p[i] - 48)
    out[0] = -v if start else v
    return 0


cpdef object parse_hex_id(str text, int max_digits):
    """1..max_digits hex digits, either case (B3), or None."""
    cdef uint64_t hi, lo
    cdef Py_ssize_t n = len(text)
    if n == 0 or n > max_digits:
        return None
    if parse_hex_u128(text, 0, n, False, &hi, &lo) < 0:
        return None
    return join_u128(hi, lo)


cpdef bint is_lower_hex(str text, Py_ssize_t length):
    cdef uint64_t v
    return len(text) == length and length <= 16 and parse_hex_range(text, 0, length, True, &v) == 0


cpdef bint is_hex(str text, Py_ssize_t length):
    cdef uint64_t v
    return len(text) == length and length <= 16 and parse_hex_range(text, 0, length, False, &v) == 0


# -- x-datadog-tags (tagset) --------------------------------------------------------------------------


cdef inline bint _tagset_key_char(uint32_t c):
    # printable ASCII but space, "," and "="
    return 0x21 <= c <= 0x7E and c != 0x2C and c != 0x3D


cdef inline bint _tagset_value_char(uint32_t c):
    # printable ASCII but ","
    return 0x20 <= c <= 0x7E and c != 0x2C


# per byte: 1 a tagset key character, 2 a tagset value character (both, or neither, may hold)
cdef unsigned char _TAGSET_CHAR[256]
for _c in range(256):
    _TAGSET_CHAR[_c] = (1 if _tagset_key_char(_c) else 0) | (2 if _tagset_value_char(_c) else 0)


# The propagated tags nearly every trace carries: their keys are reused, not re-made, when decoded.
cdef tuple _COMMON_TAGS = ("_dd.p.dm", "_dd.p.tid", "_dd.p.ksr", "_dd.p.usr.id", "_dd.p.ts")


cdef Py_ssize_t _COMMON_LEN[5]  # the length of each of _COMMON_TAGS after its "_dd.p."
for _c in range(5):
    _COMMON_LEN[_c] = len(_COMMON_TAGS[_c]) - 6


cdef str _common_tag(int kind, void *data, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t skip):
    """The constant among ``_COMMON_TAGS`` equal to text[start:stop] (a str's ``kind`` and ``data``) once
    its first ``skip`` characters are replaced by ``_dd.p.`` (skip 6 for ``_dd.p.x``, 2 for tracestate's
    ``t.x``), or None."""
    cdef Py_ssize_t n = stop - start - skip, i
    cdef int k
    cdef str tag
    for k in range(5):
        if _COMMON_LEN[k] != n:
            continue
        tag = <str>PyTuple_GET_ITEM(_COMMON_TAGS, k)
        if kind == 1:  # both one byte per character (the tags are ASCII)
            if memcmp((<char *>data) + start + skip, (<char *>PyUnicode_DATA(tag)) + 6, n) == 0:
                return tag
            continue
        for i in range(n):
            if read_char(kind, data, start + skip + i) != PyUnicode_READ_CHAR(tag, 6 + i):
                break
        else:
            return tag
    return None


# decision makers "-0".."-15" made once
cdef tuple _DM_TEXTS = tuple("-%d" % i for i in range(16))


cdef str _shared_value(str key, str text, int kind, void *data, Py_ssize_t start, Py_ssize_t stop):
    """A string equal to text[start:stop] that requests share, for the values of ``_dd.p.dm`` and
    ``_dd.p.tid`` (``key`` one of the ``_COMMON_TAGS`` constants; ``shared_tid``); None for any other.
    Fewer objects per request, and the encoder finds shared ones by address."""
    cdef const char *p = (<const char *>data) + start
    cdef Py_ssize_t n = stop - start
    if kind != 1:
        return None
    if key is <str>_COMMON_TAGS[0]:  # _dd.p.dm: "-<mechanism>"
        if n == 2 and p[0] == b"-" and b"0" <= p[1] <= b"9":
            return <str>_DM_TEXTS[p[1] - 48]
        if n == 3 and p[0] == b"-" and p[1] == b"1" and b"0" <= p[2] <= b"5":
            return <str>_DM_TEXTS[10 + p[2] - 48]
        return None
    if key is <str>_COMMON_TAGS[1] and n == 16:  # _dd.p.tid
        return shared_tid(p)
    return None


cdef inline str _ascii_slice(str text, int kind, void *data, Py_ssize_t start, Py_ssize_t stop):
    """``text[start:stop]``, which the caller has checked is ASCII (one copy, no scan, when ``text`` is
    one byte per character)."""
    if kind == 1:
        return ascii_str((<char *>data) + start, stop - start)
    return text[start:stop]


cdef str _decode_tagset_into(str text, Py_ssize_t max_size, dict out, bint propagated_only):
    """Decode ``text`` into ``out``; None, or the error reason (then ``out`` is left unspecified).

    ``propagated_only`` keeps only the ``_dd.p.*`` keys (not ``_dd.p.upstream_services``), as the
    Datadog extraction does after decoding, without making strings for the others.
    """
    return _decode_tagset_data(text, PyUnicode_KIND(text), PyUnicode_DATA(text), len(text), max_size, out,
                               propagated_only, NULL)


cdef str _decode_tagset_data(str text, int kind, void *data, Py_ssize_t n, Py_ssize_t max_size, dict out,
                             bint propagated_only, PyObject **seen):
    """``_decode_tagset_into`` of the ``n`` characters of ``kind`` at ``data``: a str's, or (``text`` None,
    ``kind`` 1) ASCII bytes'. With ``propagated_only``, ``seen`` (when not NULL) gets the values stored
    for ``_dd.p.tid`` and ``_dd.p.dm`` (borrowed from ``out``; left as they are when absent)."""
    cdef Py_ssize_t start = 0, eq, end, vs, ve, i
    cdef const unsigned char *p = <const unsigned char *>data
    cdef uint32_t c
    cdef str key, value
    if n > max_size:
        return "extract_max_size"
    if n and read_char(kind, data, n - 1) == 0x2C:  # one trailing comma is tolerated, as ddtrace's is
        n -= 1
    while True:
        eq = -1
        end = n
        if kind == 1:  # a table lookup a character
            for i in range(start, n):
                if p[i] == 0x3D:
                    eq = i
                    break
                if not (_TAGSET_CHAR[p[i]] & 1):
                    return "decoding_error"
        else:
            for i in range(start, n):
                c = read_char(kind, data, i)
                if c == 0x3D:
                    eq = i
                    break
                if not _tagset_key_char(c):
                    return "decoding_error"
        if eq <= start:
            return "decoding_error"
        if kind == 1:
            for i in range(eq + 1, n):
                if p[i] == 0x2C:
                    end = i
                    break
                if not (_TAGSET_CHAR[p[i]] & 2):
                    return "decoding_error"
        else:
            for i in range(eq + 1, n):
                c = read_char(kind, data, i)
                if c == 0x2C:
                    end = i
                    break
                if not _tagset_value_char(c):
                    return "decoding_error"
        vs = eq + 1
        ve = end
        while vs < ve and read_char(kind, data, vs) == 0x20:
            vs += 1
        while ve > vs and read_char(kind, data, ve - 1) == 0x20:
            ve -= 1
        if ve == vs:
            return "decoding_error"
        if not propagated_only or has_dd_p(kind, data, start, eq):
            key = _common_tag(kind, data, start, eq, 6) if propagated_only else None
            if key is None:
                key = _ascii_slice(text, kind, data, start, eq)
            if not propagated_only or len(key) != 23 or key != "_dd.p.upstream_services":
                value = _shared_value(key, text, kind, data, vs, ve)
                if value is None:
                    value = _ascii_slice(text, kind, data, vs, ve)
                out[key] = value
                if seen != NULL:
                    if key is <str>_COMMON_TAGS[1]:
                        seen[0] = <PyObject *>value
                    elif key is <str>_COMMON_TAGS[0]:
                        seen[1] = <PyObject *>value
        if end >= n:
            return None
        start = end + 1


cpdef object decode_tagset(str text, Py_ssize_t max_size=512):
    """``k=v,k2=v2`` as a dict, or an error reason (``extract_max_size`` / ``decoding_error``)."""
    cdef dict tags = {}
    cdef str error = _decode_tagset_into(text, max_size, tags, False)
    return tags if error is None else error


cdef int _put_tag_part(StrBuf *b, str text, unsigned char need) except -1:
    """Append ``text`` trimmed of spaces when what is left is a non-empty tagset key (``need`` 1) or
    value (2), checked and copied in one pass: 1; else 0 (the buffer's content is then undefined past
    its length). Text that is not 1-byte always holds a character the grammar forbids."""
    cdef Py_ssize_t start = 0, stop = len(text), i
    cdef const unsigned char *p
    cdef unsigned char c
    cdef char *out
    if PyUnicode_KIND(text) != 1:
        return 0
    p = <const unsigned char *>PyUnicode_DATA(text)
    while start < stop and p[start] == 0x20:
        start += 1
    while stop > start and p[stop - 1] == 0x20:
        stop -= 1
    if stop == start:
        return 0
    sb_reserve(b, stop - start)
    out = b.data + b.length - start
    for i in range(start, stop):
        c = p[i]
        if not _TAGSET_CHAR[c] & need:
            return 0
        out[i] = <char>c
    b.length += stop - start
    return 1


cdef int _put_tag(StrBuf *b, object k, object v, Py_ssize_t max_size, int known) except -1:
    """Append ``k=v`` to the tagset in ``b`` (after a ``,`` unless it is the first): 0, or the error
    code (``_TAGSET_ERRORS``) that stops the encoding. ``known``: ``_KNOWN_KEY`` / ``_KNOWN_VALUE`` when
    ``k`` / ``v`` are known to be valid as they are (nothing to check)."""
    if not isinstance(k, str) or not isinstance(v, str):
        return 1
    if b.length:
        sb_char(b, b",")
    if known & _KNOWN_KEY:
        sb_ascii(b, <str>k, 0, len(<str>k))
    elif not _put_tag_part(b, <str>k, 1):
        return 1
    sb_char(b, b"=")
    if known & _KNOWN_VALUE:
        sb_ascii(b, <str>v, 0, len(<str>v))
    elif not _put_tag_part(b, <str>v, 2):
        return 1
    return 2 if b.length > max_size else 0


cdef str _encode_tagset(dict tags, Py_ssize_t max_size, bint propagated_only, int *error):
    """``encode_tagset``, written straight into one buffer; ``propagated_only`` skips all but the
    ``_dd.p.*`` keys (what Datadog injection encodes from a context's meta). On failure None, and
    ``error[0]`` says why (``_TAGSET_ERRORS``)."""
    cdef StrBuf b
    sb_init(&b)
    try:
        for k, v in tags.items():
            if propagated_only and not is_propagated_key(k):
                continue
            error[0] = _put_tag(&b, k, v, max_size, 0)
            if error[0]:
                return None
        return sb_str(&b) if b.length else None
    finally:
        sb_free(&b)


cdef str _encode_scanned_tags(_MetaScan *m, dict meta, Py_ssize_t max_size, int *error):
    """``_encode_tagset(meta, max_size, True, error)`` from the tags ``_scan_meta`` found."""
    cdef StrBuf b
    cdef Py_ssize_t i
    cdef str text
    if m.n_tags < 0:
        return _encode_tagset(meta, max_size, True, error)
    if m.n_tags == 0:
        return None
    text = _memo_get(m, max_size)
    if text is not None:
        return text
    sb_init(&b)
    try:
        for i in range(m.n_tags):
            error[0] = _put_tag(&b, <object>m.tags[2 * i], <object>m.tags[2 * i + 1], max_size, _known(m, i))
            if error[0]:
                return None
        text = sb_str(&b)
    finally:
        sb_free(&b)
    _memo_store(m, max_size, text)
    return text


# the reasons of _encode_tagset's error codes 1 and 2
cdef tuple _TAGSET_ERRORS = (None, "encoding_error", "inject_max_size")


cpdef str encode_tagset(dict tags, Py_ssize_t max_size):
    """The ``x-datadog-tags`` value for ``{key: value}``, or an error reason (see the pure twin)."""
    cdef int error = 0
    encoded = _encode_tagset(tags, max_size, False, &error)
    return _TAGSET_ERRORS[error] if error else (encoded or "")


cdef inline bint _valid_decision_maker(str dm):
    """``-`` then an integer 0..255 without leading zeros (libdatadog's u8 mechanism)."""
    cdef Py_ssize_t n = len(dm), i
    cdef int v = 0
    cdef Py_UCS4 c
    if n < 2 or n > 4 or PyUnicode_READ_CHAR(dm, 0) != 0x2D or (n > 2 and PyUnicode_READ_CHAR(dm, 1) == 0x30):
        return False
    for i in range(1, n):
        c = PyUnicode_READ_CHAR(dm, i)
        if c < u"0" or c > u"9":
            return False
        v = v * 10 + (<long>c - 48)
    return v <= 255


VALID_DECISION_MAKERS = frozenset("-%d" % value for value in range(256))
