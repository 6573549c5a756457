# Propagation: the b3 and b3multi styles.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_b3.py.

# -- b3 ---------------------------------------------------------------------------------------------


cdef tuple _b3_ids(str trace_text, str span_text):
    """(trace_id, span_id) from B3 hex ids (0 -> None), or None when either does not parse."""
    cdef object trace_id = None, span_id = None
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
    return (trace_id or None, span_id or None)


cdef Context _extract_b3multi(_Headers h, Settings s):
    cdef str trace_text = h.get(H_B3_TRACE_ID)
    cdef tuple ids
    cdef object priority
    if trace_text is None:
        return None
    ids = _b3_ids(trace_text, h.get(H_B3_SPAN_ID))
    if ids is None:
        return None
    sampled = h.get(H_B3_SAMPLED)
    priority = 0 if sampled == "0" else 1 if sampled == "1" else None
    if h.get(H_B3_FLAGS) == "1":
        priority = 2
    return new_context(ids[0], ids[1], None, priority, {})


cdef Context _extract_b3(_Headers h, Settings s):
    cdef str value = h.get(H_B3_SINGLE)
    cdef list parts
    cdef str trace_text = None, span_text = None, sampled = None
    cdef tuple ids
    if not value:
        return None
    parts = value.split("-")
    if len(parts) == 1:
        sampled = parts[0]
    elif len(parts) == 2:
        trace_text = parts[0]
        span_text = parts[1]
    else:
        trace_text, span_text, sampled = parts[0], parts[1], parts[2]
    ids = _b3_ids(trace_text, span_text)
    if ids is None:
        return None
    priority = 0 if sampled == "0" else 1 if sampled == "1" else 2 if sampled == "d" else None
    return new_context(ids[0], ids[1], None, priority, {})


cdef int _inject_b3multi(Context ctx, object headers, uint64_t hi, uint64_t lo) except -1:
    _set(headers, "x-b3-traceid", _hex_u128(hi, lo))
    _set(headers, "x-b3-spanid", _hex_id(ctx.span_id))
    priority = ctx.trace_state()._priority
    if priority is not None:
        if priority <= 0:
            _set(headers, "x-b3-sampled", "0")
        elif priority == 1:
            _set(headers, "x-b3-sampled", "1")
        elif priority > 1:
            _set(headers, "x-b3-flags", "1")
    return 0


cdef int _inject_b3(Context ctx, object headers, uint64_t hi, uint64_t lo) except -1:
    """``b3: <trace id>-<span id>[-<0|1|d>]``, written in one buffer."""
    cdef char buf[70]
    cdef Py_ssize_t n
    cdef uint64_t span_hi, span_lo
    int_to_u128(ctx.span_id, &span_hi, &span_lo)
    n = _write_hex_id(buf, hi, lo)
    buf[n] = b"-"
    n += 1 + _write_hex_id(buf + n + 1, span_hi, span_lo)
    cdef char flag = 0
    priority = ctx.trace_state()._priority
    if priority is not None:
        if priority <= 0:
            flag = b"0"
        elif priority == 1:
            flag = b"1"
        elif priority > 1:
            flag = b"d"
    if flag:
        buf[n] = b"-"
        buf[n + 1] = flag
        n += 2
    _set(headers, "b3", ascii_str(buf, n))
    return 0
