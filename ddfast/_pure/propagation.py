"""HTTP header propagation, pure Python. Twin of ``src/propagation.pyx``: same functions, same results.

Extraction reads the trace context out of incoming headers in every style Datadog tracers speak
(``datadog``, ``tracecontext``, ``b3multi``, ``b3``, ``baggage``) and reconciles the styles as
ddtrace 4.16 does; injection writes a context into outgoing headers. The behaviour is ddtrace's,
except where ddtrace is lenient or buggy on bad input (see README, "Known differences"): ddfast
parses ids strictly, and nothing extracted can make a later injection raise.

Bad input never raises: a style whose headers do not parse yields nothing (or a partial context with
``_dd.propagation_error`` in its meta, as ddtrace records it), and the reason is counted in
``ERRORS`` and logged at debug level, at most once a minute per reason.
"""

import logging
import time
from urllib.parse import quote
from urllib.parse import unquote

from ddfast._pure.context import Context
from ddfast._pure.context import set_w3c_writers
from ddfast.span_link import SpanLink

log = logging.getLogger("ddfast.propagation")

# -- header names --------------------------------------------------------------------------------

TRACE_ID = "x-datadog-trace-id"
PARENT_ID = "x-datadog-parent-id"
SAMPLING_PRIORITY = "x-datadog-sampling-priority"
ORIGIN = "x-datadog-origin"
TAGS = "x-datadog-tags"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
B3_TRACE_ID = "x-b3-traceid"
B3_SPAN_ID = "x-b3-spanid"
B3_SAMPLED = "x-b3-sampled"
B3_FLAGS = "x-b3-flags"
B3_SINGLE = "b3"
BAGGAGE = "baggage"
OT_BAGGAGE_PREFIX = "ot-baggage-"

HEADERS = (
    TRACE_ID,
    PARENT_ID,
    SAMPLING_PRIORITY,
    ORIGIN,
    TAGS,
    TRACEPARENT,
    TRACESTATE,
    B3_TRACE_ID,
    B3_SPAN_ID,
    B3_SAMPLED,
    B3_FLAGS,
    B3_SINGLE,
    BAGGAGE,
)
# Lower-cased carrier key -> header name: the HTTP name and its WSGI/CGI spelling (HTTP_X_DATADOG_...).
KNOWN_KEYS = {}
for _name in HEADERS:
    KNOWN_KEYS[_name] = _name
    KNOWN_KEYS["http_" + _name.replace("-", "_")] = _name
del _name
_WSGI_OT_BAGGAGE_PREFIX = "http_ot_baggage_"
# Headers whose repeated occurrences are one comma-separated list (RFC 9110 5.3; W3C trace-context 3.3.1).
LIST_HEADERS = frozenset([TRACESTATE, BAGGAGE])

# -- styles and settings --------------------------------------------------------------------------

DATADOG = "datadog"
TRACECONTEXT = "tracecontext"
B3MULTI = "b3multi"
B3 = "b3"
BAGGAGE_STYLE = "baggage"
NONE = "none"
STYLES = (DATADOG, TRACECONTEXT, B3MULTI, B3, BAGGAGE_STYLE)

# traceparent flags W3C defines: sampled (bit 0) and, in level 2, a random trace id (bit 1)
W3C_SAMPLED_FLAG = 0x01
W3C_RANDOM_FLAG = 0x02
W3C_KNOWN_FLAGS = 0x03

CONTINUE = "continue"
RESTART = "restart"
IGNORE = "ignore"
BEHAVIORS = (CONTINUE, RESTART, IGNORE)


class Settings:
    """A snapshot of the propagation settings, validated once (see ``ddfast.settings``)."""

    __slots__ = (
        "extract_styles",
        "inject_styles",
        "extract_first",
        "behavior_extract",
        "tags_max_length",
        "trace_id_128",
        "baggage_max_items",
        "baggage_max_bytes",
        "baggage_tag_keys",
        "http_baggage",
    )

    def __init__(
        self,
        extract_styles=(DATADOG, TRACECONTEXT, BAGGAGE_STYLE),
        inject_styles=(DATADOG, TRACECONTEXT, BAGGAGE_STYLE),
        extract_first=False,
        behavior_extract=CONTINUE,
        tags_max_length=512,
        trace_id_128=True,
        baggage_max_items=64,
        baggage_max_bytes=8192,
        baggage_tag_keys=("user.id", "account.id", "session.id"),
        http_baggage=False,
    ):
        self.extract_styles = _checked_styles(extract_styles, "extract_styles")
        self.inject_styles = _checked_styles(inject_styles, "inject_styles")
        if behavior_extract not in BEHAVIORS:
            raise ValueError("behavior_extract must be one of %s, not %r" % (", ".join(BEHAVIORS), behavior_extract))
        self.behavior_extract = behavior_extract
        self.extract_first = bool(extract_first)
        self.tags_max_length = _checked_count(tags_max_length, "tags_max_length")
        self.trace_id_128 = bool(trace_id_128)
        self.baggage_max_items = _checked_count(baggage_max_items, "baggage_max_items")
        self.baggage_max_bytes = _checked_count(baggage_max_bytes, "baggage_max_bytes")
        if isinstance(baggage_tag_keys, str):
            raise TypeError("baggage_tag_keys must be a sequence of keys, not a str")
        self.baggage_tag_keys = tuple(baggage_tag_keys)
        self.http_baggage = bool(http_baggage)


