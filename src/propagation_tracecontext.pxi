# Propagation: W3C trace context on extraction: traceparent, tracestate limits, dd= and ot=.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_tracecontext.py.

# -- W3C tracecontext ---------------------------------------------------------------------------------

# the limits as C constants (no module-global lookup on the hot path), published under their names
cdef enum:
    _DD_MEMBER_RESERVED = 22  # len("dd=") + len("p:0000000000000000;")
    _W3C_FIELD_MAX = 256  # the longest key, and the longest value, of a tracestate list member
    _DD_MEMBER_MAX = 256
    _TS_MAX_MEMBERS = 32
    _TS_MAX_BYTES = 512
TRACESTATE_MAX_MEMBERS = _TS_MAX_MEMBERS
TRACESTATE_MAX_BYTES = _TS_MAX_BYTES
TRACESTATE_MEMBER_MAX_CHARS = 128
DD_MEMBER_MAX_CHARS = _DD_MEMBER_MAX
#: the longest key, and the longest value, of a tracestate list member (W3C)
W3C_FIELD_MAX_CHARS = _W3C_FIELD_MAX
OT_VALUE_MAX_CHARS = 256


cdef int _parse_traceparent(str tp, uint64_t *hi, uint64_t *lo, uint64_t *span, uint64_t *flags) except -2:
    """0 and the fields of a stripped traceparent, or -1 (see the pure twin's ``parse_traceparent``)."""
    cdef Py_ssize_t n = len(tp)
    cdef int kind = PyUnicode_KIND(tp)
    cdef void *data = PyUnicode_DATA(tp)
    cdef const unsigned char *p
    cdef uint64_t version
    if (n < 55 or read_char(kind, data, 2) != 0x2D or read_char(kind, data, 35) != 0x2D
            or read_char(kind, data, 52) != 0x2D):
        return -1
    if parse_hex_range(tp, 0, 2, True, &version) < 0 or version == 0xFF:
        return -1
    if n > 55:
        if version == 0 or read_char(kind, data, 55) != 0x2D or n == 56 or "\n" in tp:
            return -1
    if kind == 1:  # the 16-digit fields eight digits at a time
        p = <const unsigned char *>data
        if hex16_lower(p + 3, hi) < 0 or hex16_lower(p + 19, lo) < 0 or hex16_lower(p + 36, span) < 0:
            return -1
    elif (parse_hex_range(tp, 3, 19, True, hi) < 0 or parse_hex_range(tp, 19, 35, True, lo) < 0
            or parse_hex_range(tp, 36, 52, True, span) < 0):
        return -1
    if parse_hex_range(tp, 53, 55, True, flags) < 0:
        return -1
    if (hi[0] == 0 and lo[0] == 0) or span[0] == 0:
        return -1
    return 0


def parse_traceparent(str text):
    """(trace_id, span_id, flags) of a traceparent value (trimmed of whitespace), or None."""
    cdef uint64_t hi, lo, span, flags
    if _parse_traceparent(text.strip(), &hi, &lo, &span, &flags) < 0:
        return None
    return join_u128(hi, lo), span, flags


# the characters of a tracestate key (W3C): 1 for lcalpha, 2 for a digit, 3 for "_" "-" "*" "/"
cdef unsigned char _KEY_CHAR[256]
for _c in range(256):
    _KEY_CHAR[_c] = 1 if 0x61 <= _c <= 0x7A else (2 if 0x30 <= _c <= 0x39 else 0)
for _c in (0x5F, 0x2D, 0x2A, 0x2F):
    _KEY_CHAR[_c] = 3
cdef enum:
    _W3C_TENANT_MAX = 241  # the longest tenant, and system, of a multi-tenant key tenant@system
    _W3C_SYSTEM_MAX = 14
    _MEMBER_OK = 0
    _MEMBER_SIZE = 1  # a key or a value over 256 chars
    _MEMBER_GRAMMAR = 2  # not key "=" value as W3C writes them
