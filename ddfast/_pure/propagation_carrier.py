"""Propagation: reading the carrier (a mapping, WSGI environ or pair list).

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_carrier.pxi``.
"""

from ddfast._pure.propagation_settings import _WSGI_OT_BAGGAGE_PREFIX
from ddfast._pure.propagation_settings import HEADERS
from ddfast._pure.propagation_settings import KNOWN_KEYS
from ddfast._pure.propagation_settings import LIST_HEADERS
from ddfast._pure.propagation_settings import OT_BAGGAGE_PREFIX
from ddfast._pure.propagation_settings import TRACEPARENT
from ddfast._pure.propagation_settings import record

# -- carriers -------------------------------------------------------------------------------------


def _text(value, encoding):
    """``value`` as str: itself, or bytes decoded (``latin-1`` for names, as ASGI servers do; UTF-8 with
    backslash escapes for values, as ddtrace does); None for any other type."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(encoding, "backslashreplace")
    return None


def normalize(carrier, ot_baggage=False):
    """The propagation headers of ``carrier`` as ``{header name: str value}``.

    Accepts a dict or any mapping (WSGI ``environ`` included), an object with ``items()`` or ``get()``,
    and a list of ``(name, value)`` pairs (ASGI, bytes or str). Names are case-insensitive; a value
    that is neither str nor bytes is ignored; a repeated list header (tracestate, baggage) is joined
    with ``,``, as is a ``traceparent`` repeated with another value (making it invalid); any other
    repeated header keeps its last value. ``ot_baggage`` also keeps the
    ``ot-baggage-*`` headers, under their lower-cased HTTP names.
    """
    if carrier is None:
        return {}
    if isinstance(carrier, dict) or hasattr(carrier, "items"):
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
    found = {}
    for pair in pairs:
        try:
            key, value = pair
        except (TypeError, ValueError):
            record("malformed_carrier_item", pair)
            continue
        key = _text(key, "latin-1")
        if key is None:
            continue
        lower = key.lower()
        name = KNOWN_KEYS.get(lower)
        if name is None:
            if not ot_baggage:
                continue
            if lower.startswith(OT_BAGGAGE_PREFIX):
                name = lower
            elif lower.startswith(_WSGI_OT_BAGGAGE_PREFIX):
                name = OT_BAGGAGE_PREFIX + lower[len(_WSGI_OT_BAGGAGE_PREFIX) :]
            else:
                continue
        text = _text(value, "utf-8")
        if text is None:
            if value is not None:
                record("header_value_type", name)
            continue
        if name in found and name in LIST_HEADERS:
            found[name] = found[name] + "," + text
        elif name == TRACEPARENT and name in found and found[name] != text:
            # two different traceparents: combined as HTTP combines a repeated field, which no parser
            # accepts, so the trace restarts (W3C; what a WSGI server hands over for the same request)
            found[name] = found[name] + "," + text
        else:
            found[name] = text
    return found
