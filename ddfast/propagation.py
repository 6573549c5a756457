"""``HTTPPropagator``: a drop-in for ``ddtrace.propagation.http.HTTPPropagator``.

Both methods are the core module's own functions (compiled when available), so a call costs no Python
frame. This module keeps the core's settings current: built once from ``ddfast.config``, rebuilt only
when the configuration changes (an invalid change is refused with ``ValueError``/``TypeError``).
"""

import sys

from ddfast._impl import load
from ddfast.settings import config

TYPE_CHECKING = False  # typing's, without importing typing (type checkers take it as True)
if TYPE_CHECKING:  # type checkers read the typed pure twin; at run time the selector picks (ddfast._impl)
    from ddfast._pure import propagation as _core
else:
    _core = load("propagation")
Settings = _core.Settings
#: reason -> count of propagation problems met in this process (malformed headers, limits, ...)
ERRORS = _core.ERRORS


def settings_of(cfg, core=_core):
    """The core's propagation ``Settings`` for a ``ddfast.settings.Config`` (``core``: the propagation
    core module, by default the one in use)."""
    return core.Settings(
        extract_styles=tuple(cfg.propagation_style_extract),
        inject_styles=tuple(cfg.propagation_style_inject),
        extract_first=cfg.propagation_extract_first,
        behavior_extract=cfg.propagation_behavior_extract,
        tags_max_length=cfg.x_datadog_tags_max_length,
        trace_id_128=cfg.trace_128_bit_traceid_generation_enabled,
        baggage_max_items=cfg.baggage_max_items,
        baggage_max_bytes=cfg.baggage_max_bytes,
        baggage_tag_keys=tuple(cfg.baggage_tag_keys),
        http_baggage=cfg.propagation_http_baggage_enabled,
    )


def _configure(cfg):
    _core.configure(settings_of(cfg))


config.on_change(_configure)


def decide_foreign(obj, context):
    """Before an undecided ddtrace Span or Context is injected, let ddtrace's tracer decide its trace, as
    ddtrace's own inject does (it samples the span's local root, or for a Context the active local root
    of the same trace), and send that decision. True when ``obj`` was ddtrace's (``context``: the
    Context being injected, built from ``obj``; ddtrace's sampler records its tags in the meta dict the
    two share)."""
    if not type(obj).__module__.startswith("ddtrace."):
        return False
    dd_tracer = getattr(sys.modules.get("ddtrace.trace"), "tracer", None)
    if dd_tracer is None:  # ddtrace's objects without its tracer: nothing can decide
        return True
    root = getattr(obj, "_local_root", None)
    if root is None:  # a Context: the trace's local root, when it is the active one
        current = dd_tracer.current_root_span()
        if current is not None and current.trace_id == obj.trace_id:
            root = current
    if root is not None:
        dd_tracer.sample(root)
        own = getattr(obj, "context", obj)
        # ddtrace's Context writes the OpenTelemetry member of the decision (ot=rv:...;th:...) into its
        # meta's tracestate only once that is read
        getattr(own, "_tracestate", None)
        decided = own.sampling_priority
        if decided is not None:
            context.sampling_priority = decided
    return True


class HTTPPropagator:
    """Injects and extracts trace contexts as HTTP headers, in the styles ``ddfast.config`` names.

    ``inject(context, headers)`` writes a Context or Span (ddfast's or ddtrace's) into a mutable
    mapping, deciding an undecided trace first (a ddtrace one by ddtrace's tracer, as its inject does);
    ``extract(headers)`` returns the Context carried by a dict, mapping, WSGI environ or ASGI header
    list, an empty Context when there is none. Malformed headers never raise.
    """

    inject = staticmethod(_core.http_inject)
    extract = staticmethod(_core.http_extract)


__all__ = ["ERRORS", "HTTPPropagator", "Settings", "decide_foreign", "settings_of"]
