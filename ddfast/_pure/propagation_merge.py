"""Propagation: contexts from elsewhere, and all styles together.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_merge.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.propagation_b3 import _extract_b3
from ddfast._pure.propagation_b3 import _extract_b3multi
from ddfast._pure.propagation_b3 import _inject_b3
from ddfast._pure.propagation_b3 import _inject_b3multi
from ddfast._pure.propagation_baggage import _extract_baggage
from ddfast._pure.propagation_baggage import _inject_baggage
from ddfast._pure.propagation_carrier import normalize
from ddfast._pure.propagation_datadog import _extract_datadog
from ddfast._pure.propagation_datadog import _inject_datadog
from ddfast._pure.propagation_settings import B3
from ddfast._pure.propagation_settings import B3MULTI
from ddfast._pure.propagation_settings import BAGGAGE_STYLE
from ddfast._pure.propagation_settings import DATADOG
from ddfast._pure.propagation_settings import IGNORE
from ddfast._pure.propagation_settings import OT_BAGGAGE_PREFIX
from ddfast._pure.propagation_settings import RESTART
from ddfast._pure.propagation_settings import TRACECONTEXT
from ddfast._pure.propagation_settings import record
from ddfast._pure.propagation_tracecontext import _extract_tracecontext
from ddfast._pure.propagation_tracestate import _inject_tracecontext
from ddfast.span_link import SpanLink

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


def _header_text(text):
    """``text`` (a str; anything else is left to the carrier) holds no control character (0x00-0x1F,
    0x7F): it can be an HTTP header's name or value as it is."""
    return not isinstance(text, str) or not any(c < " " or c == "\x7f" for c in text)


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
            if _header_text(key) and _header_text(value):
                headers[OT_BAGGAGE_PREFIX + key] = value
            else:  # a CR or LF would split the header (HTTP clients refuse it): the pair is not sent
                record("inject_http_baggage", key)
    if DATADOG in styles:
        _inject_datadog(ctx, headers, s)
    if B3MULTI in styles:
        _inject_b3multi(ctx, headers, s)
    if B3 in styles:
        _inject_b3(ctx, headers, s)
    if TRACECONTEXT in styles:
        _inject_tracecontext(ctx, headers, s)