#: the longest tenant and system of a multi-tenant key ``tenant@system`` (W3C)
W3C_TENANT_MAX_CHARS = _W3C_TENANT_MAX
W3C_SYSTEM_MAX_CHARS = _W3C_SYSTEM_MAX


cdef inline bint _key_chars(const unsigned char *p, Py_ssize_t start, Py_ssize_t stop) noexcept:
    cdef Py_ssize_t i
    for i in range(start, stop):
        if not _KEY_CHAR[p[i]]:
            return False
    return True


cdef int _member_check(const unsigned char *p, Py_ssize_t n) noexcept:
    """How the printable ASCII member ``p[:n]`` (stripped, not empty) stands against W3C (the pure twin's
    ``_member_ok``): ``_MEMBER_OK``, ``_MEMBER_SIZE`` or ``_MEMBER_GRAMMAR``."""
    cdef const unsigned char *eq = <const unsigned char *>memchr(p, 0x3D, n)
    cdef const unsigned char *at
    cdef Py_ssize_t k, v, i
    if eq is NULL:
        return _MEMBER_SIZE if n > _W3C_FIELD_MAX else _MEMBER_GRAMMAR
    k = eq - p
    v = n - k - 1
    if k > _W3C_FIELD_MAX or v > _W3C_FIELD_MAX:
        return _MEMBER_SIZE
    if v == 0 or p[n - 1] == 0x20:
        return _MEMBER_GRAMMAR
    if memchr(eq + 1, 0x3D, v) is not NULL or memchr(eq + 1, 0x2C, v) is not NULL:
        return _MEMBER_GRAMMAR
    at = <const unsigned char *>memchr(p, 0x40, k)
    if at is NULL:
        if k == 0 or _KEY_CHAR[p[0]] != 1 or not _key_chars(p, 1, k):
            return _MEMBER_GRAMMAR
        return _MEMBER_OK
    i = at - p  # the tenant's length; the system's is k - i - 1
    if (i == 0 or i > _W3C_TENANT_MAX or k - i - 1 == 0 or k - i - 1 > _W3C_SYSTEM_MAX
            or _KEY_CHAR[p[0]] > 2 or _KEY_CHAR[p[i + 1]] != 1
            or not _key_chars(p, 0, i) or not _key_chars(p, i + 1, k)):
        return _MEMBER_GRAMMAR
    return _MEMBER_OK


cdef bint _member_ok(str member) except -1:
    """A list member (stripped, not empty) to keep: key and value each at most 256 chars (W3C; else
    recorded ``tracestate_member_size``) and, when printable ASCII, as W3C's grammar writes them (else
    recorded ``tracestate_member``); see the pure twin."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(member), eq
    cdef const unsigned char *p
    cdef int check
    if PyUnicode_KIND(member) == 1:
        p = <const unsigned char *>PyUnicode_DATA(member)
        if printable_bytes(p, n):
            check = _member_check(p, n)
            if check == _MEMBER_OK:
                return True
            if check == _MEMBER_SIZE:
                record("tracestate_member_size", member[:64])
            else:
                record("tracestate_member", member[:64])
            return False
    # other characters: only the sizes (the whole tracestate is refused once the limits are applied)
    if n <= _W3C_FIELD_MAX:  # both fit
        return True
    eq = PyUnicode_FindChar(member, 0x3D, 0, n, 1)
    if (eq < 0 and n <= _W3C_FIELD_MAX) or (0 <= eq <= _W3C_FIELD_MAX and n - eq - 1 <= _W3C_FIELD_MAX):
        return True
    record("tracestate_member_size", member[:64])
    return False


cdef bint _member_sendable(str member) except -1:
    """A member (stripped, not empty) of a tracestate to send on: printable ASCII, as W3C's grammar writes
    it, within its sizes (see the pure twin)."""
    if PyUnicode_KIND(member) == 1 and printable_bytes(<const unsigned char *>PyUnicode_DATA(member),
                                                       PyUnicode_GET_LENGTH(member)):
        return _member_ok(member)
    if _member_ok(member):
        record("tracestate_member", member[:64])
    return False


cdef bint _w3c_value(str value, Py_ssize_t max_chars=_W3C_FIELD_MAX) noexcept:
    """``value`` is a tracestate value as W3C writes it, of at most ``max_chars`` (see the pure twin)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(value), i
    cdef const unsigned char *p
    if n == 0 or n > max_chars or PyUnicode_KIND(value) != 1:
        return False
    p = <const unsigned char *>PyUnicode_DATA(value)
    if not printable_bytes(p, n) or p[n - 1] == 0x20:
        return False
    for i in range(n):
        if p[i] == 0x3D or p[i] == 0x2C:
            return False
    return True


