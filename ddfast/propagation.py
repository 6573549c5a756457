"""``HTTPPropagator``: a drop-in for ``ddtrace.propagation.http.HTTPPropagator``.

Both methods are the core module's own functions (compiled when available), so a call costs no Python
frame. This module keeps the core's settings current: built once from ``ddfast.config``, rebuilt only
when the configuration changes (an invalid change is refused with ``ValueError``/``TypeError``).
"""

from typing import TYPE_CHECKING

from ddfast._impl import load
from ddfast.settings import config

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


class HTTPPropagator:
    """Injects and extracts trace contexts as HTTP headers, in the styles ``ddfast.config`` names.

    ``inject(context, headers)`` writes a Context or Span (ddfast's or ddtrace's) into a mutable
    mapping; ``extract(headers)`` returns the Context carried by a dict, mapping, WSGI environ or ASGI
    header list, an empty Context when there is none. Malformed headers never raise.
    """

    inject = staticmethod(_core.http_inject)
    extract = staticmethod(_core.http_extract)


__all__ = ["ERRORS", "HTTPPropagator", "Settings", "settings_of"]