def _checked_styles(styles, name):
    if isinstance(styles, str):
        raise TypeError("%s must be a sequence of style names, not a str" % name)
    out = []
    for style in styles:
        if style == NONE:
            continue
        if style not in STYLES:
            raise ValueError("%s: unknown propagation style %r (known: %s)" % (name, style, ", ".join(STYLES)))
        if style not in out:
            out.append(style)
    return tuple(out)


def _checked_count(value, name):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if value < 0:
        raise ValueError("%s must be >= 0, got %d" % (name, value))
    return value


# -- error accounting -----------------------------------------------------------------------------

#: reason -> how many times extraction or injection met it in this process
ERRORS = {}
_LOG_INTERVAL = 60.0
_QUIET_RECHECK = 1.0
_last_logged = {}
_quiet_until = 0.0


def record(reason, detail=None):
    """Count a propagation problem; log it at debug level at most once a minute per reason. While debug
    logging is off, whether it is on is asked at most once a second: a flood of bad headers costs a
    count each, not a logging call each."""
    global _quiet_until
    ERRORS[reason] = ERRORS.get(reason, 0) + 1
    now = time.monotonic()
    if now < _quiet_until:
        return
    last = _last_logged.get(reason)
    if last is not None and now - last < _LOG_INTERVAL:
        return
    if not log.isEnabledFor(logging.DEBUG):
        _quiet_until = now + _QUIET_RECHECK
        return
    _last_logged[reason] = now
    log.debug("ddfast propagation: %s: %r (%d so far)", reason, detail, ERRORS[reason])


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


# -- datadog ----------------------------------------------------------------------------------------


def _extract_datadog(h, s):
    """The context in the ``x-datadog-*`` headers, or None."""
    trace_id_text = h.get(TRACE_ID)
    if trace_id_text is None:
        return None
    trace_id = parse_u64(trace_id_text)
    if not trace_id:
        record("datadog_trace_id", trace_id_text)
        return None
    parent_text = h.get(PARENT_ID, "0")
    span_id = parse_u64(parent_text)
    if span_id is None:
        record("datadog_parent_id", parent_text)
        return None
    priority = h.get(SAMPLING_PRIORITY)
    if priority is not None:
        priority_text = priority
        priority = parse_priority(priority_text)
        if priority is None:
            record("datadog_sampling_priority", priority_text)
            return None
    meta = {}
    tags_text = h.get(TAGS)
    if tags_text:
        tags = decode_tagset(tags_text)
        if isinstance(tags, str):
            record(tags, tags_text)
            meta["_dd.propagation_error"] = tags
        else:
            for key, value in tags.items():
                if key.startswith("_dd.p.") and key not in _REJECTED_TAGS:
                    meta[key] = value
            tid = meta.get("_dd.p.tid")
            if tid is not None:
                if is_lower_hex(tid, 16) and tid != "0000000000000000":
                    if s.trace_id_128:
                        trace_id |= int(tid, 16) << 64
                else:
                    record("malformed_tid", tid)
                    del meta["_dd.p.tid"]
                    meta["_dd.propagation_error"] = "malformed_tid " + tid
            dm = meta.get("_dd.p.dm")
            if dm is not None and dm not in VALID_DECISION_MAKERS:
                record("decision_maker", dm)
                del meta["_dd.p.dm"]
                meta["_dd.propagation_error"] = "decoding_error"
    return Context(
        trace_id=trace_id,
        span_id=span_id or None,
        dd_origin=_accepted_origin(h.get(ORIGIN)),
        sampling_priority=priority,
        meta=meta,
    )