cdef list _member_limits(list members):
    """The tracestate members kept under the W3C limits, ddtrace's way (see the pure twin)."""
    cdef list kept = []
    cdef list protected = []
    cdef list others
    cdef list packed
    cdef str m
    cdef Py_ssize_t i, room, excess, total, size, n_protected
    for item in members:
        m = (<str>item).strip()
        if m and _member_ok(m):
            kept.append(m)
    for prefix in ("dd=", "ot="):
        for i in range(len(kept) - 1, -1, -1):
            if (<str>kept[i]).startswith(prefix):
                protected.append(kept[i])
                break
    n_protected = len(protected)
    if n_protected == len(kept):
        others = []
    else:
        others = [m for m in kept if not (m.startswith("dd=") or m.startswith("ot="))]
    room = TRACESTATE_MAX_MEMBERS - n_protected
    if len(others) > room:
        excess = len(others) - room
        kept = []
        for m in others:
            if excess and len(m) > TRACESTATE_MEMBER_MAX_CHARS:
                excess -= 1
                continue
            kept.append(m)
        others = kept[:room]
    packed = []
    total = 0
    i = 0
    for m in (protected + others if others else protected):
        size = (len(m) if m.isascii() else len(m.encode("utf-8", "surrogatepass"))) + (1 if packed else 0)
        if i == 0 and n_protected:
            packed.append(m)
            total += size
        elif total + size <= TRACESTATE_MAX_BYTES:
            packed.append(m)
            total += size
        elif i < n_protected:
            break
        elif len(m) > TRACESTATE_MEMBER_MAX_CHARS:
            i += 1
            continue
        else:
            break
        i += 1
    return packed


cdef object _priority_from_w3c(uint64_t sampled, object ts_priority, object origin):
    """The Datadog priority given the traceparent sampled flag and the tracestate ``s:`` value."""
    if not ts_priority and origin == "rum":
        return ts_priority
    if sampled == 0 and (not ts_priority or ts_priority >= 0):
        return 0
    if sampled == 1 and (not ts_priority or ts_priority < 0):
        return 1
    return ts_priority


cdef inline int _parse_priority_range(str text, Py_ssize_t start, Py_ssize_t stop, long long *out):
    """``parse_priority`` of text[start:stop] without slicing: 0 and *out, or -1."""
    cdef long long v = 0
    cdef bint negative = stop > start and text[start] == u"-"
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    if negative:
        start += 1
    if stop - start <= 0 or stop - start > 18:
        return -1
    for i in range(start, stop):
        c = text[i]
        if c < u"0" or c > u"9":
            return -1
        v = v * 10 + (<long>c - 48)
    out[0] = -v if negative else v
    return 0


cdef inline str _stripped(str text):
    """``text.strip()``, without the method call when there is nothing to strip (the usual case)."""
    cdef Py_ssize_t n = len(text)
    if n == 0 or not (Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, 0))
                      or Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, n - 1))):
        return text
    return text.strip()


