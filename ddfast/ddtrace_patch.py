"""``patch_ddtrace()``: an existing ddtrace installation runs ``HTTPPropagator.inject`` and
``HTTPPropagator.extract`` on ddfast's compiled core, in place, for services that keep ddtrace's
integrations (they all call those two functions).

Results are ddtrace's own types with the same contents (``extract`` returns a ddtrace ``Context`` with
its span links as ddtrace ``SpanLink``s); ``inject`` still lets ddtrace's tracer decide an undecided
trace first and still announces the injection to ddtrace's products (``http.span_inject``). The
propagation settings are taken from ddtrace's configuration when patching: call ``patch_ddtrace()``
again after changing them in code. ``unpatch_ddtrace()`` restores ddtrace's functions.
"""

import logging

from ddfast.propagation import _core

log = logging.getLogger("ddfast.ddtrace_patch")

#: ddtrace's own HTTPPropagator.inject and .extract while patched
_originals = None


def _settings_of(dd_config, core):
    """ddfast core settings equal to ddtrace's propagation configuration."""
    return core.Settings(
        extract_styles=tuple(dd_config._propagation_style_extract),
        inject_styles=tuple(dd_config._propagation_style_inject),
        extract_first=bool(dd_config._propagation_extract_first),
        behavior_extract=dd_config._propagation_behavior_extract,
        tags_max_length=dd_config._x_datadog_tags_max_length if dd_config._x_datadog_tags_enabled else 0,
        trace_id_128=bool(dd_config._128_bit_trace_id_enabled),
        baggage_tag_keys=tuple(dd_config._baggage_tag_keys),
        http_baggage=bool(dd_config._propagation_http_baggage_enabled),
    )


def patch_ddtrace(_core_module=None):
    """Route ddtrace's HTTPPropagator through ddfast; True when it was patched now (False: refreshed).
    ``_core_module`` is for tests: the propagation twin to use (default: the one in use)."""
    from ddtrace._trace._span_link import SpanLink as DDSpanLink
    from ddtrace._trace.context import Context as DDContext
    from ddtrace.internal import core as dd_core
    from ddtrace.internal.settings._config import config as dd_config
    from ddtrace.propagation.http import HTTPPropagator

    core = _core if _core_module is None else _core_module
    settings = _settings_of(dd_config, core)
    extract, inject, as_context = core.extract, core.inject, core.as_context
    dispatch = dd_core.dispatch
    sampled_context = HTTPPropagator._get_sampled_injection_context

    def ddfast_inject(context, headers):
        """ddtrace's HTTPPropagator.inject, on ddfast's core."""
        undecided = getattr(context, "context", context).sampling_priority is None
        span_context = sampled_context(context, None)
        if undecided:
            # a decision made now is written into the meta's tracestate (its ot= member) once read
            getattr(span_context, "_tracestate", None)
        dispatch("http.span_inject", (span_context, headers))
        inject(as_context(span_context), headers, settings)

    def ddfast_extract(headers):
        """ddtrace's HTTPPropagator.extract, on ddfast's core."""
        ctx = extract(headers, settings)
        links = ctx._span_links
        return DDContext(
            trace_id=ctx.trace_id,
            span_id=ctx.span_id,
            dd_origin=ctx.dd_origin,
            sampling_priority=ctx.sampling_priority,
            meta=dict(ctx._meta),
            metrics=dict(ctx._metrics),
            span_links=[
                DDSpanLink(lk.trace_id, lk.span_id, lk.tracestate, lk.flags, dict(lk.attributes or {})) for lk in links
            ]
            if links
            else None,  # fmt: skip
            baggage=ctx.get_all_baggage_items() or None,
            is_remote=ctx.is_remote,
        )

    global _originals
    patched_now = _originals is None
    if patched_now:
        _originals = (HTTPPropagator.__dict__["inject"], HTTPPropagator.__dict__["extract"])
    HTTPPropagator.inject = staticmethod(ddfast_inject)
    HTTPPropagator.extract = staticmethod(ddfast_extract)
    return patched_now


def unpatch_ddtrace():
    """Give ddtrace its own HTTPPropagator.inject and .extract back."""
    global _originals
    if _originals is None:
        return
    from ddtrace.propagation.http import HTTPPropagator

    HTTPPropagator.inject, HTTPPropagator.extract = _originals
    _originals = None
