# Propagation: reading the carrier (a mapping, WSGI environ or pair list).
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_carrier.py.

# -- carriers -------------------------------------------------------------------------------------


@cython.final
@cython.freelist(4)
cdef class _Headers:
    """The propagation headers of one carrier, one slot each (None when absent)."""

    # owned references, NULL when absent: a str, or the ASCII bytes a carrier gave (the same characters),
    # made a str only when read as text (``get``): ids and priorities are parsed from the bytes (``chars``)
    cdef PyObject *slots[N_HEADERS]
    cdef dict ot  # ot-baggage-* headers, when asked for
    cdef bint empty

    cdef inline str get(self, int slot):
        cdef PyObject *found = self.slots[slot]
        if found == NULL:
            return None
        if PyBytes_CheckExact(<object>found):
            return self._decoded(slot)
        return <str>found

    cdef str _decoded(self, int slot):
        """The ASCII bytes held in ``slot`` as a str, which then takes their place."""
        cdef object raw = <object>self.slots[slot]
        cdef str text = ascii_str(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
        self.put(slot, text)
        return text

    cdef inline const unsigned char *chars(self, int slot, Py_ssize_t *n) noexcept:
        """The value of ``slot`` as one-byte characters (ASCII bytes, or a str's one-byte data) and their
        count in ``*n``; NULL when absent or a str of wider characters."""
        cdef PyObject *found = self.slots[slot]
        if found == NULL:
            return NULL
        if PyBytes_CheckExact(<object>found):
            n[0] = PyBytes_GET_SIZE(<object>found)
            return <const unsigned char *>PyBytes_AS_STRING(<object>found)
        if PyUnicode_KIND(<object>found) != 1:
            return NULL
        n[0] = PyUnicode_GET_LENGTH(<object>found)
        return <const unsigned char *>PyUnicode_DATA(<object>found)

    cdef inline void put_raw(self, int slot, bytes raw) noexcept:
        """Hold ASCII ``raw`` in the empty ``slot``."""
        Py_INCREF(raw)
        self.slots[slot] = <PyObject *>raw
        self.empty = False

    cdef inline void put(self, int slot, str text) noexcept:
        Py_INCREF(text)
        Py_XDECREF(self.slots[slot])
        self.slots[slot] = <PyObject *>text

    def __dealloc__(self):
        cdef int i
        for i in range(N_HEADERS):
            Py_XDECREF(self.slots[i])


cdef inline bint _ascii_bytes(const char *p, Py_ssize_t n) noexcept:
    """``p[:n]`` holds no byte above 0x7F (checked a word at a time)."""
    cdef uint64_t seen = 0, word
    cdef Py_ssize_t i = 0
    if n < 8:
        while i < n:
            seen |= <unsigned char>p[i]
            i += 1
        return (seen & 0x80) == 0
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        seen |= word
        i += 8
    memcpy(&word, p + n - 8, 8)  # the last eight bytes: the rest, and some seen before
    seen |= word
    return (seen & 0x8080808080808080ULL) == 0


cdef inline str _text(object value, bint name):
    """``value`` as str: itself, or bytes decoded (``latin-1`` for a ``name``, as ASGI servers do; UTF-8
    with backslash escapes for values, as ddtrace does); None for any other type."""
    cdef const char *p
    cdef Py_ssize_t n
    if type(value) is str:
        return <str>value
    if type(value) is bytes:  # what ASGI servers give: decoded in place, no copy, no method call
        p = PyBytes_AS_STRING(value)
        n = PyBytes_GET_SIZE(value)
        if _ascii_bytes(p, n):  # either decoding gives the same characters
            return ascii_str(p, n)
        if name:
            return PyUnicode_DecodeLatin1(p, n, NULL)
        return PyUnicode_DecodeUTF8(p, n, "backslashreplace")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1" if name else "utf-8", "backslashreplace")
    return None


cdef inline bint _maybe_known(str key, bint ot_baggage):
    """False when ``key`` cannot be a propagation header (cheap: its length)."""
    cdef Py_ssize_t n = len(key)
    if n == 0:
        return False
    return ot_baggage or (n < 64 and _by_len_count[n] > 0)


cdef inline bint _folded_equal(const char *key, int k, Py_ssize_t n) noexcept:
    """``key[:n]`` (bytes) is known name ``k`` in any ASCII letter case, compared a word at a time."""
    cdef const char *name = _known_names[k]
    cdef const char *fold = _known_fold[k]
    cdef uint64_t a, b, f
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&a, key + i, 8)
        memcpy(&b, name + i, 8)
        memcpy(&f, fold + i, 8)
        if (a | f) != b:
            return False
        i += 8
    if i < n and n >= 8:  # the last eight bytes: the rest, and some compared before
        memcpy(&a, key + n - 8, 8)
        memcpy(&b, name + n - 8, 8)
        memcpy(&f, fold + n - 8, 8)
        return (a | f) == b
    while i < n:
        if (key[i] | fold[i]) != name[i]:
            return False
        i += 1
    return True


