"""Propagation: W3C trace context on injection: traceparent and tracestate written.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_tracestate.pxi``.
"""

from ddfast._pure.propagation_settings import TRACEPARENT
from ddfast._pure.propagation_settings import TRACESTATE
from ddfast._pure.propagation_settings import W3C_RANDOM_FLAG
from ddfast._pure.propagation_settings import record
from ddfast._pure.propagation_tagset import is_hex
from ddfast._pure.propagation_tracecontext import _DD_MEMBER_RESERVED
from ddfast._pure.propagation_tracecontext import DD_MEMBER_MAX_CHARS
from ddfast._pure.propagation_tracecontext import TRACESTATE_MAX_BYTES
from ddfast._pure.propagation_tracecontext import TRACESTATE_MAX_MEMBERS
from ddfast._pure.propagation_tracecontext import _member_limits
from ddfast._pure.propagation_tracecontext import _member_sendable
from ddfast._pure.propagation_tracecontext import _ot_member
from ddfast._pure.propagation_tracecontext import parse_traceparent


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
    """The value of the ``dd=`` tracestate member for ``ctx``: ``s``, then ``o``, ``t.dm``, ``t.usr.id``
    when they fit, then the other ``t.*`` tags while the member stays within 256 chars."""
    tags = []
    if ctx.sampling_priority is not None:
        tags.append("s:%s" % (ctx.sampling_priority,))
    if ctx.dd_origin:
        _fits_member(tags, "o:" + _w3c_clean(ctx.dd_origin, False))
    meta = ctx._meta
    dm = meta.get("_dd.p.dm")
    if dm:
        _fits_member(tags, "t.dm:" + _w3c_clean(str(dm), False))
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
    members = [m for m in members if m and (m.startswith("ot=") or _member_sendable(m))]  # ot=: _ot_member
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


def _with_parent(tracestate, span_id):
    """``tracestate`` with ``p:<span id>`` first in its ``dd=`` member (one is made if missing), the member
    within 256 chars and the whole within 512 chars and 32 members (others dropped as ``_member_limits``
    does)."""
    p = "p:%016x" % span_id
    if tracestate.startswith("dd="):
        end = tracestate.find(",")
        if (end if end >= 0 else len(tracestate)) + len(p) + 1 > DD_MEMBER_MAX_CHARS:
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
    if len(tracestate) > TRACESTATE_MAX_BYTES or tracestate.count(",") >= TRACESTATE_MAX_MEMBERS:
        return ",".join(_member_limits(tracestate.split(",")))
    return tracestate


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