def _inject_datadog(ctx, headers, s):
    trace_id = ctx.trace_id
    meta = ctx._meta
    if trace_id > _U64:
        headers[TRACE_ID] = str(trace_id & _U64)
        meta["_dd.p.tid"] = "%016x" % (trace_id >> 64)
    else:
        headers[TRACE_ID] = str(trace_id)
    headers[PARENT_ID] = str(ctx.span_id)
    if ctx.sampling_priority is not None:
        headers[SAMPLING_PRIORITY] = str(ctx.sampling_priority)
    if ctx.dd_origin is not None:
        headers[ORIGIN] = ctx.dd_origin
    if s.tags_max_length == 0:
        meta["_dd.propagation_error"] = "disabled"
        return
    if "_dd.propagation_error" in meta:
        return
    tags = {k: v for k, v in list(meta.items()) if isinstance(k, str) and k.startswith("_dd.p.")}
    if tags:
        encoded = encode_tagset(tags, s.tags_max_length)
        if encoded == "inject_max_size" or encoded == "encoding_error":
            record(encoded, tags)
            meta["_dd.propagation_error"] = encoded
        else:
            headers[TAGS] = encoded


# -- b3 ---------------------------------------------------------------------------------------------


def _b3_ids(trace_text, span_text):
    """(trace_id, span_id) from B3 hex ids (0 -> None), or None when either does not parse."""
    trace_id = span_id = None
    if trace_text is not None:
        trace_id = parse_hex_id(trace_text, 32)
        if trace_id is None:
            record("b3_trace_id", trace_text)
            return None
    if span_text is not None:
        span_id = parse_hex_id(span_text, 16)
        if span_id is None:
            record("b3_span_id", span_text)
            return None
    return trace_id or None, span_id or None


def _extract_b3multi(h, s):
    """The context in the ``x-b3-*`` headers, or None."""
    trace_text = h.get(B3_TRACE_ID)
    if trace_text is None:
        return None
    ids = _b3_ids(trace_text, h.get(B3_SPAN_ID))
    if ids is None:
        return None
    sampled = h.get(B3_SAMPLED)
    priority = 0 if sampled == "0" else 1 if sampled == "1" else None
    if h.get(B3_FLAGS) == "1":
        priority = 2
    return Context(trace_id=ids[0], span_id=ids[1], sampling_priority=priority)


def _extract_b3(h, s):
    """The context in the single ``b3`` header, or None."""
    value = h.get(B3_SINGLE)
    if not value:
        return None
    parts = value.split("-")
    trace_text = span_text = sampled = None
    if len(parts) == 1:
        sampled = parts[0]
    elif len(parts) == 2:
        trace_text, span_text = parts
    else:
        trace_text, span_text, sampled = parts[0], parts[1], parts[2]
    ids = _b3_ids(trace_text, span_text)
    if ids is None:
        return None
    priority = 0 if sampled == "0" else 1 if sampled == "1" else 2 if sampled == "d" else None
    return Context(trace_id=ids[0], span_id=ids[1], sampling_priority=priority)


def _b3_id(value):
    return "%032x" % value if value > _U64 else "%016x" % value


def _inject_b3multi(ctx, headers, s):
    headers[B3_TRACE_ID] = _b3_id(ctx.trace_id)
    headers[B3_SPAN_ID] = _b3_id(ctx.span_id)
    priority = ctx.sampling_priority
    if priority is not None:
        if priority <= 0:
            headers[B3_SAMPLED] = "0"
        elif priority == 1:
            headers[B3_SAMPLED] = "1"
        elif priority > 1:
            headers[B3_FLAGS] = "1"


def _inject_b3(ctx, headers, s):
    value = _b3_id(ctx.trace_id) + "-" + _b3_id(ctx.span_id)
    priority = ctx.sampling_priority
    if priority is not None:
        if priority <= 0:
            value += "-0"
        elif priority == 1:
            value += "-1"
        elif priority > 1:
            value += "-d"
    headers[B3_SINGLE] = value


# -- W3C tracecontext ---------------------------------------------------------------------------------

TRACESTATE_MAX_MEMBERS = 32
TRACESTATE_MAX_BYTES = 512
TRACESTATE_MEMBER_MAX_CHARS = 128
DD_MEMBER_MAX_CHARS = 256
#: the longest origin accepted from the wire (x-datadog-origin, tracestate o:)
ORIGIN_MAX_CHARS = 128
#: the longest key, and the longest value, of a tracestate list member (W3C)
W3C_FIELD_MAX_CHARS = 256
OT_VALUE_MAX_CHARS = 256
_DD_MEMBER_RESERVED = len("dd=") + len("p:0000000000000000;")


