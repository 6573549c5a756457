# Propagation: contexts from elsewhere, and all styles together.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_merge.py.

# -- contexts from elsewhere -------------------------------------------------------------------------


cpdef Context as_context(object obj):
    """``obj`` as a Context to inject (see the pure twin): a Context, a span's ``.context``, or a ddtrace
    ``Context`` read through its attributes, sharing its meta and baggage dicts."""
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
    return Context(
        trace_id=obj.trace_id,
        span_id=obj.span_id,
        dd_origin=getattr(obj, "dd_origin", None),
        sampling_priority=getattr(obj, "sampling_priority", None),
        meta=meta if isinstance(meta, dict) else None,
        baggage=baggage if isinstance(baggage, dict) else None,
        is_remote=getattr(obj, "_is_remote", True),
    )


# -- all styles together ------------------------------------------------------------------------------


cdef Context _extract_style(int style, _Headers h, Settings s):
    if style == S_DATADOG:
        return _extract_datadog(h, s)
    if style == S_TRACECONTEXT:
        return _extract_tracecontext(h, s)
    if style == S_B3MULTI:
        return _extract_b3multi(h, s)
    if style == S_B3:
        return _extract_b3(h, s)
    return None


cdef object _link_of(Context ctx, str style, str reason):
    if ctx.span_id and ctx.trace_id:
        return SpanLink(
            ctx.trace_id,
            ctx.span_id,
            tracestate=ctx._meta.get("tracestate", "") if style == TRACECONTEXT else None,
            flags=1 if ctx._priority and ctx._priority > 0 else 0,
            attributes={"reason": reason, "context_headers": style},
        )
    return None


cdef void _apply_merge(Context primary, _W3CMerge merge, object dd_span_id) except *:
    """The tracecontext context of the primary's own trace, merged into it: traceparent and tracestate
    kept; when the parents differ, the W3C one wins and the Datadog one (the tracestate's ``p``, else
    ``dd_span_id``, the datadog style's parent when extracted) is kept as ``_dd.parent_id``."""
    cdef dict primary_meta = primary._meta
    primary_meta["traceparent"] = merge.traceparent
    if merge.tracestate:
        primary_meta["tracestate"] = merge.tracestate
    if not _equals_u128(primary.span_id, 0, merge.span):
        last_parent = None
        if merge.limited is not None and PyUnicode_Tailmatch(merge.limited, "dd=", 0, 3, -1):
            last_parent = _dd_member_parent(merge.limited)
        if last_parent is not None:
            primary_meta["_dd.parent_id"] = last_parent
        elif dd_span_id is not None:
            primary_meta["_dd.parent_id"] = _hex16(low64(dd_span_id))
        primary.span_id = merge.span


cdef Context _resolve(list contexts, list styles):
    cdef Context primary = contexts[0], ctx
    cdef list links = []
    cdef Py_ssize_t i
    cdef dict meta, primary_meta
    for i in range(1, len(contexts)):
        item = contexts[i]
        style = styles[i]
        if type(item) is _W3CMerge:  # tracecontext, same trace: the merge below, from the parts it kept
            _apply_merge(primary, <_W3CMerge>item,
                         (<Context>contexts[styles.index(DATADOG)]).span_id if DATADOG in styles else None)
            continue
        ctx = <Context>item
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
                    dd_span_id = (<Context>contexts[styles.index(DATADOG)]).span_id
                    if dd_span_id is not None:
                        primary_meta["_dd.parent_id"] = _hex16(low64(dd_span_id))
                primary.span_id = ctx.span_id
    primary._links_d = links
    return primary