cdef int _slot_of(str key) noexcept:
    """The slot of header ``key``, compared ASCII-case-insensitively with the known names of its length
    (what ``KNOWN_KEYS.get(key.lower())`` gives, without making the lower-cased string), or -1."""
    if PyUnicode_KIND(key) != 1:  # a character above U+00FF: no known (ASCII) name
        return -1
    return _slot_of_chars(<const char *>PyUnicode_DATA(key), len(key))


cdef int _slot_of_chars(const char *key, Py_ssize_t n) noexcept:
    """``_slot_of`` for a name of ``n`` one-byte characters at ``key`` (a latin-1 str's or a bytes' data)."""
    cdef int k, end
    if n >= 64 or _by_len_count[n] == 0:
        return -1
    end = _by_len_start[n] + _by_len_count[n]
    for k in range(_by_len_start[n], end):
        if _folded_equal(key, k, n):
            return _known_slot[k]
    return -1


cdef inline void _put(_Headers h, str key, object value, bint ot_baggage):
    cdef int slot = _slot_of(key)
    cdef str lower
    if slot < 0:
        if ot_baggage:
            lower = key.lower()
            if lower.startswith(OT_BAGGAGE_PREFIX):
                _put_ot(h, lower, value)
            elif lower.startswith(_WSGI_OT_BAGGAGE_PREFIX):
                _put_ot(h, OT_BAGGAGE_PREFIX + lower[len(_WSGI_OT_BAGGAGE_PREFIX):], value)
        return
    _put_slot(h, slot, value)


cdef void _put_slot(_Headers h, int slot, object value):
    if (type(value) is bytes and h.slots[slot] == NULL
            and _ascii_bytes(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))):
        h.put_raw(slot, value)  # a message header's bytes: kept as they are (see _Headers)
        return
    cdef str text = _text(value, False)
    if text is None:
        if value is not None:
            record("header_value_type", _SLOT_NAMES[slot])
        return
    if h.slots[slot] != NULL and (slot == H_TRACESTATE or slot == H_BAGGAGE):
        h.put(slot, h.get(slot) + "," + text)
    elif h.slots[slot] != NULL and slot == H_TRACEPARENT and h.get(slot) != text:
        # two different traceparents: combined as HTTP combines a repeated field, which no parser
        # accepts, so the trace restarts (W3C; what a WSGI server hands over for the same request)
        h.put(slot, h.get(slot) + "," + text)
    else:
        h.put(slot, text)
    h.empty = False


cdef void _put_ot(_Headers h, str name, object value):
    cdef str text = _text(value, False)
    if text is None:
        if value is not None:
            record("header_value_type", name)
        return
    if h.ot is None:
        h.ot = {}
    h.ot[name] = text
    h.empty = False


cdef extern from "Python.h":
    # without the saving and restoring of the current exception PyDict_GetItem does
    PyObject *_dict_get "PyDict_GetItemWithError"(object d, object key) noexcept
    PyObject *PyErr_Occurred() noexcept
    void PyErr_Clear() noexcept


cdef inline PyObject *_lookup(dict d, str key) noexcept:
    """``d[key]`` (borrowed), NULL when absent; an error comparing keys (a key of the carrier's that
    claims the hash of ``key`` and fails to compare) is dropped, as that key is no header."""
    cdef PyObject *found = _dict_get(d, key)
    if found == NULL and PyErr_Occurred() != NULL:
        PyErr_Clear()
    return found


