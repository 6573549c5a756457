"""Propagation: the datadog style.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_datadog.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.propagation_settings import ORIGIN
from ddfast._pure.propagation_settings import PARENT_ID
from ddfast._pure.propagation_settings import SAMPLING_PRIORITY
from ddfast._pure.propagation_settings import TAGS
from ddfast._pure.propagation_settings import TRACE_ID
from ddfast._pure.propagation_settings import _accepted_origin
from ddfast._pure.propagation_settings import record
from ddfast._pure.propagation_tagset import _REJECTED_TAGS
from ddfast._pure.propagation_tagset import _U64
from ddfast._pure.propagation_tagset import VALID_DECISION_MAKERS
from ddfast._pure.propagation_tagset import decode_tagset
from ddfast._pure.propagation_tagset import encode_tagset
from ddfast._pure.propagation_tagset import is_lower_hex
from ddfast._pure.propagation_tagset import parse_priority
from ddfast._pure.propagation_tagset import parse_u64

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


class _Pairs:
    """Where ``http_inject_pairs`` writes: each header appended as a ``(name, value)`` pair, in the order
    a dict would hold them (injection writes each name once), the value UTF-8 bytes when ``as_bytes``."""

    __slots__ = ("pairs", "as_bytes")

    def __init__(self, as_bytes):
        self.pairs = []
        self.as_bytes = as_bytes

    def __setitem__(self, name, value):
        self.pairs.append((name, value.encode("utf-8") if self.as_bytes and type(value) is str else value))


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
