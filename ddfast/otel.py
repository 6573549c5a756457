"""``DatadogPropagator``: an OpenTelemetry ``TextMapPropagator`` that speaks the Datadog propagation
styles with ddfast's core, so that an OpenTelemetry-instrumented service continues and sends traces
in the headers Datadog tracers of every language read.

Use it in code (``opentelemetry.propagate.set_global_textmap(DatadogPropagator())``) or by name
(``OTEL_PROPAGATORS=ddfast``, registered as an ``opentelemetry_propagator`` entry point). It extracts and
injects the styles ``ddfast.config`` names (``DD_TRACE_PROPAGATION_STYLE*``; by default datadog,
tracecontext and baggage).

- extract: the carrier's context becomes a remote, non-recording parent span: the trace id (128-bit),
  the parent id, the sampled flag (priority > 0) and a W3C trace state holding the ``dd=`` member
  (priority, origin, ``_dd.p.*`` tags) and the other vendors' members; baggage becomes OpenTelemetry
  baggage. Headers that do not decode leave the context as it was.
- inject: the current span's context, with the priority, origin and tags its trace state carries
  (a span started locally under a Datadog parent keeps them), and the current baggage.
"""

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.propagators.textmap import default_setter
from opentelemetry.trace import NonRecordingSpan
from opentelemetry.trace import SpanContext
from opentelemetry.trace import TraceFlags
from opentelemetry.trace import TraceState

from ddfast import propagation
from ddfast.settings import config

_core = propagation._core
_extract = propagation.HTTPPropagator.extract
_inject = propagation.HTTPPropagator.inject
#: reads a span's own traceparent/tracestate back into a Datadog context (priority, origin, tags)
_FROM_W3C = _core.Settings(extract_styles=("tracecontext",), inject_styles=())
_STYLE_FIELDS = {
    "datadog": (
        "x-datadog-trace-id",
        "x-datadog-parent-id",
        "x-datadog-sampling-priority",
        "x-datadog-origin",
        "x-datadog-tags",
    ),  # fmt: skip
    "tracecontext": ("traceparent", "tracestate"),
    "b3multi": ("x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"),
    "b3": ("b3",),
    "baggage": ("baggage",),
    "none": (),
}


class DatadogPropagator(TextMapPropagator):
    """Extracts and injects the Datadog propagation styles ``ddfast.config`` names."""

    def extract(self, carrier, context=None, getter=default_getter):
        pairs = []
        for key in getter.keys(carrier):
            values = getter.get(carrier, key)
            if values:
                pairs.append((key, values[0] if len(values) == 1 else ",".join(values)))
        dd = _extract(pairs)
        for key, value in dd.get_all_baggage_items().items():
            context = otel_baggage.set_baggage(key, value, context)
        if dd.trace_id is None or dd.span_id is None:
            return context if context is not None else _empty()
        priority = dd.sampling_priority
        flags = TraceFlags(TraceFlags.SAMPLED if priority is not None and priority > 0 else TraceFlags.DEFAULT)
        try:
            state = TraceState.from_header([_core.tracestate_of(dd)])
        except Exception:  # a trace state OpenTelemetry refuses is dropped, the trace is kept
            state = TraceState()
        parent = SpanContext(trace_id=dd.trace_id, span_id=dd.span_id, is_remote=True, trace_flags=flags,
                             trace_state=state)  # fmt: skip
        return trace.set_span_in_context(NonRecordingSpan(parent), context)

    def inject(self, carrier, context=None, setter=default_setter):
        span_context = trace.get_current_span(context).get_span_context()
        items = otel_baggage.get_all(context)
        if span_context.is_valid:
            w3c = {
                "traceparent": "00-%032x-%016x-%02x"
                % (span_context.trace_id, span_context.span_id, span_context.trace_flags),  # fmt: skip
                "tracestate": span_context.trace_state.to_header(),
            }
            dd = _core.extract(w3c, _FROM_W3C)
        else:
            if not items:
                return
            dd = _core.Context()
        for key, value in items.items():
            dd.set_baggage_item(key, str(value))
        headers = {}
        _inject(dd, headers)
        for name, value in headers.items():
            setter.set(carrier, name, value)

    @property
    def fields(self):
        return {name for style in config.propagation_style_inject for name in _STYLE_FIELDS.get(style, ())}


def _empty():
    from opentelemetry.context import Context

    return Context()