def parse_traceparent(text):
    """(trace_id, span_id, flags) of a traceparent value (trimmed of whitespace), or None.

    ``version-traceid-parentid-flags``, all lowercase hex of exact widths; version ``ff`` is invalid;
    version ``00`` has exactly four fields, a later version may append ``-`` and more; all-zero ids are
    invalid (W3C Trace Context, level 1 and 2).
    """
    tp = text.strip()
    if len(tp) < 55 or tp[2] != "-" or tp[35] != "-" or tp[52] != "-":
        return None
    version = tp[:2]
    if not is_lower_hex(version, 2) or version == "ff":
        return None
    if len(tp) > 55:
        if version == "00" or tp[55] != "-" or len(tp) == 56 or "\n" in tp:
            return None
    trace_hex, span_hex, flags_hex = tp[3:35], tp[36:52], tp[53:55]
    if not (is_lower_hex(trace_hex, 32) and is_lower_hex(span_hex, 16) and is_lower_hex(flags_hex, 2)):
        return None
    trace_id = int(trace_hex, 16)
    span_id = int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(flags_hex, 16)


def _member_sized(member):
    """A member's key and value are each at most 256 chars (W3C); a longer one is dropped, recorded."""
    key, eq, value = member.partition("=")
    if len(key) <= W3C_FIELD_MAX_CHARS and len(value) <= W3C_FIELD_MAX_CHARS:
        return True
    record("tracestate_member_size", member[:64])
    return False


def _member_limits(members):
    """The tracestate members kept under the W3C limits, ddtrace's way.

    The last ``dd=`` and the last ``ot=`` members are protected and move to the front; the others keep
    their order. Over 32 members, oversized members (over 128 chars) go first, then the last ones; the
    whole must fit 512 bytes, dropping whole members from the end.
    """
    members = [m.strip() for m in members]
    members = [m for m in members if m and _member_sized(m)]
    protected = []
    for prefix in ("dd=", "ot="):
        for member in reversed(members):
            if member.startswith(prefix):
                protected.append(member)
                break
    others = [m for m in members if not m.startswith(("dd=", "ot="))]
    room = TRACESTATE_MAX_MEMBERS - len(protected)
    if len(others) > room:
        excess = len(others) - room
        kept = []
        for member in others:
            if excess and len(member) > TRACESTATE_MEMBER_MAX_CHARS:
                excess -= 1
                continue
            kept.append(member)
        others = kept[:room]
    packed = []
    total = 0
    for index, member in enumerate(protected + others):
        size = len(member.encode("utf-8")) + (1 if packed else 0)
        if index == 0 and protected:
            packed.append(member)
            total += size
        elif total + size <= TRACESTATE_MAX_BYTES:
            packed.append(member)
            total += size
        elif index < len(protected):
            break
        elif len(member) > TRACESTATE_MEMBER_MAX_CHARS:
            continue
        else:
            break
    return packed


def _dd_member_values(member):
    """The ``k:v`` pairs of a ``dd=`` member's value, or None when one lacks a ``:``."""
    values = {}
    for item in member[3:].split(";"):
        key, sep, value = item.partition(":")
        if not sep:
            return None
        values[key] = value
    return values


def _accepted_origin(origin):
    """An extracted origin, or None when longer than any real one (``synthetics``, ``rum``, ``lambda``...):
    a hostile value is not fanned out into every downstream call (recorded ``origin_too_long``)."""
    if origin is not None and len(origin) > ORIGIN_MAX_CHARS:
        record("origin_too_long", origin[:64])
        return None
    return origin


def _priority_from_w3c(sampled, ts_priority, origin):
    """The Datadog priority given the traceparent sampled flag and the tracestate ``s:`` value.

    The flag wins when the two disagree (W3C), except for a RUM origin with no ``s:``.
    """
    if not ts_priority and origin == "rum":
        return ts_priority
    if sampled == 0 and (not ts_priority or ts_priority >= 0):
        return 0
    if sampled == 1 and (not ts_priority or ts_priority < 0):
        return 1
    return ts_priority


def _redecided(meta, priority):
    """The decision maker of a decision the traceparent flag changed on extraction: a keep is the
    default decision (``-0``), a drop carries none (Datadog's tracestate rules)."""
    if priority > 0:
        meta["_dd.p.dm"] = "-0"
    else:
        meta.pop("_dd.p.dm", None)


def _check_tid(meta, high):
    """``t.tid`` of tracestate against the traceparent's upper 64 bits ``high``, which win: a different
    one is replaced (or removed for a 64-bit trace id) and recorded as ``malformed_tid`` (not 16 hex
    digits) or ``inconsistent_tid``, so that no later injection sends a trace id the traceparent
    does not carry."""
    tid = meta["_dd.p.tid"]
    expected = "%016x" % high if high else None
    if tid == expected:
        return
    reason = "inconsistent_tid" if is_lower_hex(tid, 16) and tid != "0000000000000000" else "malformed_tid"
    record(reason, tid)
    meta["_dd.propagation_error"] = reason + " " + tid
    if expected is None:
        del meta["_dd.p.tid"]
    else:
        meta["_dd.p.tid"] = expected