cdef void _read_environ(_Headers h, dict environ, bint ot_baggage):
    """The headers of WSGI ``environ`` into ``h``: each one looked up by its CGI name; the
    ``HTTP_OT_BAGGAGE_*`` variables, when asked for, found in one pass over the keys."""
    cdef int slot
    cdef PyObject *found
    cdef Py_ssize_t pos = 0
    cdef PyObject *k_ptr
    cdef PyObject *v_ptr
    cdef Py_ssize_t n = len(_ENVIRON_OT_BAGGAGE_PREFIX)
    cdef str key
    for slot in range(N_HEADERS):
        found = _lookup(environ, <str>_environ_keys[slot])  # the name's hash is cached
        if found != NULL:
            value = <object>found  # held while its text is made
            _put_slot(h, slot, value)
    if not ot_baggage:
        return
    while PyDict_Next(environ, &pos, &k_ptr, &v_ptr):
        k = <object>k_ptr
        if not isinstance(k, str):  # not a CGI variable
            continue
        key = _text(k, True)
        if PyUnicode_Tailmatch(key, _ENVIRON_OT_BAGGAGE_PREFIX, 0, n, -1):
            _put_ot(h, OT_BAGGAGE_PREFIX + key.lower()[n:], <object>v_ptr)


cdef _Headers _read(object carrier, bint ot_baggage):
    cdef _Headers h = _Headers.__new__(_Headers)
    cdef str key
    memset(h.slots, 0, sizeof(h.slots))
    h.ot = None
    h.empty = True
    if carrier is None:
        return h
    cdef Py_ssize_t pos = 0
    cdef PyObject *k_ptr
    cdef PyObject *v_ptr
    if type(carrier) is dict:
        if _lookup(<dict>carrier, _WSGI_VERSION) != NULL:
            _read_environ(h, <dict>carrier, ot_baggage)
            return h
        while PyDict_Next(carrier, &pos, &k_ptr, &v_ptr):  # borrowed references, taken below when kept
            k = <object>k_ptr
            if type(k) is str:
                key = <str>k
            else:
                key = _text(k, True)
                if key is None:
                    continue
            if _maybe_known(key, ot_baggage):
                _put(h, key, <object>v_ptr, ot_baggage)
        return h
    if type(carrier) is list or type(carrier) is tuple:  # (no attribute "items" to look for)
        pairs = carrier
    elif hasattr(carrier, "items"):
        pairs = carrier.items()
    elif isinstance(carrier, (list, tuple)):
        pairs = carrier
    elif hasattr(carrier, "get"):
        pairs = [(name, carrier.get(name)) for name in HEADERS]
    else:
        raise TypeError(
            "extract() expects a mapping of headers, a WSGI environ or a list of (name, value) pairs, not %s"
            % type(carrier).__name__
        )
    cdef int slot
    for pair in pairs:
        if type(pair) is tuple and PyTuple_GET_SIZE(pair) == 2:
            k = <object>PyTuple_GET_ITEM(pair, 0)
            value = <object>PyTuple_GET_ITEM(pair, 1)
        else:
            try:
                k, value = pair
            except (TypeError, ValueError):
                record("malformed_carrier_item", pair)
                continue
        if type(k) is bytes and not ot_baggage:  # ASGI's names: compared as they are, never decoded
            slot = _slot_of_chars(PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k))
            if slot >= 0:
                _put_slot(h, slot, value)
            continue
        key = _text(k, True)
        if key is not None and _maybe_known(key, ot_baggage):
            _put(h, key, value, ot_baggage)
    return h


def normalize(carrier, ot_baggage=False):
    """The propagation headers of ``carrier`` as ``{header name: str value}`` (see the pure twin)."""
    cdef _Headers h = _read(carrier, ot_baggage)
    cdef int i
    found = {}
    for i in range(N_HEADERS):
        if h.slots[i] != NULL:
            found[HEADERS[i]] = h.get(i)
    if h.ot is not None:
        found.update(h.ot)
    return found
