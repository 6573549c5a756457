# Propagation: W3C baggage.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_baggage.py.

# -- W3C baggage --------------------------------------------------------------------------------------

# Characters sent as they are; every other one is percent-encoded (UTF-8), "%" included (see the twin).
cdef str _BAGGAGE_KEY_SAFE = "!#$&'*+-.^_`|~"
cdef str _BAGGAGE_VALUE_SAFE = "!#$&'()*+-./:<>?@[]^_`{|}~"
# the same as lookup tables (urllib.parse.quote also never encodes letters, digits and "_.-~")
cdef bint _key_safe[128]
cdef bint _value_safe[128]
for _c in range(128):
    _ch = chr(_c)
    _always = _ch.isascii() and (_ch.isalnum() or _ch in "_.-~")
    _key_safe[_c] = _always or _ch in _BAGGAGE_KEY_SAFE
    _value_safe[_c] = _always or _ch in _BAGGAGE_VALUE_SAFE
cdef const char *_HEX_UPPER = b"0123456789ABCDEF"


cdef int _write_quoted(StrBuf *b, str text, bint *safe) except -1:
    """Append ``urllib.parse.quote(text, safe=...)``: UTF-8, unsafe bytes as ``%XX`` (upper-case hex).
    A lone surrogate raises UnicodeEncodeError, as quote does."""
    cdef Py_ssize_t i, n = len(text)
    cdef unsigned char c
    cdef bytes raw = None
    cdef const unsigned char *p
    if PyUnicode_KIND(text) == 1 and text.isascii():
        p = <const unsigned char *>PyUnicode_DATA(text)  # ASCII text is its own UTF-8
    else:
        raw = text.encode("utf-8")
        p = <const unsigned char *>(<char *>raw)
        n = len(raw)
    sb_reserve(b, 3 * n)
    for i in range(n):
        c = p[i]
        if c < 128 and safe[c]:
            b.data[b.length] = <char>c
            b.length += 1
        else:
            b.data[b.length] = b"%"
            b.data[b.length + 1] = _HEX_UPPER[c >> 4]
            b.data[b.length + 2] = _HEX_UPPER[c & 0xF]
            b.length += 3
    return 0


cdef inline int _hex_digit(uint32_t c) noexcept:
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


cdef object _urllib_unquote_fn = None


cdef str _urllib_unquote(str text):
    """``urllib.parse.unquote``, imported at the first non-ASCII baggage text (not by ``import ddfast``)."""
    global _urllib_unquote_fn
    if _urllib_unquote_fn is None:
        from urllib.parse import unquote
        _urllib_unquote_fn = unquote
    return _urllib_unquote_fn(text)


cdef str _unquote(str text):
    """``urllib.parse.unquote(text)``: ``%XX`` escapes to bytes, decoded as UTF-8 with replacement; other
    ``%`` kept. ASCII input (the wire's) in C; anything else goes to urllib itself."""
    cdef StrBuf b
    cdef Py_ssize_t i = 0, n = len(text)
    cdef const unsigned char *p
    cdef int hi, lo
    if PyUnicode_FindChar(text, 0x25, 0, n, 1) < 0:
        return text
    if PyUnicode_KIND(text) != 1 or not text.isascii():
        return _urllib_unquote(text)
    p = <const unsigned char *>PyUnicode_DATA(text)
    sb_init(&b)
    try:
        sb_reserve(&b, n)
        while i < n:
            if p[i] == 0x25 and i + 2 < n and (hi := _hex_digit(p[i + 1])) >= 0 and (lo := _hex_digit(p[i + 2])) >= 0:
                b.data[b.length] = <char>((hi << 4) | lo)
                i += 3
            else:
                b.data[b.length] = <char>p[i]
                i += 1
            b.length += 1
        return PyUnicode_DecodeUTF8(b.data, b.length, "replace")
    finally:
        sb_free(&b)


cdef Py_ssize_t _utf8_size(str text, Py_ssize_t start, Py_ssize_t stop) noexcept:
    """How many bytes ``text[start:stop]`` takes in UTF-8; -1 when it holds a lone surrogate (it has
    none: it cannot be sent on)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, size = 0
    cdef uint32_t c
    for i in range(start, stop):
        c = read_char(kind, data, i)
        if c < 0x80:
            size += 1
        elif c < 0x800:
            size += 2
        elif 0xD800 <= c <= 0xDFFF:
            return -1
        else:
            size += 3 if c < 0x10000 else 4
    return size


cdef str _baggage_part(str text, Py_ssize_t start, Py_ssize_t stop):
    """``unquote(text[start:stop].strip())``: a baggage key or value; None when nothing is left of it."""
    while start < stop and Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, start)):
        start += 1
    while stop > start and Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, stop - 1)):
        stop -= 1
    if start == stop:
        return None
    return _unquote(text[start:stop])


cdef dict _extract_baggage(_Headers h, Settings s):
    """The items of the ``baggage`` header (W3C): ``key=value`` members, each part stripped and
    percent-decoded; empty when a member is malformed (no ``=``, an empty key or value, a lone
    surrogate); the members past the item or byte limits dropped. Read in place: no list of members."""
    cdef str value = h.get(H_BAGGAGE)
    cdef dict items = {}
    cdef Py_ssize_t n, start = 0, stop, eq, total = 0, size, index = 0
    cdef bint ascii
    cdef str key, item
    if not value:
        return items
    n = len(value)
    ascii = value.isascii()
    while start <= n:  # the member value[start:stop]
        stop = PyUnicode_FindChar(value, 0x2C, start, n, 1)
        if stop < 0:
            stop = n
        if index >= s.baggage_max_items:
            record("baggage_max_items", value.count(",") + 1)
            break
        index += 1
        eq = PyUnicode_FindChar(value, 0x3D, start, stop, 1)
        size = stop - start if ascii else _utf8_size(value, start, stop)
        if eq < 0 or size < 0:
            record("baggage_malformed", value)
            return {}
        size += 1 if items else 0
        if total + size > s.baggage_max_bytes:
            record("baggage_max_bytes", n)
            break
        key = _baggage_part(value, start, eq)
        item = _baggage_part(value, eq + 1, stop)
        if key is None or item is None:
            record("baggage_malformed", value)
            return {}
        items[key] = item
        total += size
        start = stop + 1
    return items


cdef int _inject_baggage(Context ctx, object headers, Settings s) except -1:
    cdef dict baggage = ctx._baggage_d
    cdef StrBuf b
    cdef Py_ssize_t index = 0, mark
    if not baggage:
        return 0
    sb_init(&b)
    try:
        for key, value in list(baggage.items()):
            if index >= s.baggage_max_items:
                record("baggage_max_items", len(baggage))
                break
            index += 1
            mark = b.length
            if b.length:
                sb_char(&b, b",")
            try:
                _write_quoted(&b, _stripped(key if type(key) is str else str(key)), _key_safe)
                sb_char(&b, b"=")
                _write_quoted(&b, _stripped(value if type(value) is str else str(value)), _value_safe)
            except UnicodeEncodeError:  # a lone surrogate: this item cannot be sent, the others can
                b.length = mark
                record("baggage_encoding_error", key)
                continue
            if b.length > s.baggage_max_bytes:
                b.length = mark
                record("baggage_max_bytes", len(baggage))
                break
        _set(headers, "baggage", sb_str(&b))
    finally:
        sb_free(&b)
    return 0