def _normal_traceparent(tp, flags):
    """A valid traceparent as this tracer understands it: version 00, the flags W3C defines (sampled,
    random trace id) and none other, no fields of a later version (W3C Trace Context level 2)."""
    return "00-%s-%02x" % (tp[3:52], flags & W3C_KNOWN_FLAGS)


def _extract_tracecontext(h, s):
    """The context in ``traceparent`` / ``tracestate``, or None."""
    tp = h.get(TRACEPARENT)
    if tp is None:
        return None
    parsed = parse_traceparent(tp)
    if parsed is None:
        record("traceparent", tp)
        return None
    trace_id, span_id, flags = parsed
    sampled = flags & 1
    tp = tp.strip()
    if flags & ~W3C_KNOWN_FLAGS or len(tp) != 55 or not tp.startswith("00"):
        tp = _normal_traceparent(tp, flags)
    meta = {"traceparent": tp}
    priority = sampled
    origin = None
    ts = h.get(TRACESTATE)
    if ts:
        members = _member_limits(ts.split(","))
        ts = ",".join(members)
        if not (ts.isascii() and ts.isprintable()):
            record("tracestate", ts)
        else:
            stored = _drop_bad_ot(ts)
            if stored is not None:
                meta["tracestate"] = stored
            dd = None
            for member in members:
                if member.startswith("dd="):
                    dd = _dd_member_values(member)
            if dd is None:
                if any(m.startswith("dd=") for m in members):
                    record("tracestate_dd", ts)
            else:
                ts_priority = dd.get("s")
                valid = True
                if ts_priority is not None:
                    ts_priority = parse_priority(ts_priority)
                    valid = ts_priority is not None
                if not valid:
                    record("tracestate_dd", ts)
                else:
                    origin = dd.get("o")
                    if origin:
                        origin = _accepted_origin(origin.replace("~", "="))
                    for key, value in dd.items():
                        if key.startswith("t."):
                            meta["_dd.p." + key[2:]] = value.replace("~", "=")
                    last_parent = dd.get("p")
                    if last_parent:
                        # kept as sent, as every Datadog tracer does (the span shows it); an injection
                        # sends only a valid one
                        meta["_dd.parent_id"] = last_parent
                        if not is_hex(last_parent, 16):
                            record("tracestate_p", last_parent)
                    priority = _priority_from_w3c(sampled, ts_priority, origin)
                    if ts_priority is not None and priority != ts_priority:
                        _redecided(meta, priority)
                    if "_dd.p.tid" in meta:
                        _check_tid(meta, trace_id >> 64)
    return Context(trace_id=trace_id, span_id=span_id, dd_origin=origin, sampling_priority=priority, meta=meta)


def _w3c_clean(text, is_key):
    """ddtrace's tracestate substitutions: ``,`` ``;`` ``~`` (values) or ``,`` space ``=`` (keys) and any
    run of non-printable characters become ``_``; then ``=`` becomes ``~``."""
    out = []
    bad_run = False
    for c in text:
        if not (" " <= c <= "~"):
            if not bad_run:
                out.append("_")
            bad_run = True
            continue
        bad_run = False
        if c == "," or (c in ";~" if not is_key else c in " ="):
            out.append("_")
        elif c == "=":
            out.append("~")
        else:
            out.append(c)
    return "".join(out)


def _fits_member(tags, item):
    """Append ``item`` to the dd= member's ``tags`` unless the member would no longer fit 256 chars
    (W3C's limit for a list member; recorded ``inject_dd_member_size``)."""
    if _DD_MEMBER_RESERVED + len(";".join(tags + [item])) > DD_MEMBER_MAX_CHARS:
        record("inject_dd_member_size", item.partition(":")[0])
    else:
        tags.append(item)


