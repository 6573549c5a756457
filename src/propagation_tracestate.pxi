# Propagation: W3C trace context on injection: traceparent and tracestate written.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_tracestate.py.

# _write_clean's substitutions per byte: what to write, or 0 for a character that starts (or continues) a
# run of non-printable ones, written once as "_"
cdef unsigned char _CLEAN_KEY[256]
cdef unsigned char _CLEAN_VALUE[256]
for _c in range(256):
    _CLEAN_KEY[_c] = _CLEAN_VALUE[_c] = _c if 0x20 <= _c <= 0x7E else 0
for _c in (0x2C, 0x20, 0x3D):  # , space =
    _CLEAN_KEY[_c] = 0x5F
for _c in (0x2C, 0x3B, 0x7E):  # , ; ~
    _CLEAN_VALUE[_c] = 0x5F
_CLEAN_VALUE[0x3D] = 0x7E


cdef int _write_clean(StrBuf *b, str text, Py_ssize_t start, bint is_key) except -1:
    """Append text[start:] with ddtrace's tracestate substitutions (``_w3c_clean`` in the pure twin):
    ``,`` and ``;`` ``~`` (values) or space ``=`` (keys), and any run of non-printable characters,
    become ``_``; then ``=`` becomes ``~``."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef const unsigned char *table = &_CLEAN_KEY[0] if is_key else &_CLEAN_VALUE[0]
    cdef const unsigned char *p = <const unsigned char *>data
    cdef Py_ssize_t i, n = len(text)
    cdef uint32_t c
    cdef unsigned char t
    cdef bint bad_run = False
    cdef char *out
    sb_reserve(b, n - start)
    out = b.data + b.length
    for i in range(start, n):
        if kind == 1:
            t = table[p[i]]
        else:
            c = read_char(kind, data, i)
            t = table[c] if c < 0x80 else 0
        if t:
            out[0] = <char>t
            out += 1
            bad_run = False
        elif not bad_run:
            out[0] = b"_"
            out += 1
            bad_run = True
    b.length = out - b.data
    return 0


cdef int _write_int(StrBuf *b, object value) except -1:
    """Append str(value), in C for an int that fits 64 bits."""
    cdef char digits[21]
    cdef int i = 21
    cdef long long v
    cdef unsigned long long u
    cdef str text
    if small_int(value, &v):
        u = -v if v < 0 else v
        while True:
            i -= 1
            digits[i] = <char>(48 + u % 10)
            u //= 10
            if u == 0:
                break
        if v < 0:
            i -= 1
            digits[i] = b"-"
        sb_bytes(b, digits + i, 21 - i)
        return 0
    text = str(value)
    return _write_clean(b, text, 0, False)


cdef inline bint _is_text(object k, str text):
    """``k == text`` for a str ``k``, the lengths compared first (no call for the usual mismatch)."""
    return k is text or (PyUnicode_GET_LENGTH(<str>k) == PyUnicode_GET_LENGTH(text) and k == text)


cdef int _put_member_tag(StrBuf *b, Py_ssize_t start, str key, object value, int known) except -1:
    """Append ``t.<key>:<value>`` to the dd= member that starts at ``start`` in ``b`` (after a ``;``
    unless it is the first item), unless the member would pass 256 chars with it. ``known``: as for
    ``_put_tag`` (a known key or value has nothing to substitute)."""
    cdef Py_ssize_t mark = b.length
    if b.length > start:
        sb_char(b, b";")
    if known & _KNOWN_KEY:
        sb_bytes(b, "t.", 2)
        sb_ascii(b, key, 6, len(key))
    elif len(key) < 12 or PyUnicode_Find(key, "_dd.p.", 6, len(key), 1) < 0:
        sb_bytes(b, "t.", 2)
        _write_clean(b, key, 6, True)
    else:  # the prefix occurs again inside the key: ddtrace replaces every occurrence
        _write_clean(b, key.replace("_dd.p.", "t."), 0, True)
    sb_char(b, b":")
    if known & _KNOWN_VALUE:
        sb_ascii(b, <str>value, 0, len(<str>value))
    else:
        _write_clean(b, value if type(value) is str else str(value), 0, False)
    if _DD_MEMBER_RESERVED + (b.length - start) > _DD_MEMBER_MAX:
        b.length = mark  # this tag does not fit: leave it out, try the next
    return 0


# the items of the dd= member that are counted when left out (a bit each in ``_write_dd_member``'s left_out)
cdef enum:
    _LEFT_O = 1
    _LEFT_DM = 2
    _LEFT_USR = 4


cdef inline int _fits_member(StrBuf *b, Py_ssize_t start, Py_ssize_t mark, int item, int *left_out) except -1:
    """Take back the item written since ``mark`` when the dd= member that starts at ``start`` no longer
    fits 256 chars with it (W3C's limit for a list member): its bit set in ``left_out``."""
    if _DD_MEMBER_RESERVED + (b.length - start) > _DD_MEMBER_MAX:
        b.length = mark
        left_out[0] |= item
    return 0


cdef int _record_left_out(int left_out) except -1:
    """Count the items ``_write_dd_member`` left out (``inject_dd_member_size``), once the member is sent."""
    if left_out & _LEFT_O:
        record("inject_dd_member_size", "o")
    if left_out & _LEFT_DM:
        record("inject_dd_member_size", "t.dm")
    if left_out & _LEFT_USR:
        record("inject_dd_member_size", "t.usr.id")
    return 0


cdef int _write_dd_member(StrBuf *b, Context ctx, _MetaScan *m, int *left_out) except -1:
    """Append the value of the ``dd=`` tracestate member for ``ctx`` (``dd_member_of``): ``s``, then ``o``,
    ``t.dm``, ``t.usr.id`` when they fit (the bits of those left out set in ``left_out``, for
    ``_record_left_out`` once the member is sure to be sent), then the other ``t.*`` tags while the member
    stays within 256 chars. ``m`` is ``_scan_meta`` of the context's meta."""
    cdef Py_ssize_t start = b.length, i, mark
    cdef object dm = _found(m.found[M_DM]), usr = _found(m.found[M_USR])
    cdef Context state = ctx.trace_state()
    if state._priority is not None:
        sb_bytes(b, "s:", 2)
        _write_int(b, state._priority)
    if state._origin:
        mark = b.length
        if b.length > start:
            sb_char(b, b";")
        sb_bytes(b, "o:", 2)
        _write_clean(b, state._origin, 0, False)
        _fits_member(b, start, mark, _LEFT_O, left_out)
    if dm:
        mark = b.length
        if b.length > start:
            sb_char(b, b";")
        sb_bytes(b, "t.dm:", 5)
        _write_clean(b, dm if type(dm) is str else str(dm), 0, False)
        _fits_member(b, start, mark, _LEFT_DM, left_out)
    if usr:
        mark = b.length
        if b.length > start:
            sb_char(b, b";")
        sb_bytes(b, "t.usr.id:", 9)
        _write_clean(b, usr if type(usr) is str else str(usr), 0, False)
        _fits_member(b, start, mark, _LEFT_USR, left_out)
    if m.n_tags >= 0:
        for i in range(m.n_tags):
            if m.slots[i] != M_DM and m.slots[i] != M_USR:
                _put_member_tag(b, start, <str>m.tags[2 * i], <object>m.tags[2 * i + 1], _known(m, i))
        return 0
    for k, value in list(ctx._meta.items()):
        if is_propagated_key(k) and not _is_text(k, "_dd.p.dm") and not _is_text(k, "_dd.p.usr.id"):
            _put_member_tag(b, start, <str>k, value, 0)
    return 0


cpdef str dd_member_of(Context ctx):
    """The value of the ``dd=`` tracestate member for ``ctx`` (``s``, ``o``, ``t.*``), at most 256 chars."""
    cdef _MetaScan m
    _scan_meta(ctx._meta, &m)
    try:
        return _dd_member(ctx, &m)
    finally:
        _release_meta(&m)


cdef str _dd_member(Context ctx, _MetaScan *m):
    """``dd_member_of`` with its ``_scan_meta`` at hand."""
    cdef StrBuf b
    cdef int left_out = 0
    sb_init(&b)
    try:
        _write_dd_member(&b, ctx, m, &left_out)
        _record_left_out(left_out)
        return sb_str(&b)
    finally:
        sb_free(&b)


cpdef str traceparent_of(Context ctx):
    """The traceparent to send for ``ctx``: the upstream trace id and flag bits kept, our span id."""
    cdef uint64_t hi = 0, lo = 0, span = 0
    if ctx.span_id is not None and ctx.trace_id is not None:
        int_to_u128(ctx.trace_id, &hi, &lo)
        span = low64(ctx.span_id)
    return _traceparent(ctx, hi, lo, span, ctx._meta.get("traceparent"))


cdef str _traceparent(Context ctx, uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id, object tp):
    """``traceparent_of`` with the trace id's halves, the span id's low half and meta's ``traceparent``
    (``tp``) at hand."""
    cdef uint64_t hi, lo, span, flags
    cdef int sampled
    cdef long long v
    cdef str stripped
    cdef char buf[55]
    if ctx.span_id is None or ctx.trace_id is None:
        return tp or ""
    priority = ctx.trace_state()._priority
    if small_int(priority, &v):
        sampled = v > 0
    else:
        sampled = 1 if priority is not None and priority > 0 else 0
    if tp and type(tp) is str:
        stripped = _stripped(<str>tp)
        if _parse_traceparent(stripped, &hi, &lo, &span, &flags) == 0:
            flags = (flags & W3C_RANDOM_FLAG) | sampled  # the other bits are not ours to send (W3C)
        else:
            stripped = None
    else:
        stripped = None
    if stripped is None:
        hi = trace_hi
        lo = trace_lo
        flags = sampled
    buf[0] = b"0"
    buf[1] = b"0"
    buf[2] = b"-"
    write_hex16(buf + 3, hi)
    write_hex16(buf + 19, lo)
    buf[35] = b"-"
    write_hex16(buf + 36, span_id)
    buf[52] = b"-"
    buf[53] = HEX_DIGITS[(flags >> 4) & 0xF]
    buf[54] = HEX_DIGITS[flags & 0xF]
    return ascii_str(buf, 55)


cdef inline bint _next_member(const char *p, Py_ssize_t n, Py_ssize_t *pos, Py_ssize_t *start,
                              Py_ssize_t *stop) noexcept:
    """The next ``,``-separated member of ``p[:n]`` from ``pos[0]``, trimmed of spaces, as
    ``p[start[0]:stop[0]]`` (possibly empty); False when there is none left."""
    cdef Py_ssize_t i = pos[0], j
    cdef const char *comma
    if i > n:
        return False
    comma = <const char *>memchr(p + i, 0x2C, n - i)
    j = comma - p if comma is not NULL else n
    pos[0] = j + 1
    while i < j and p[i] == b" ":
        i += 1
    while j > i and p[j - 1] == b" ":
        j -= 1
    start[0], stop[0] = i, j
    return True


cdef inline bint _is_dd_member(const char *p, Py_ssize_t start, Py_ssize_t stop) noexcept:
    return stop - start >= 3 and p[start] == b"d" and p[start + 1] == b"d" and p[start + 2] == b"="


cdef str _tracestate_within_limits(Context ctx, str ts, bint with_parent, uint64_t parent, _MetaScan *m):
    """``tracestate_of(ctx)`` (``_with_parent(tracestate_of(ctx), parent)`` when ``with_parent``) for an
    upstream tracestate ``ts`` that no limit can touch (printable ASCII, members as W3C writes them, no
    ``ot=``, fewer than 32 members, under 512 bytes with our member) and a context with no ``ot=`` state of its own: our
    ``dd=`` member (or, when ours is empty, the last upstream one) then the other members in order,
    built in one buffer; None otherwise."""
    cdef Py_ssize_t n = len(ts), pos, start, stop, last_dd = -1, last_dd_end = 0, commas = 0
    cdef Py_ssize_t head, member
    cdef int left_out = 0
    cdef const char *p
    cdef const char *at
    cdef StrBuf b
    if n + 4 > _TS_MAX_BYTES or PyUnicode_KIND(ts) != 1:
        return None
    p = <const char *>PyUnicode_DATA(ts)
    if not printable_bytes(<const unsigned char *>p, n):
        return None
    at = <const char *>memchr(p, 0x3D, n)
    while at is not NULL:  # no "ot=" anywhere (a member could start with it)
        if at - p >= 2 and (at - 1)[0] == b"t" and (at - 2)[0] == b"o":
            return None
        at = <const char *>memchr(at + 1, 0x3D, n - (at + 1 - p))
    at = <const char *>memchr(p, 0x2C, n)
    while at is not NULL:  # the members counted
        commas += 1
        at = <const char *>memchr(at + 1, 0x2C, n - (at + 1 - p))
    if commas + 1 >= _TS_MAX_MEMBERS:
        return None
    pos = 0
    while _next_member(p, n, &pos, &start, &stop):  # every member as W3C writes it (else: the limits)
        if stop > start and _member_check(<const unsigned char *>p + start, stop - start) != _MEMBER_OK:
            return None
    sb_init(&b)
    try:
        if with_parent:  # "dd=p:<parent>", then ";" and the rest of the dd= member, if any
            sb_bytes(&b, "dd=p:", 5)
            sb_reserve(&b, 17)
            write_hex16(b.data + b.length, parent)
            b.length += 16
            sb_char(&b, b";")
        else:
            sb_bytes(&b, "dd=", 3)
        head = b.length
        _write_dd_member(&b, ctx, m, &left_out)
        member = b.length - head
        if n + member + 4 > _TS_MAX_BYTES:
            return None
        if member:
            while b.length > head and b.data[b.length - 1] == b" ":  # members are sent stripped, ours too
                b.length -= 1
        else:  # ours is empty: the last upstream dd= member takes its place
            b.length = head - 1 if with_parent else 0
            pos = 0
            while _next_member(p, n, &pos, &start, &stop):
                if _is_dd_member(p, start, stop):
                    last_dd, last_dd_end = start, stop
            if last_dd >= 0:
                if with_parent:
                    if last_dd_end - last_dd + 19 > _DD_MEMBER_MAX:  # no room for p: (_with_parent)
                        return None
                    sb_char(&b, b";")
                    last_dd += 3
                sb_bytes(&b, p + last_dd, last_dd_end - last_dd)
        pos = 0
        while _next_member(p, n, &pos, &start, &stop):
            if stop > start and not _is_dd_member(p, start, stop):
                if b.length:
                    sb_char(&b, b",")
                sb_bytes(&b, p + start, stop - start)
        if b.length > _TS_MAX_BYTES:  # p: took the room of the last members (_with_parent's case)
            return None
        _record_left_out(left_out)  # sent: what our member left out is counted (else by the caller's way)
        return sb_str(&b)
    finally:
        sb_free(&b)


cpdef str tracestate_of(Context ctx):
    """The tracestate to send for ``ctx`` (before ``p:``): our ``dd=`` member first, other vendors after."""
    cdef _MetaScan m
    _scan_meta(ctx._meta, &m)
    try:
        return _tracestate(ctx, &m)
    finally:
        _release_meta(&m)


cdef str _tracestate(Context ctx, _MetaScan *m):
    """``tracestate_of`` with its ``_scan_meta`` at hand."""
    cdef object ts = _found(m.found[M_TRACESTATE])
    cdef object ot_state = ctx.trace_state()._ot
    cdef list members, rest
    cdef str dd, ot
    if not ts:
        # only our own member, which _write_dd_member keeps within every limit (ddtrace sends it untrimmed),
        # and the OpenTelemetry member of our own sampling decision
        dd = _dd_member(ctx, m)
        if dd:
            dd = "dd=" + dd
        if ot_state:
            return dd + ",ot=" + ot_state if dd else "ot=" + ot_state
        return dd
    if ot_state is None and type(ts) is str:
        ot = _tracestate_within_limits(ctx, <str>ts, False, 0, m)
        if ot is not None:
            return ot
    dd = _dd_member(ctx, m)
    members = [item for item in [(<str>item).strip() for item in (<str>ts).split(",")]
               if item and ((<str>item).startswith("ot=") or _member_sendable(<str>item))]  # ot=: _ot_member
    rest = [item for item in members if not (<str>item).startswith("ot=")]
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


cdef str _with_parent(str tracestate, uint64_t span_id):
    """``tracestate`` with ``p:<span id>`` first in its ``dd=`` member (one is made if missing), the member
    within 256 chars and the whole within 512 chars and 32 members (others dropped as ``_member_limits``
    does)."""
    cdef str p = "p:" + _hex16(span_id)
    cdef Py_ssize_t end
    if tracestate.startswith("dd="):
        end = tracestate.find(",")
        if (end if end >= 0 else len(tracestate)) + 19 > _DD_MEMBER_MAX:
            # an upstream member sent on as ours (ours is empty) leaves no room for p: only p is sent
            record("inject_dd_member_size", "p")
            tracestate = "dd=" + p + (tracestate[end:] if end >= 0 else "")
        else:
            tracestate = "dd=" + p + ";" + tracestate[3:]
    elif tracestate:
        tracestate = "dd=" + p + "," + tracestate
    else:
        return "dd=" + p
    # p: (or the member made for it) took the room of another member: the limits again
    if len(tracestate) > _TS_MAX_BYTES or tracestate.count(",") >= _TS_MAX_MEMBERS:
        return ",".join(_member_limits(tracestate.split(",")))
    return tracestate


cdef str _local_tracestate(Context ctx, uint64_t span_id, _MetaScan *m):
    """``_with_parent(tracestate_of(ctx), span_id)`` for a context with no upstream tracestate, built in
    one buffer: ``dd=p:<span id>`` then ``;`` and our member, if it has anything, then the ``ot=``
    member of our own sampling decision."""
    cdef StrBuf b
    cdef object ot_state
    cdef int left_out = 0
    sb_init(&b)
    try:
        sb_bytes(&b, "dd=p:", 5)
        sb_reserve(&b, 17)
        write_hex16(b.data + b.length, span_id)
        b.length += 16
        sb_char(&b, b";")
        _write_dd_member(&b, ctx, m, &left_out)
        _record_left_out(left_out)
        if b.length == 22:  # empty member: no trailing ";"
            b.length = 21
        ot_state = ctx.trace_state()._ot
        if ot_state:
            sb_bytes(&b, ",ot=", 4)
            sb_ascii(&b, <str>ot_state, 0, len(<str>ot_state))
        return sb_str(&b)
    finally:
        sb_free(&b)


cdef int _inject_tracecontext(Context ctx, object headers, uint64_t hi, uint64_t lo, uint64_t span_id,
                              _MetaScan *m) except -1:
    """traceparent and tracestate; ``span_id`` is the low half of the context's, ``m`` is ``_scan_meta``
    of its meta."""
    cdef object upstream = _found(m.found[M_TRACESTATE]), last_parent = _found(m.found[M_PARENT_ID])
    cdef str tp = _traceparent(ctx, hi, lo, span_id, _found(m.found[M_TRACEPARENT]))
    cdef str ts
    cdef uint64_t parent
    if not tp:
        return 0
    _set(headers, "traceparent", tp)
    if not ctx._is_remote:
        parent = span_id
        if not upstream:
            _set(headers, "tracestate", _local_tracestate(ctx, parent, m))
            return 0
        ts = None
        if type(upstream) is str and ctx.trace_state()._ot is None:
            ts = _tracestate_within_limits(ctx, <str>upstream, True, parent, m)
        if ts is None:
            ts = _with_parent(_tracestate(ctx, m), parent)
    else:
        ts = _tracestate(ctx, m)
        if type(last_parent) is str and len(<str>last_parent) == 16 and parse_hex_range(
                <str>last_parent, 0, 16, False, &parent) == 0:
            ts = _with_parent(ts, parent)
        elif last_parent is not None:
            record("inject_parent_id", last_parent)
    _set(headers, "tracestate", ts)
    return 0
