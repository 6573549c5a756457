"""Propagation: a JSON object of text headers (the ``_datadog`` value of AWS messages), read without a dict.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_json.pxi``.
"""

import re

_SPACE = " \t\n\r"
# what a plain JSON string cannot hold as it is: a backslash (an escape follows) or a control character
_NOT_PLAIN = re.compile(r"[\\\x00-\x1f]")


def _space(s, i, n):
    while i < n and s[i] in _SPACE:
        i += 1
    return i


def _string_end(s, i, n):
    """The index of the quote closing the string whose text starts at ``i``; -1 when it holds an escape or
    a control character (left to a full JSON parser) or does not end."""
    end = s.find('"', i, n)
    if end < 0 or _NOT_PLAIN.search(s, i, end) is not None:
        return -1
    return end


def json_headers(text):
    """The members of ``text``, a JSON object whose values are all strings (``{"traceparent": "00-..."}``),
    as a list of ``(name, value)`` pairs, in order: the ``_datadog`` value ddtrace writes into AWS messages,
    read without building a dict. None when ``text`` is not a str holding exactly such an object with
    plain strings (no escapes, no repeated name): a full JSON parser then decides what it is."""
    if type(text) is not str:
        return None
    s, n = text, len(text)
    pairs = []
    i = _space(s, 0, n)
    if i >= n or s[i] != "{":
        return None
    i = _space(s, i + 1, n)
    if i < n and s[i] == "}":
        return pairs if _space(s, i + 1, n) == n else None
    while True:
        if i >= n or s[i] != '"':
            return None
        end = _string_end(s, i + 1, n)
        if end < 0:
            return None
        name = s[i + 1 : end]
        for pair in pairs:
            if pair[0] == name:
                return None  # a repeated name: JSON keeps the last, left to the parser
        i = _space(s, end + 1, n)
        if i >= n or s[i] != ":":
            return None
        i = _space(s, i + 1, n)
        if i >= n or s[i] != '"':
            return None  # a value that is not a string
        end = _string_end(s, i + 1, n)
        if end < 0:
            return None
        pairs.append((name, s[i + 1 : end]))
        i = _space(s, end + 1, n)
        if i >= n:
            return None
        if s[i] == "}":
            return pairs if _space(s, i + 1, n) == n else None
        if s[i] != ",":
            return None
        i = _space(s, i + 1, n)