def dd_member_of(ctx):
    """The value of the ``dd=`` tracestate member for ``ctx``: ``s``, ``o``, ``t.dm``, ``t.usr.id`` when
    they fit, then the other ``t.*`` tags while the member stays within 256 chars."""
    tags = []
    if ctx.sampling_priority is not None:
        tags.append("s:%s" % (ctx.sampling_priority,))
    if ctx.dd_origin:
        _fits_member(tags, "o:" + _w3c_clean(ctx.dd_origin, False))
    meta = ctx._meta
    dm = meta.get("_dd.p.dm")
    if dm:
        tags.append("t.dm:" + _w3c_clean(str(dm), False))
    usr = meta.get("_dd.p.usr.id")
    if usr:
        _fits_member(tags, "t.usr.id:" + _w3c_clean(str(usr), False))
    size = _DD_MEMBER_RESERVED + len(";".join(tags))
    for key, value in list(meta.items()):
        if not isinstance(key, str) or not key.startswith("_dd.p.") or key == "_dd.p.dm" or key == "_dd.p.usr.id":
            continue
        tag = _w3c_clean(key.replace("_dd.p.", "t."), True) + ":" + _w3c_clean(str(value), False)
        extra = len(tag) + (1 if tags else 0)
        if size + extra <= DD_MEMBER_MAX_CHARS:
            tags.append(tag)
            size += extra
    return ";".join(tags)


def traceparent_of(ctx):
    """The traceparent to send for ``ctx``: the upstream trace id and flag bits kept, our span id."""
    tp = ctx._meta.get("traceparent")
    if ctx.span_id is None or ctx.trace_id is None:
        return tp or ""
    sampled = 1 if ctx.sampling_priority is not None and ctx.sampling_priority > 0 else 0
    if tp and parse_traceparent(tp) is not None:
        tp = tp.strip()
        flags = (int(tp[53:55], 16) & W3C_RANDOM_FLAG) | sampled  # the other bits are not ours to send (W3C)
        return "00-%s-%016x-%02x" % (tp[3:35], ctx.span_id, flags)
    return "00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, sampled)


def tracestate_of(ctx):
    """The tracestate to send for ``ctx`` (before ``p:``): our ``dd=`` member first, other vendors after."""
    ts = ctx._meta.get("tracestate", "")
    ot_state = ctx.trace_state()._ot
    dd = dd_member_of(ctx)
    if not ts:
        # only our own member, which dd_member_of keeps within every limit (ddtrace sends it untrimmed),
        # and the OpenTelemetry member of our own sampling decision
        dd = "dd=" + dd if dd else ""
        if ot_state:
            return dd + ",ot=" + ot_state if dd else "ot=" + ot_state
        return dd
    members = [m.strip() for m in ts.split(",")]
    members = [m for m in members if m]
    rest = [m for m in members if not m.startswith("ot=")]
    # an inherited decision is forwarded as it came; a manual decision of ours ("") makes its th stale
    ot = "ot=" + ot_state if ot_state else _ot_member(members, ot_state is None)
    if not rest and (members or ot_state):
        # only OpenTelemetry's member upstream: ours (untrimmed, as ddtrace sends it) then theirs; an
        # upstream tracestate of no member at all goes through the limits below, trimmed, as in ddtrace
        return ",".join(([("dd=" + dd)] if dd else []) + ([ot] if ot else []))
    if dd:
        rest.append("dd=" + dd)
    if ot:
        rest.append(ot)
    return ",".join(_member_limits(rest))


def _ot_value(value, keep_th=True):
    """OpenTelemetry's ``ot=`` value as it is sent on: its ``;``-separated entries, empty ones dropped, a
    malformed ``rv`` (14 hex digits) or ``th`` (1 to 14) dropped (OTEP 235: cleared, never re-derived),
    ``th`` also when ``keep_th`` is false, each kept only while the whole stays within 256 characters."""
    kept = []
    size = 0
    for entry in value.split(";"):
        if entry and _ot_entry_ok(entry, keep_th):
            extra = len(entry) + (1 if kept else 0)
            if size + extra <= OT_VALUE_MAX_CHARS:
                kept.append(entry)
                size += extra
    return ";".join(kept)


def _ot_entry_ok(entry, keep_th):
    """An ``ot=`` entry to send on: any sub-key but a malformed ``rv``/``th`` (or ``th`` not kept)."""
    if entry.startswith("rv:"):
        return is_lower_hex(entry[3:], 14)
    if entry.startswith("th:"):
        return keep_th and 4 <= len(entry) <= 17 and is_lower_hex(entry[3:], len(entry) - 3)
    return True


def _drop_bad_ot(ts):
    """``ts`` with its ``ot=`` member as ddtrace's Context stores it (``_ot_value``; the member dropped when
    nothing is left of it); None when nothing is left of the whole tracestate."""
    if "ot=" not in ts:
        return ts
    members = ts.split(",")
    kept = []
    for m in members:
        if m.startswith("ot="):
            value = _ot_value(m[3:])
            if value:
                kept.append("ot=" + value)
        else:
            kept.append(m)
    if kept == members:
        return ts
    return ",".join(kept) or None