cdef str _limited_tracestate(str ts):
    """``",".join(_member_limits(ts.split(",")))``, without the lists when there is one member."""
    cdef str m
    if "," in ts:
        return ",".join(_member_limits(ts.split(",")))
    m = _stripped(ts)
    if not m or not _member_ok(m):
        return ""
    if m.startswith("dd=") or m.startswith("ot=") or len(m) <= TRACESTATE_MEMBER_MAX_CHARS:
        return m
    if (len(m) if m.isascii() else len(m.encode("utf-8", "surrogatepass"))) <= TRACESTATE_MAX_BYTES:
        return m
    return ""


cdef struct _DDMember:
    Py_ssize_t end          # where the member ends in the tracestate (its "," or the end)
    Py_ssize_t s_at, s_end  # value ranges of the last s, o and p items (at = -1 when absent)
    Py_ssize_t o_at, o_end
    Py_ssize_t p_at, p_end
    bint has_priority
    long long priority


cdef bint _scan_dd_member(str ts, _DDMember *m):
    """Check the ``dd=`` member opening ``ts`` as ``_dd_member_values`` does (every item ``k:v``, ``s`` an
    integer) and find its ``s``, ``o`` and ``p``; False, after recording why, when it is invalid."""
    cdef Py_ssize_t n = PyUnicode_FindChar(ts, 0x2C, 3, len(ts), 1), i = 3, j, colon
    m.end = n if n >= 0 else len(ts)
    m.s_at = m.o_at = m.p_at = -1
    m.s_end = m.o_end = m.p_end = 0
    m.has_priority = False
    while True:
        j = PyUnicode_FindChar(ts, 0x3B, i, m.end, 1)
        if j < 0:
            j = m.end
        colon = PyUnicode_FindChar(ts, 0x3A, i, j, 1)
        if colon < 0:
            record("tracestate_dd", ts)
            return False
        if colon == i + 1:
            if ts[i] == u"s":
                m.s_at, m.s_end = colon + 1, j
            elif ts[i] == u"o":
                m.o_at, m.o_end = colon + 1, j
            elif ts[i] == u"p":
                m.p_at, m.p_end = colon + 1, j
        if j >= m.end:
            break
        i = j + 1
    if m.s_at >= 0:
        if _parse_priority_range(ts, m.s_at, m.s_end, &m.priority) < 0:
            record("tracestate_dd", ts)
            return False
        m.has_priority = True
    return True


cdef str _dd_member_p(str ts, _DDMember *m):
    """The member's ``p`` (the last Datadog parent) as sent, None when absent; one that is not 16 hex
    digits is recorded (and never injected)."""
    cdef str value
    if m.p_at < 0 or m.p_end == m.p_at:
        return None
    value = ts[m.p_at:m.p_end]
    if not is_hex(value, 16):
        record("tracestate_p", value)
    return value


cdef tuple _apply_dd_member(str ts, dict meta, uint64_t sampled, object priority):
    """Apply the ``dd=`` member that opens ``ts`` (``_dd_member_values`` and its use, in the pure twin's
    ``_extract_tracecontext``) by scanning indices: ``t.*`` into meta and ``p``; returns (priority, origin)."""
    cdef _DDMember m
    cdef Py_ssize_t i = 3, j, colon
    cdef str value, key, origin = None
    if not _scan_dd_member(ts, &m):
        return priority, None
    if m.o_at >= 0:
        value = ts[m.o_at:m.o_end]
        origin = _accepted_origin(value.replace("~", "=") if "~" in value else value)
    # the t.* items, in order
    while True:
        j = PyUnicode_FindChar(ts, 0x3B, i, m.end, 1)
        if j < 0:
            j = m.end
        if j - i >= 3 and ts[i] == u"t" and ts[i + 1] == u".":
            colon = PyUnicode_FindChar(ts, 0x3A, i, j, 1)
            key = _common_tag(PyUnicode_KIND(ts), PyUnicode_DATA(ts), i, colon, 2)
            value = None
            if key is None:
                key = "_dd.p." + ts[i + 2:colon]
            elif PyUnicode_FindChar(ts, 0x7E, colon + 1, j, 1) < 0:  # a "~" is an "=": not a value as sent
                value = _shared_value(key, ts, PyUnicode_KIND(ts), PyUnicode_DATA(ts), colon + 1, j)
            if value is None:
                value = ts[colon + 1:j]
                if "~" in value:
                    value = value.replace("~", "=")
            meta[key] = value
        if j >= m.end:
            break
        i = j + 1
    value = _dd_member_p(ts, &m)
    if value is not None:
        meta["_dd.parent_id"] = value
    priority = _priority_from_w3c(sampled, m.priority if m.has_priority else None, origin)
    if m.has_priority and priority != m.priority:
        _redecided(meta, priority)
    return priority, origin