cpdef Context extract(object carrier, Settings s):
    """The context carried by ``carrier`` under settings ``s``; an empty ``Context()`` when there is none."""
    cdef _Headers h = _read(carrier, s.http_baggage)
    cdef Context context = None, first = None
    cdef object ctx, second = None
    cdef int second_code = 0
    cdef str style = ""
    cdef list contexts = None, styles = None
    cdef int i, code
    cdef dict baggage, meta
    if h.empty or s.n_extract == 0 or s.ignore:
        return new_context(None, None, None, None, {})
    if s.extract_first:
        for i in range(s.n_extract):
            code = s.extract_order[i]
            context = _extract_style(code, h, s)
            if context is not None:
                style = STYLES[code]
                break
    else:
        for i in range(s.n_extract):
            code = s.extract_order[i]
            if code == S_TRACECONTEXT and first is not None:
                ctx = _tracecontext_secondary(h, s, first)
            else:
                ctx = _extract_style(code, h, s)
            if ctx is None:
                continue
            if first is None:
                first = <Context>ctx
                style = STYLES[code]
            elif (code == S_B3MULTI or code == S_B3) and not (
                    (<Context>ctx).trace_id and (<Context>ctx).trace_id != first.trace_id):
                continue  # a b3 context of the first one's trace lends it nothing (see _resolve)
            elif second is None:
                second = ctx
                second_code = code
            else:
                if contexts is None:
                    contexts = [first, second]
                    styles = [style, STYLES[second_code]]
                contexts.append(ctx)
                styles.append(STYLES[code])
        if contexts is not None:
            context = _resolve(contexts, styles)
        elif type(second) is _W3CMerge:  # the usual pair: datadog (or b3) and tracecontext of one trace
            _apply_merge(first, <_W3CMerge>second, first.span_id if style == DATADOG else None)
            first._links_d = []
            context = first
        elif second is not None:
            context = _resolve([first, second], [style, STYLES[second_code]])
        else:
            context = first
    if context is None:
        context = new_context(None, None, None, None, {})
    elif h.ot is not None:
        for name, value in h.ot.items():
            context.baggage_dict()[(<str>name)[len(OT_BAGGAGE_PREFIX):]] = value
    if s.extract_style[S_BAGGAGE] and h.slots[H_BAGGAGE] != NULL:
        baggage = _extract_baggage(h, s)
        if baggage:
            context._baggage_d = baggage
            meta = context._meta
            if s.tag_all_baggage:
                for key, value in baggage.items():
                    tag = "baggage." + key
                    if tag not in meta:
                        meta[tag] = value
            else:
                for key, tag in s.baggage_tags:
                    value = baggage.get(key)
                    if value is not None and tag not in meta:
                        meta[tag] = value
    if s.restart:
        link = _link_of(context, style, "propagation_behavior_extract")
        context = Context(baggage=dict(context._baggage_d or {}), span_links=[link] if link is not None else [])
    return context


cdef bint _header_text(object text) except -1:
    """``text`` (a str; anything else is left to the carrier) holds no control character (0x00-0x1F,
    0x7F): it can be an HTTP header's name or value as it is."""
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    if not isinstance(text, str):
        return True
    for i in range(PyUnicode_GET_LENGTH(<str>text)):
        c = PyUnicode_READ_CHAR(<str>text, i)
        if c < 0x20 or c == 0x7F:
            return False
    return True


cpdef inject(Context ctx, object headers, Settings s):
    """Write ``ctx`` into ``headers`` in every inject style of ``s``."""
    cdef uint64_t hi, lo, span_id
    cdef _MetaScan m
    if not s.inject_styles:
        return
    if s.inject_style[S_BAGGAGE]:
        _inject_baggage(ctx, headers, s)
    if ctx.trace_id is None or ctx.span_id is None:
        return
    if s.http_baggage and ctx._baggage_d:
        for key, value in list(ctx._baggage_d.items()):
            if _header_text(key) and _header_text(value):
                _set(headers, OT_BAGGAGE_PREFIX + key, value)
            else:  # a CR or LF would split the header (HTTP clients refuse it): the pair is not sent
                record("inject_http_baggage", key)
    int_to_u128(ctx.trace_id, &hi, &lo)
    span_id = low64(ctx.span_id)
    _scan_meta(ctx._meta, &m)
    try:
        if s.inject_style[S_DATADOG]:
            _inject_datadog(ctx, headers, s, hi, lo, span_id, &m)
        if s.inject_style[S_B3MULTI]:
            _inject_b3multi(ctx, headers, hi, lo)
        if s.inject_style[S_B3]:
            _inject_b3(ctx, headers, hi, lo)
        if s.inject_style[S_TRACECONTEXT]:
            _inject_tracecontext(ctx, headers, hi, lo, span_id, &m)
    finally:
        _release_meta(&m)