def _ot_member(members, keep_th):
    """The last ``ot=`` member, its value as ``_ot_value`` keeps it; None when there is none left."""
    for member in reversed(members):
        if member.startswith("ot="):
            value = _ot_value(member[3:], keep_th)
            return "ot=" + value if value else None
    return None


def _with_parent(tracestate, span_id):
    """``tracestate`` with ``p:<span id>`` first in its ``dd=`` member (one is made if missing)."""
    p = "p:%016x" % span_id
    if tracestate.startswith("dd="):
        return "dd=" + p + ";" + tracestate[3:]
    if tracestate:
        return "dd=" + p + "," + tracestate
    return "dd=" + p


def _inject_tracecontext(ctx, headers, s):
    tp = traceparent_of(ctx)
    if not tp:
        return
    headers[TRACEPARENT] = tp
    ts = tracestate_of(ctx)
    if ctx._is_remote is False:
        ts = _with_parent(ts, ctx.span_id or 0)
    else:
        last_parent = ctx._meta.get("_dd.parent_id")
        if isinstance(last_parent, str) and is_hex(last_parent, 16):
            ts = _with_parent(ts, int(last_parent, 16))
        elif last_parent is not None:
            record("inject_parent_id", last_parent)
    headers[TRACESTATE] = ts


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
    return unquote(part) if part else None


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
                quote(str(key).strip(), safe=_BAGGAGE_KEY_SAFE)
                + "="
                + quote(str(value).strip(), safe=_BAGGAGE_VALUE_SAFE)
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


# -- contexts from elsewhere -------------------------------------------------------------------------


def as_context(obj):
    """``obj`` as a Context to inject: a Context itself, the ``.context`` of a span (ddfast's or
    ddtrace's), or a ddtrace ``Context`` read through its attributes (its meta and baggage dicts are
    shared, so what injection records there, ``_dd.p.tid`` or a propagation error, lands on ``obj``)."""
    if isinstance(obj, Context):
        return obj
    own = getattr(obj, "context", None)
    if isinstance(own, Context):  # a ddfast Span
        return own
    if obj is None or not (hasattr(obj, "trace_id") and hasattr(obj, "span_id")):
        raise TypeError("inject() expects a Context or a Span, not %s" % type(obj).__name__)
    if own is not None and not hasattr(obj, "_meta"):  # a ddtrace Span: its context
        return as_context(own)
    meta = getattr(obj, "_meta", None)
    baggage = getattr(obj, "_baggage", None)
    ctx = Context(
        trace_id=obj.trace_id,
        span_id=obj.span_id,
        dd_origin=getattr(obj, "dd_origin", None),
        sampling_priority=getattr(obj, "sampling_priority", None),
        meta=meta if isinstance(meta, dict) else None,
        baggage=baggage if isinstance(baggage, dict) else None,
        is_remote=getattr(obj, "_is_remote", True),
    )
    return ctx


# -- all styles together ------------------------------------------------------------------------------

_EXTRACTORS = {
    DATADOG: _extract_datadog,
    TRACECONTEXT: _extract_tracecontext,
    B3MULTI: _extract_b3multi,
    B3: _extract_b3,
}


def _link_of(ctx, style, reason):
    if ctx.span_id and ctx.trace_id:
        return SpanLink(
            ctx.trace_id,
            ctx.span_id,
            tracestate=ctx._meta.get("tracestate", "") if style == TRACECONTEXT else None,
            flags=1 if ctx.sampling_priority and ctx.sampling_priority > 0 else 0,
            attributes={"reason": reason, "context_headers": style},
        )
    return None


def _resolve(contexts, styles):
    """One context from the styles that yielded one: the first wins; a different trace becomes a span link;
    the same trace in tracecontext lends its W3C state and parent (``_dd.parent_id`` keeps the Datadog one)."""
    primary = contexts[0]
    links = []
    for i in range(1, len(contexts)):
        ctx = contexts[i]
        style = styles[i]
        if ctx.trace_id and ctx.trace_id != primary.trace_id:
            link = _link_of(ctx, style, "terminated_context")
            if link is not None:
                links.append(link)
        elif style == TRACECONTEXT:
            meta = ctx._meta
            primary_meta = primary._meta
            if meta.get("traceparent"):
                primary_meta["traceparent"] = meta["traceparent"]
            if meta.get("tracestate"):
                primary_meta["tracestate"] = meta["tracestate"]
            if primary.trace_id == ctx.trace_id and primary.span_id != ctx.span_id:
                if "_dd.parent_id" in meta:
                    primary_meta["_dd.parent_id"] = meta["_dd.parent_id"]
                elif DATADOG in styles:
                    dd_span_id = contexts[styles.index(DATADOG)].span_id
                    if dd_span_id is not None:
                        primary_meta["_dd.parent_id"] = "%016x" % dd_span_id
                primary.span_id = ctx.span_id
    primary._span_links = links
    return primary


