"""``HTTPPropagator``: a drop-in for ``ddtrace.propagation.http.HTTPPropagator``.

The header work happens in the core module (compiled when available); this facade keeps the settings
snapshot current (built once, rebuilt only when ``ddfast.config`` changes) and checks the API user's
arguments.
"""

from ddfast._impl import load
from ddfast.settings import config

_core = load("propagation")
Settings = _core.Settings
ERRORS = _core.ERRORS

_settings = None


def _rebuild(cfg):
    """Rebuild the settings snapshot from ``cfg``; raises (and the change is refused) on a bad value."""
    global _settings
    _settings = _core.Settings(
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


config.on_change(_rebuild)


class HTTPPropagator:
    """Injects and extracts trace contexts as HTTP headers, in the styles ``ddfast.config`` names."""

    @staticmethod
    def inject(context, headers):
        """Write ``context`` (a Context or Span, ddfast's or ddtrace's) into the mutable mapping ``headers``."""
        if not hasattr(headers, "__setitem__"):
            raise TypeError("inject() expects a mutable mapping for headers, not %s" % type(headers).__name__)
        _core.inject(_core.as_context(context), headers, _settings)

    @staticmethod
    def extract(headers):
        """The Context carried by ``headers`` (dict, mapping, WSGI environ, ASGI pair list); an empty
        Context when there is none. Bad header values never raise: see ``ddfast.propagation.ERRORS``."""
        return _core.extract(headers, _settings)


__all__ = ["ERRORS", "HTTPPropagator", "Settings"]