cdef void _redecided(dict meta, object priority) except *:
    """The decision maker of a decision the traceparent flag changed on extraction: a keep is the
    default decision (``-0``), a drop carries none (Datadog's tracestate rules)."""
    if priority > 0:
        meta["_dd.p.dm"] = "-0"
    elif "_dd.p.dm" in meta:
        del meta["_dd.p.dm"]


cdef str _dd_member_parent(str ts):
    """The ``p`` of the ``dd=`` member opening ``ts`` when the member is valid (what ``_apply_dd_member``
    would store as ``_dd.parent_id``), else None; records the same problems it would."""
    cdef _DDMember m
    if not _scan_dd_member(ts, &m):
        return None
    return _dd_member_p(ts, &m)


@cython.final
@cython.freelist(4)
cdef class _W3CMerge:
    """What a tracecontext context of the primary's own trace lends it in ``_resolve`` (its traceparent,
    tracestate, parent and ``p``): all that is needed of it, so the full context is never made."""

    cdef str traceparent
    cdef str tracestate
    cdef str limited  # the tracestate under the limits, its dd= member read only when the parents differ
    cdef uint64_t span  # the traceparent's parent id (made an int only when it becomes the primary's)


cdef str _valid_traceparent(_Headers h, uint64_t *hi, uint64_t *lo, uint64_t *span, uint64_t *flags):
    """The trimmed traceparent and its fields, or None when absent or invalid (recorded)."""
    cdef str tp = h.get(H_TRACEPARENT)
    if tp is None:
        return None
    tp = _stripped(tp)
    if _parse_traceparent(tp, hi, lo, span, flags) < 0:
        record("traceparent", tp)
        return None
    if (flags[0] & ~W3C_KNOWN_FLAGS or len(tp) != 55 or PyUnicode_READ_CHAR(tp, 0) != 0x30
            or PyUnicode_READ_CHAR(tp, 1) != 0x30):
        tp = _normal_traceparent(tp, flags[0])
    return tp


cdef str _normal_traceparent(str tp, uint64_t flags):
    """A valid traceparent as this tracer understands it: version 00, the flags W3C defines (sampled,
    random trace id) and none other, no fields of a later version (W3C Trace Context level 2)."""
    return "00-%s-%02x" % (tp[3:52], flags & W3C_KNOWN_FLAGS)


