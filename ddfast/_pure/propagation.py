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

from ddfast._pure.context import Context
from ddfast._pure.context import set_w3c_writers
from ddfast._pure.propagation_carrier import normalize  # noqa: F401
from ddfast._pure.propagation_datadog import _Pairs
from ddfast._pure.propagation_json import json_headers  # noqa: F401
from ddfast._pure.propagation_merge import as_context
from ddfast._pure.propagation_merge import extract
from ddfast._pure.propagation_merge import inject
from ddfast._pure.propagation_settings import B3  # noqa: F401
from ddfast._pure.propagation_settings import B3_FLAGS  # noqa: F401
from ddfast._pure.propagation_settings import B3_SAMPLED  # noqa: F401
from ddfast._pure.propagation_settings import B3_SINGLE  # noqa: F401
from ddfast._pure.propagation_settings import B3_SPAN_ID  # noqa: F401
from ddfast._pure.propagation_settings import B3_TRACE_ID  # noqa: F401
from ddfast._pure.propagation_settings import B3MULTI  # noqa: F401
from ddfast._pure.propagation_settings import BAGGAGE  # noqa: F401
from ddfast._pure.propagation_settings import BAGGAGE_STYLE  # noqa: F401
from ddfast._pure.propagation_settings import BEHAVIORS  # noqa: F401
from ddfast._pure.propagation_settings import CONTINUE  # noqa: F401
from ddfast._pure.propagation_settings import DATADOG  # noqa: F401
from ddfast._pure.propagation_settings import ENVIRON_KEYS  # noqa: F401
from ddfast._pure.propagation_settings import ERRORS  # noqa: F401
from ddfast._pure.propagation_settings import HEADERS  # noqa: F401
from ddfast._pure.propagation_settings import IGNORE  # noqa: F401
from ddfast._pure.propagation_settings import KNOWN_KEYS  # noqa: F401
from ddfast._pure.propagation_settings import LIST_HEADERS  # noqa: F401
from ddfast._pure.propagation_settings import NONE  # noqa: F401
from ddfast._pure.propagation_settings import ORIGIN  # noqa: F401
from ddfast._pure.propagation_settings import ORIGIN_MAX_CHARS  # noqa: F401
from ddfast._pure.propagation_settings import OT_BAGGAGE_PREFIX  # noqa: F401
from ddfast._pure.propagation_settings import PARENT_ID  # noqa: F401
from ddfast._pure.propagation_settings import RESTART  # noqa: F401
from ddfast._pure.propagation_settings import SAMPLING_PRIORITY  # noqa: F401
from ddfast._pure.propagation_settings import STYLES  # noqa: F401
from ddfast._pure.propagation_settings import TAGS  # noqa: F401
from ddfast._pure.propagation_settings import TRACE_ID  # noqa: F401
from ddfast._pure.propagation_settings import TRACECONTEXT  # noqa: F401
from ddfast._pure.propagation_settings import TRACEPARENT  # noqa: F401
from ddfast._pure.propagation_settings import TRACESTATE  # noqa: F401
from ddfast._pure.propagation_settings import W3C_KNOWN_FLAGS  # noqa: F401
from ddfast._pure.propagation_settings import W3C_RANDOM_FLAG  # noqa: F401
from ddfast._pure.propagation_settings import W3C_SAMPLED_FLAG  # noqa: F401
from ddfast._pure.propagation_settings import WSGI_VERSION  # noqa: F401
from ddfast._pure.propagation_settings import Settings
from ddfast._pure.propagation_settings import record  # noqa: F401
from ddfast._pure.propagation_tagset import VALID_DECISION_MAKERS  # noqa: F401
from ddfast._pure.propagation_tagset import decode_tagset  # noqa: F401
from ddfast._pure.propagation_tagset import encode_tagset  # noqa: F401
from ddfast._pure.propagation_tagset import is_hex  # noqa: F401
from ddfast._pure.propagation_tagset import is_lower_hex  # noqa: F401
from ddfast._pure.propagation_tagset import parse_hex_id  # noqa: F401
from ddfast._pure.propagation_tagset import parse_priority  # noqa: F401
from ddfast._pure.propagation_tagset import parse_u64  # noqa: F401
from ddfast._pure.propagation_tracecontext import DD_MEMBER_MAX_CHARS  # noqa: F401
from ddfast._pure.propagation_tracecontext import OT_VALUE_MAX_CHARS  # noqa: F401
from ddfast._pure.propagation_tracecontext import TRACESTATE_MAX_BYTES  # noqa: F401
from ddfast._pure.propagation_tracecontext import TRACESTATE_MAX_MEMBERS  # noqa: F401
from ddfast._pure.propagation_tracecontext import TRACESTATE_MEMBER_MAX_CHARS  # noqa: F401
from ddfast._pure.propagation_tracecontext import W3C_FIELD_MAX_CHARS  # noqa: F401
from ddfast._pure.propagation_tracecontext import parse_traceparent  # noqa: F401
from ddfast._pure.propagation_tracestate import dd_member_of  # noqa: F401
from ddfast._pure.propagation_tracestate import traceparent_of
from ddfast._pure.propagation_tracestate import tracestate_of

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
    """Call ``hook(obj, context)`` before injecting a context whose priority is undecided and that no
    tracer's state decides (an extracted or a foreign context: the process-wide part, which looks for
    the tracer that owns it); None removes it. A local trace's own tracer decides it first."""
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
    state = ctx.trace_state()
    if state._priority is None:
        decide_first(context, ctx, state._sink)
    inject(ctx, headers, _active)


def http_inject_pairs(context, as_bytes, decide=True):
    """What ``http_inject`` writes, as a new list of ``(name, value)`` pairs in the order a dict would
    hold them, values UTF-8 bytes when ``as_bytes``: a message's headers. ``decide``: an undecided trace
    is decided first, as ``http_inject`` does (False: the caller has asked the trace's tracer already)."""
    pairs = _Pairs(bool(as_bytes))
    ctx = context if type(context) is Context else as_context(context)
    if decide:
        state = ctx.trace_state()
        if state._priority is None:
            decide_first(context, ctx, state._sink)
    inject(ctx, pairs, _active)
    return pairs.pairs


def decide_first(obj, ctx, sink):
    """An undecided trace about to be injected: its own tracer decides it (the ``before_inject`` of the
    trace's sink, a tracer's state), else the process-wide hook (an extracted or a foreign context)."""
    decide = getattr(sink, "before_inject", None) if sink is not None else None
    if (decide is None or not decide(obj, ctx)) and _before_inject is not None:
        _before_inject(obj, ctx)


def http_extract(headers):
    """``HTTPPropagator.extract``: the Context carried by ``headers`` (dict, mapping, WSGI environ, ASGI
    pair list), an empty Context when there is none; bad header values never raise (see ``ERRORS``)."""
    return extract(headers, _active)


# the W3C views of a context (Context._traceparent/_tracestate, ddtrace's private properties) are ours
set_w3c_writers(traceparent_of, tracestate_of)

# the public class is this module's, as its compiled twin is ddfast._ext.propagation's (repr, pickling)
Settings.__module__ = __name__
