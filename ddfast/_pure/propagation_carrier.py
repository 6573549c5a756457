"""Propagation: reading the carrier (a mapping, WSGI environ or pair list).

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_carrier.pxi``.
"""

from ddfast._pure.propagation_settings import _ENVIRON_OT_BAGGAGE_PREFIX
from ddfast._pure.propagation_settings import _WSGI_OT_BAGGAGE_PREFIX
from ddfast._pure.propagation_settings import ENVIRON_KEYS
from ddfast._pure.propagation_settings import HEADERS
from ddfast._pure.propagation_settings import KNOWN_KEYS
from ddfast._pure.propagation_settings import LIST_HEADERS
from ddfast._pure.propagation_settings import OT_BAGGAGE_PREFIX
from ddfast._pure.propagation_settings import TRACEPARENT
from ddfast._pure.propagation_settings import WSGI_VERSION
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


_ABSENT = object()


def _lookup(d, key, default=None):
    """``d.get(key, default)``; ``default`` too where comparing keys fails (a key of the carrier's that
    claims the hash of ``key`` and raises when compared): that key is no header."""
    try:
        return d.get(key, default)
    except Exception:
        return default


def _read_environ(environ, ot_baggage):
    """The headers of WSGI ``environ``: each one looked up by its CGI name; the ``HTTP_OT_BAGGAGE_*``
    variables, when asked for, found in one pass over the keys."""
    found = {}
    for name, key in zip(HEADERS, ENVIRON_KEYS, strict=True):
        value = _lookup(environ, key)
        if value is None:
            continue
        text = _text(value, "utf-8")
        if text is None:
            record("header_value_type", name)
            continue
        found[name] = text
    if not ot_baggage:
        return found
    n = len(_ENVIRON_OT_BAGGAGE_PREFIX)
    for key, value in environ.items():
        if not isinstance(key, str) or not key.startswith(_ENVIRON_OT_BAGGAGE_PREFIX):  # not a CGI variable
            continue
        name = OT_BAGGAGE_PREFIX + key.lower()[n:]
        text = _text(value, "utf-8")
        if text is None:
            if value is not None:
                record("header_value_type", name)
            continue
        found[name] = text
    return found


def normalize(carrier, ot_baggage=False):
    """The propagation headers of ``carrier`` as ``{header name: str value}``.

    Accepts a dict or any mapping (WSGI ``environ`` included), an object with ``items()`` or ``get()``,
    and a list of ``(name, value)`` pairs (ASGI, bytes or str). Names are case-insensitive; a value
    that is neither str nor bytes is ignored; a repeated list header (tracestate, baggage) is joined
    with ``,``, as is a ``traceparent`` repeated with another value (making it invalid); any other
    repeated header keeps its last value. ``ot_baggage`` also keeps the
    ``ot-baggage-*`` headers, under their lower-cased HTTP names.

    A WSGI environ (a ``dict`` with ``wsgi.version``) is read as PEP 3333 writes it: a header is its
    CGI variable (``HTTP_X_DATADOG_TRACE_ID``, ``HTTP_OT_BAGGAGE_*``), looked up by that name; no other
    spelling of a header name is one of the request's headers there.
    """
    if carrier is None:
        return {}
    if type(carrier) is dict and _lookup(carrier, WSGI_VERSION, _ABSENT) is not _ABSENT:
        return _read_environ(carrier, ot_baggage)
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