cdef bint _tracestate_as_is(str ts) noexcept:
    """``ts`` is a tracestate the W3C limits leave as it is (``_limited_tracestate(ts) == ts``) and is
    printable ASCII: at most 32 non-empty members and 512 characters, none padded with spaces, each as
    W3C's grammar writes it, a ``dd=`` member only first, no ``ot=`` member (the usual case: one check of
    the text, then its commas)."""
    cdef Py_ssize_t n = len(ts), i, start = 0, members = 0
    cdef const unsigned char *p = <const unsigned char *>PyUnicode_DATA(ts)
    cdef const unsigned char *comma
    if n == 0 or n > _TS_MAX_BYTES or PyUnicode_KIND(ts) != 1 or not printable_bytes(p, n):
        return False
    while True:  # the member ts[start:i]
        comma = <const unsigned char *>memchr(p + start, 0x2C, n - start)
        i = comma - p if comma is not NULL else n
        if i == start or p[start] == 0x20 or p[i - 1] == 0x20:
            return False
        if _member_check(p + start, i - start) != _MEMBER_OK:
            return False
        if i - start >= 3 and p[start + 2] == 0x3D and (
                (p[start] == 0x64 and p[start + 1] == 0x64 and members > 0)  # a dd= member not first
                or (p[start] == 0x6F and p[start + 1] == 0x74)):  # an ot= member
            return False
        members += 1
        if members > _TS_MAX_MEMBERS:
            return False
        if comma is NULL:
            return True
        start = i + 1


cdef str _valid_tracestate(_Headers h):
    """The tracestate under the W3C limits, or None when absent, empty or not printable ASCII (recorded)."""
    cdef str ts = h.get(H_TRACESTATE)
    if not ts:
        return None
    if _tracestate_as_is(ts):
        return ts
    ts = _limited_tracestate(ts)
    if not is_printable_ascii(ts):
        record("tracestate", ts)
        return None
    return ts


cdef object _tracecontext_secondary(_Headers h, Settings s, Context primary):
    """The tracecontext style when another style already yielded the primary context: a ``_W3CMerge``
    when it carries the same trace (the common case), else the full context (it becomes a span link)."""
    cdef str tp, ts
    cdef uint64_t hi, lo, span, flags
    cdef _W3CMerge merge
    tp = _valid_traceparent(h, &hi, &lo, &span, &flags)
    if tp is None:
        return None
    ts = _valid_tracestate(h)
    if primary.trace_id is None or not _equals_u128(primary.trace_id, hi, lo):
        return _tracecontext(tp, hi, lo, span, flags, ts)
    merge = _W3CMerge.__new__(_W3CMerge)
    merge.traceparent = tp
    merge.span = span
    if ts is not None:
        merge.tracestate = _drop_bad_ot(ts)
        merge.limited = ts
    return merge


cdef inline bint _equals_u128(object value, uint64_t hi, uint64_t lo):
    cdef uint64_t vhi, vlo
    if type(value) is not int or value < 0:
        return False
    int_to_u128(value, &vhi, &vlo)
    return vhi == hi and vlo == lo


cdef Context _extract_tracecontext(_Headers h, Settings s):
    cdef uint64_t hi, lo, span, flags
    cdef str tp = _valid_traceparent(h, &hi, &lo, &span, &flags)
    if tp is None:
        return None
    return _tracecontext(tp, hi, lo, span, flags, _valid_tracestate(h))


cdef Context _tracecontext(str tp, uint64_t hi, uint64_t lo, uint64_t span, uint64_t flags, str ts):
    """The context of a valid traceparent and its tracestate (None: absent or invalid)."""
    cdef uint64_t sampled = flags & 1
    cdef dict meta = {"traceparent": tp}
    cdef object priority = <int>sampled
    cdef str stored, origin = None
    if ts is not None:
        stored = _drop_bad_ot(ts)
        if stored is not None:
            meta["tracestate"] = stored
        # after the limits, the dd= member (the last one sent) comes first
        if ts.startswith("dd="):
            priority, origin = _apply_dd_member(ts, meta, sampled, priority)
            if "_dd.p.tid" in meta:
                _check_tid(meta, hi)
    return new_context(join_u128(hi, lo), span, origin, priority, meta)