def extract(carrier, s):
    """The context carried by ``carrier`` under settings ``s``; an empty ``Context()`` when there is none."""
    h = normalize(carrier, s.http_baggage)
    if not h or not s.extract_styles or s.behavior_extract == IGNORE:
        return Context()
    context = None
    style = ""
    if s.extract_first:
        for candidate in s.extract_styles:
            extractor = _EXTRACTORS.get(candidate)
            if extractor is not None:
                context = extractor(h, s)
                if context is not None:
                    style = candidate
                    break
    else:
        contexts = []
        styles = []
        for candidate in s.extract_styles:
            extractor = _EXTRACTORS.get(candidate)
            if extractor is not None:
                ctx = extractor(h, s)
                if ctx is not None:
                    contexts.append(ctx)
                    styles.append(candidate)
        if contexts:
            context = _resolve(contexts, styles)
            style = styles[0]
    if context is None:
        context = Context()
    elif s.http_baggage:
        for name, value in h.items():
            if name.startswith(OT_BAGGAGE_PREFIX):
                context._baggage[name[len(OT_BAGGAGE_PREFIX) :]] = value
    if BAGGAGE_STYLE in s.extract_styles:
        baggage = _extract_baggage(h, s)
        if baggage:
            context._baggage = baggage
            keys = s.baggage_tag_keys
            if "*" in keys:
                keys = baggage.keys()
            meta = context._meta
            for key in keys:
                value = baggage.get(key)
                if value is not None and "baggage." + key not in meta:
                    meta["baggage." + key] = value
    if s.behavior_extract == RESTART:
        link = _link_of(context, style, "propagation_behavior_extract")
        context = Context(baggage=dict(context._baggage), span_links=[link] if link is not None else [])
    return context


def inject(ctx, headers, s):
    """Write ``ctx`` into ``headers`` in every inject style of ``s`` (a Context; see the facade for others)."""
    styles = s.inject_styles
    if not styles:
        return
    if BAGGAGE_STYLE in styles:
        _inject_baggage(ctx, headers, s)
    if ctx.trace_id is None or ctx.span_id is None:
        return
    if s.http_baggage:
        for key, value in list(ctx._baggage.items()):
            headers[OT_BAGGAGE_PREFIX + key] = value
    if DATADOG in styles:
        _inject_datadog(ctx, headers, s)
    if B3MULTI in styles:
        _inject_b3multi(ctx, headers, s)
    if B3 in styles:
        _inject_b3(ctx, headers, s)
    if TRACECONTEXT in styles:
        _inject_tracecontext(ctx, headers, s)


# -- the HTTPPropagator entry points -------------------------------------------------------------------

_active = Settings()
_before_inject = None


def configure(s):
    """Make ``s`` the settings of ``http_inject`` / ``http_extract`` (the facade calls this on change)."""
    global _active
    if not isinstance(s, Settings):
        raise TypeError("configure() expects a Settings, not %s" % type(s).__name__)
    _active = s


def active_settings():
    """The settings ``http_inject`` / ``http_extract`` use now."""
    return _active


def set_before_inject(hook):
    """Call ``hook(obj, context)`` before injecting a context whose priority is undecided (the tracer
    samples the trace there, as ddtrace does); None removes it."""
    global _before_inject
    if hook is not None and not callable(hook):
        raise TypeError("set_before_inject() expects a callable or None, not %s" % type(hook).__name__)
    _before_inject = hook


def http_inject(context, headers):
    """``HTTPPropagator.inject``: write ``context`` (a Context or Span, ddfast's or ddtrace's) into the
    mutable mapping ``headers``, in the configured styles."""
    if type(headers) is not dict and not hasattr(headers, "__setitem__"):
        raise TypeError("inject() expects a mutable mapping for headers, not %s" % type(headers).__name__)
    ctx = context if type(context) is Context else as_context(context)
    if ctx.trace_state()._priority is None and _before_inject is not None:
        _before_inject(context, ctx)
    inject(ctx, headers, _active)


def http_extract(headers):
    """``HTTPPropagator.extract``: the Context carried by ``headers`` (dict, mapping, WSGI environ, ASGI
    pair list), an empty Context when there is none; bad header values never raise (see ``ERRORS``)."""
    return extract(headers, _active)


# the W3C views of a context (Context._traceparent/_tracestate, ddtrace's private properties) are ours
set_w3c_writers(traceparent_of, tracestate_of)
