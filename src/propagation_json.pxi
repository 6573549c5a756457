# Propagation: a JSON object of text headers (the ``_datadog`` value of AWS messages), read without a dict.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_json.py.


cdef inline Py_ssize_t _json_space(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    cdef Py_UCS4 c
    while i < n:
        c = read_char(kind, data, i)
        if c != 0x20 and c != 0x09 and c != 0x0A and c != 0x0D:
            break
        i += 1
    return i


cdef inline Py_ssize_t _json_string_end(int kind, void *data, Py_ssize_t i, Py_ssize_t n) noexcept:
    """The index of the quote closing the string whose text starts at ``i``; -1 when it holds an escape or
    a control character (left to a full JSON parser) or does not end."""
    cdef Py_UCS4 c
    while i < n:
        c = read_char(kind, data, i)
        if c == 0x22:
            return i
        if c == 0x5C or c < 0x20:
            return -1
        i += 1
    return -1


cpdef list json_headers(object text):
    """The members of ``text``, a JSON object whose values are all strings (``{"traceparent": "00-..."}``),
    as a list of ``(name, value)`` pairs, in order: the ``_datadog`` value ddtrace writes into AWS messages,
    read without building a dict. None when ``text`` is not a str holding exactly such an object with
    plain strings (no escapes, no repeated name): a full JSON parser then decides what it is."""
    if type(text) is not str:
        return None
    cdef str s = <str>text
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s), i, end, k
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef list pairs = []
    cdef str name
    i = _json_space(kind, data, 0, n)
    if i >= n or read_char(kind, data, i) != 0x7B:  # {
        return None
    i = _json_space(kind, data, i + 1, n)
    if i < n and read_char(kind, data, i) == 0x7D:  # {}
        return pairs if _json_space(kind, data, i + 1, n) == n else None
    while True:
        if i >= n or read_char(kind, data, i) != 0x22:
            return None
        end = _json_string_end(kind, data, i + 1, n)
        if end < 0:
            return None
        name = s[i + 1:end]
        for k in range(len(pairs)):
            if (<tuple>pairs[k])[0] == name:
                return None  # a repeated name: JSON keeps the last, left to the parser
        i = _json_space(kind, data, end + 1, n)
        if i >= n or read_char(kind, data, i) != 0x3A:  # :
            return None
        i = _json_space(kind, data, i + 1, n)
        if i >= n or read_char(kind, data, i) != 0x22:
            return None  # a value that is not a string
        end = _json_string_end(kind, data, i + 1, n)
        if end < 0:
            return None
        pairs.append((name, s[i + 1:end]))
        i = _json_space(kind, data, end + 1, n)
        if i >= n:
            return None
        if read_char(kind, data, i) == 0x7D:  # }
            return pairs if _json_space(kind, data, i + 1, n) == n else None
        if read_char(kind, data, i) != 0x2C:  # ,
            return None
        i = _json_space(kind, data, i + 1, n)
