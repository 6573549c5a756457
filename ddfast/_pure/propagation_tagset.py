"""Propagation: small parsers and x-datadog-tags.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_tagset.pxi``.
"""


# -- small parsers ----------------------------------------------------------------------------------

_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_LOWER_HEX = frozenset("0123456789abcdef")
_U64 = 0xFFFFFFFFFFFFFFFF


def parse_u64(text):
    """Unsigned decimal 64-bit id, or None (no sign, space, or overflow)."""
    if not text or len(text) > 20 or not _DIGITS.issuperset(text):
        return None
    value = int(text)
    return value if value <= _U64 else None


def parse_priority(text):
    """A sampling priority: an optionally negative decimal integer, or None."""
    digits = text[1:] if text[:1] == "-" else text
    if not digits or len(digits) > 18 or not _DIGITS.issuperset(digits):
        return None
    return int(text)


def parse_hex_id(text, max_digits):
    """1..max_digits hex digits, either case (B3), or None."""
    if not text or len(text) > max_digits or not _HEX.issuperset(text):
        return None
    return int(text, 16)


def is_lower_hex(text, length):
    return len(text) == length and _LOWER_HEX.issuperset(text)


def is_hex(text, length):
    return len(text) == length and _HEX.issuperset(text)


# -- x-datadog-tags (tagset) --------------------------------------------------------------------------


def _tagset_key_char(c):
    # printable ASCII but space, "," and "="
    return "!" <= c <= "~" and c != "," and c != "="


def _tagset_value_char(c):
    # printable ASCII but ","
    return " " <= c <= "~" and c != ","


def decode_tagset(text, max_size=512):
    """``k=v,k2=v2`` as a dict, or an error reason (``extract_max_size`` / ``decoding_error``).

    Keys are printable ASCII without space, ``,`` or ``=``; values printable ASCII without ``,``,
    trimmed of spaces; neither may be empty (the x-datadog-tags grammar every Datadog tracer uses).
    """
    if len(text) > max_size:
        return "extract_max_size"
    if text[-1:] == ",":  # one trailing comma is tolerated, as ddtrace's decoder does
        text = text[:-1]
    tags = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        value = value.strip(" ")
        if not sep or not key or not value:
            return "decoding_error"
        for c in key:
            if not _tagset_key_char(c):
                return "decoding_error"
        for c in value:
            if not _tagset_value_char(c):
                return "decoding_error"
        tags[key] = value
    return tags


def encode_tagset(tags, max_size):
    """The ``x-datadog-tags`` value for ``{key: value}``, or an error reason.

    ``inject_max_size`` when the result would exceed ``max_size`` characters, ``encoding_error`` when a
    key or value has a character the grammar forbids (or is empty once trimmed).
    """
    parts = []
    size = 0
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return "encoding_error"
        key = key.strip(" ")
        value = value.strip(" ")
        if not key or not value:
            return "encoding_error"
        for c in key:
            if not _tagset_key_char(c):
                return "encoding_error"
        for c in value:
            if not _tagset_value_char(c):
                return "encoding_error"
        size += len(key) + 1 + len(value) + (1 if parts else 0)
        if size > max_size:
            return "inject_max_size"
        parts.append(key + "=" + value)
    return ",".join(parts)


_REJECTED_TAGS = frozenset(["_dd.p.upstream_services"])
# _dd.p.dm is "-" followed by the mechanism, an integer 0..255 (libdatadog's u8)
VALID_DECISION_MAKERS = frozenset("-%d" % value for value in range(256))
