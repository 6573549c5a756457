"""Propagation: W3C trace context on extraction: traceparent, tracestate limits, dd= and ot=.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_tracecontext.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.propagation_settings import TRACEPARENT
from ddfast._pure.propagation_settings import TRACESTATE
from ddfast._pure.propagation_settings import W3C_KNOWN_FLAGS
from ddfast._pure.propagation_settings import _accepted_origin
from ddfast._pure.propagation_settings import record
from ddfast._pure.propagation_tagset import is_hex
from ddfast._pure.propagation_tagset import is_lower_hex
from ddfast._pure.propagation_tagset import parse_priority

# -- W3C tracecontext ---------------------------------------------------------------------------------

TRACESTATE_MAX_MEMBERS = 32
TRACESTATE_MAX_BYTES = 512
TRACESTATE_MEMBER_MAX_CHARS = 128
DD_MEMBER_MAX_CHARS = 256
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


#: what a simple key, a tenant or a system (W3C: ``lcalpha / DIGIT / "_" / "-" / "*" / "/"``) is made of
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-*/")
_LCALPHA = frozenset("abcdefghijklmnopqrstuvwxyz")
#: the longest tenant and system of a multi-tenant key ``tenant@system`` (W3C)
W3C_TENANT_MAX_CHARS = 241
W3C_SYSTEM_MAX_CHARS = 14


def _w3c_key(key):
    """``key`` is a tracestate key as W3C writes it: ``lcalpha 0*255(lcalpha / DIGIT / _ - * /)``, or
    ``tenant@system`` (a tenant of 1 to 241 of those characters starting with ``lcalpha`` or a digit, a
    system of 1 to 14 starting with ``lcalpha``)."""
    tenant, at, system = key.partition("@")
    if not at:
        return 0 < len(key) <= W3C_FIELD_MAX_CHARS and key[0] in _LCALPHA and _KEY_CHARS.issuperset(key)
    return (
        0 < len(tenant) <= W3C_TENANT_MAX_CHARS
        and 0 < len(system) <= W3C_SYSTEM_MAX_CHARS
        and (tenant[0] in _LCALPHA or "0" <= tenant[0] <= "9")
        and system[0] in _LCALPHA
        and _KEY_CHARS.issuperset(tenant)
        and _KEY_CHARS.issuperset(system)
    )


def _w3c_value(value, max_chars=W3C_FIELD_MAX_CHARS):
    """``value`` is a tracestate value as W3C writes it: 1 to 256 (``max_chars``) printable ASCII characters
    but ``,`` and ``=``, the last one not a space."""
    return (
        0 < len(value) <= max_chars
        and value[-1] != " "
        and value.isascii()
        and value.isprintable()
        and "," not in value
        and "=" not in value
    )


def _member_ok(member):
    """A list member (stripped, not empty) to keep: its key and value each at most 256 chars (W3C; a
    longer one is dropped, recorded ``tracestate_member_size``) and, when it is printable ASCII, written
    as W3C's grammar says (``_w3c_key`` ``=`` ``_w3c_value``; else dropped, recorded
    ``tracestate_member``). A member with other characters is kept here: it makes the whole tracestate
    unreadable once the limits are applied (as in ddtrace)."""
    key, eq, value = member.partition("=")
    if len(key) > W3C_FIELD_MAX_CHARS or len(value) > W3C_FIELD_MAX_CHARS:
        record("tracestate_member_size", member[:64])
        return False
    if not (member.isascii() and member.isprintable()):
        return True
    if eq and _w3c_value(value) and _w3c_key(key):
        return True
    record("tracestate_member", member[:64])
    return False


def _member_sendable(member):
    """A member (stripped, not empty) of a tracestate to send on: printable ASCII, as W3C's grammar writes
    it, within its sizes (else dropped, recorded as ``_member_ok`` does, ``tracestate_member`` for other
    characters)."""
    if member.isascii() and member.isprintable():
        return _member_ok(member)
    if _member_ok(member):
        record("tracestate_member", member[:64])
    return False


def _member_limits(members):
    """The tracestate members kept under the W3C limits, ddtrace's way.

    Members that break W3C's grammar or sizes are dropped first (``_member_ok``). The last ``dd=`` and
    the last ``ot=`` members are protected and move to the front; the others keep
    their order. Over 32 members, oversized members (over 128 chars) go first, then the last ones; the
    whole must fit 512 bytes, dropping whole members from the end.
    """
    members = [m.strip() for m in members]
    members = [m for m in members if m and _member_ok(m)]
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
        # a lone surrogate counted as its 3 bytes (never an error: such a tracestate is refused whole)
        size = len(member.encode("utf-8", "surrogatepass")) + (1 if packed else 0)
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


# -- the OpenTelemetry ot= member, as received and as sent on ------------------------------------


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
    """The last ``ot=`` member written as W3C's grammar says (whatever its size), its value as ``_ot_value``
    keeps it; None when there is none left (or what is left breaks the grammar)."""
    for member in reversed(members):
        if member.startswith("ot=") and _w3c_value(member[3:], len(member)):  # its size: _ot_value's
            value = _ot_value(member[3:], keep_th)
            return "ot=" + value if value and _w3c_value(value) else None
    return None
