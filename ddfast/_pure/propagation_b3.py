"""Propagation: the b3 and b3multi styles.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_b3.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.propagation_settings import B3_FLAGS
from ddfast._pure.propagation_settings import B3_SAMPLED
from ddfast._pure.propagation_settings import B3_SINGLE
from ddfast._pure.propagation_settings import B3_SPAN_ID
from ddfast._pure.propagation_settings import B3_TRACE_ID
from ddfast._pure.propagation_settings import record
from ddfast._pure.propagation_tagset import _U64
from ddfast._pure.propagation_tagset import parse_hex_id

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