cdef int _check_tid(dict meta, uint64_t hi) except -1:
    """``t.tid`` of tracestate against the traceparent's upper 64 bits ``hi``, which win: a different
    one is replaced (or removed for a 64-bit trace id) and recorded as ``malformed_tid`` (not 16 hex
    digits) or ``inconsistent_tid``, so that no later injection sends a trace id the traceparent
    does not carry."""
    cdef str tid = meta["_dd.p.tid"]
    cdef str expected = tid_text(hi) if hi else None
    if tid == expected:
        return 0
    reason = "inconsistent_tid" if is_lower_hex(tid, 16) and tid != "0000000000000000" else "malformed_tid"
    record(reason, tid)
    meta["_dd.propagation_error"] = reason + " " + tid
    if expected is None:
        del meta["_dd.p.tid"]
    else:
        meta["_dd.p.tid"] = expected
    return 0


# -- the OpenTelemetry ot= member, as received and as sent on ------------------------------------

cdef str _ot_value(str value, bint keep_th=True):
    """OpenTelemetry's ``ot=`` value as it is sent on: its ``;``-separated entries, empty ones dropped, a
    malformed ``rv`` (14 hex digits) or ``th`` (1 to 14) dropped (OTEP 235: cleared, never re-derived),
    ``th`` also when ``keep_th`` is false, each kept only while the whole stays within 256 characters."""
    cdef list kept = []
    cdef Py_ssize_t size = 0, extra
    for entry in value.split(";"):
        if entry and _ot_entry_ok(<str>entry, keep_th):
            extra = len(<str>entry) + (1 if kept else 0)
            if size + extra <= OT_VALUE_MAX_CHARS:
                kept.append(entry)
                size += extra
    return ";".join(kept)


cdef bint _ot_entry_ok(str entry, bint keep_th) except -1:
    """An ``ot=`` entry to send on: any sub-key but a malformed ``rv``/``th`` (or ``th`` not kept)."""
    if entry.startswith("rv:"):
        return is_lower_hex(entry[3:], 14)
    if entry.startswith("th:"):
        return keep_th and 4 <= len(entry) <= 17 and is_lower_hex(entry[3:], len(entry) - 3)
    return True


cdef inline bint _has_ot_member(str ts) except -1:
    """A member of ``ts`` starts with ``ot=`` (before any stripping): ``ts`` opens with it or holds
    ``,ot=``; for 1-byte text, only the commas are looked at."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(ts), i = 0
    cdef const char *p
    cdef const char *comma
    if PyUnicode_KIND(ts) != 1:
        return PyUnicode_Tailmatch(ts, "ot=", 0, n, -1) or PyUnicode_Find(ts, ",ot=", 0, n, 1) >= 0
    p = <const char *>PyUnicode_DATA(ts)
    while True:  # i: where a member starts
        if n - i >= 3 and p[i] == b"o" and p[i + 1] == b"t" and p[i + 2] == b"=":
            return True
        comma = <const char *>memchr(p + i, 0x2C, n - i)
        if comma is NULL:
            return False
        i = comma - p + 1


cdef str _drop_bad_ot(str ts):
    """``ts`` with its ``ot=`` member as ddtrace's Context stores it (``_ot_value``; the member dropped when
    nothing is left of it); None when nothing is left of the whole tracestate."""
    cdef list members, kept
    cdef str value
    if not _has_ot_member(ts):
        return ts
    members = ts.split(",")
    kept = []
    for m in members:
        if (<str>m).startswith("ot="):
            value = _ot_value((<str>m)[3:])
            if value:
                kept.append("ot=" + value)
        else:
            kept.append(m)
    if kept == members:
        return ts
    return ",".join(kept) or None


cdef str _ot_member(list members, bint keep_th):
    """The last ``ot=`` member written as W3C's grammar says (whatever its size), its value as ``_ot_value``
    keeps it; None when there is none left (or what is left breaks the grammar)."""
    cdef str value
    for member in reversed(members):
        if (<str>member).startswith("ot=") and _w3c_value((<str>member)[3:], len(<str>member)):  # any size
            value = _ot_value((<str>member)[3:], keep_th)
            return "ot=" + value if value and _w3c_value(value) else None
    return None
