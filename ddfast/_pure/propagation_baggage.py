"""Propagation: W3C baggage.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_baggage.pxi``.
"""

from ddfast._pure.propagation_settings import BAGGAGE
from ddfast._pure.propagation_settings import record

_parse = None


def _urllib_parse():
    """``urllib.parse``, imported at the first baggage header read or sent (not by ``import ddfast``)."""
    global _parse
    if _parse is None:
        import urllib.parse

        _parse = urllib.parse
    return _parse


# -- W3C baggage --------------------------------------------------------------------------------------

# Characters sent as they are; every other one is percent-encoded (UTF-8). "%" itself is encoded, so
# that a value round-trips (ddtrace sends a raw "%", which the receiver may decode as an escape).
_BAGGAGE_KEY_SAFE = "!#$&'*+-.^_`|~"
_BAGGAGE_VALUE_SAFE = "!#$&'()*+-./:<>?@[]^_`{|}~"


def _utf8_size(text, start, stop):
    """How many bytes ``text[start:stop]`` takes in UTF-8; -1 when it holds a lone surrogate (it has
    none: it cannot be sent on)."""
    try:
        return len(text[start:stop].encode("utf-8"))
    except UnicodeEncodeError:
        return -1


def _baggage_part(text, start, stop):
    """``unquote(text[start:stop].strip())``: a baggage key or value; None when nothing is left of it."""
    part = text[start:stop].strip()
    return _urllib_parse().unquote(part) if part else None


def _extract_baggage(h, s):
    """The items of the ``baggage`` header (W3C): ``key=value`` members, each part stripped and
    percent-decoded; empty when a member is malformed (no ``=``, an empty key or value, a lone
    surrogate); the members past the item or byte limits dropped."""
    value = h.get(BAGGAGE)
    if not value:
        return {}
    items = {}
    total = index = start = 0
    n = len(value)
    ascii = value.isascii()
    while start <= n:  # the member value[start:stop]
        stop = value.find(",", start)
        if stop < 0:
            stop = n
        if index >= s.baggage_max_items:
            record("baggage_max_items", value.count(",") + 1)
            break
        index += 1
        eq = value.find("=", start, stop)
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


def _inject_baggage(ctx, headers, s):
    baggage = ctx._baggage
    if not baggage:
        return
    parts = []
    total = 0
    for index, (key, value) in enumerate(list(baggage.items())):
        if index >= s.baggage_max_items:
            record("baggage_max_items", len(baggage))
            break
        try:
            item = (
                _urllib_parse().quote(str(key).strip(), safe=_BAGGAGE_KEY_SAFE)
                + "="
                + _urllib_parse().quote(str(value).strip(), safe=_BAGGAGE_VALUE_SAFE)
            )
        except UnicodeEncodeError:  # a lone surrogate: this item cannot be sent, the others can
            record("baggage_encoding_error", key)
            continue
        size = len(item) + (1 if parts else 0)
        if total + size > s.baggage_max_bytes:
            record("baggage_max_bytes", len(baggage))
            break
        parts.append(item)
        total += size
    headers[BAGGAGE] = ",".join(parts)
