"""The OpenTracing tracer (``ddfast.opentracing``) and the OpenTelemetry propagator (``ddfast.otel``)
with the real ``opentracing`` and ``opentelemetry`` packages: a trace crosses them in Datadog headers."""

import integration_helpers as h
import pytest

opentracing = pytest.importorskip("opentracing")
pytest.importorskip("opentelemetry.sdk")

from opentracing import Format  # noqa: E402

from ddfast.opentracing import SpanContext  # noqa: E402
from ddfast.opentracing import Tracer as OTTracer  # noqa: E402


class TextMapAdapter:
    """Like Java's TextMapAdapter: put() to write, iteration over entries to read."""

    def __init__(self, data=None):
        self.data = dict(data or {})

    def put(self, key, value):
        self.data[key] = value

    def __iter__(self):
        return iter(self.data.items())


@pytest.fixture
def ot(traced):
    return OTTracer(service_name="ot-service", dd_tracer=traced)


@pytest.mark.parametrize("style", list(h.INCOMING))
@pytest.mark.parametrize("fmt", [Format.HTTP_HEADERS, Format.TEXT_MAP])
def test_extract_then_inject_a_child(ot, traced, style, fmt):
    parent = ot.extract(fmt, dict(h.INCOMING[style]))
    assert isinstance(parent, SpanContext) and parent.trace_id == h.TRACE_ID and parent.span_id == h.PARENT_ID
    with ot.start_active_span("handle", child_of=parent, tags={"resource.name": "GET /x", "http.status_code": 200}):
        with ot.start_active_span("call") as scope:
            carrier = TextMapAdapter()
            ot.inject(scope.span.context, fmt, carrier)
    spans = h.spans_by_name(traced)
    handle, call = spans["handle"], spans["call"]
    assert handle.trace_id == h.TRACE_ID and handle.parent_id == h.PARENT_ID
    assert handle.service == "ot-service" and handle.resource == "GET /x"
    assert handle.get_metric("http.status_code") == 200
    assert call.parent_id == handle.span_id
    h.assert_sent_downstream({k.lower(): v for k, v in carrier.data.items()}, call)


def test_ddfast_integration_spans_nest_under_the_active_opentracing_span(ot, traced):
    with ot.start_active_span("outer"):
        inner = traced.trace("inner")
        inner.finish()
    spans = h.spans_by_name(traced)
    assert spans["inner"].parent_id == spans["outer"].span_id


def test_errors_and_baggage(ot, traced):
    with ot.start_active_span("job") as scope:
        scope.span.set_baggage_item("user.id", "42")
        try:
            raise KeyError("k")
        except KeyError as e:
            scope.span.log_kv({"event": "error", "error.object": e})
        carrier = {}
        ot.inject(scope.span, Format.HTTP_HEADERS, carrier)
    assert "user.id=42" in carrier["baggage"]
    job = h.spans_by_name(traced)["job"]
    assert job.error == 1 and job.get_tag("error.type") == "builtins.KeyError"
    assert ot.extract(Format.HTTP_HEADERS, carrier).baggage == {"user.id": "42"}


def test_opentracing_exceptions(ot):
    with pytest.raises(opentracing.UnsupportedFormatException):
        ot.extract(Format.BINARY, b"")
    with pytest.raises(opentracing.UnsupportedFormatException):
        ot.inject(ot.start_span("x").context, Format.BINARY, bytearray())
    with pytest.raises(opentracing.SpanContextCorruptedException):
        ot.extract(Format.HTTP_HEADERS, {"x-datadog-trace-id": "not-a-number", "x-datadog-parent-id": "1"})
    with pytest.raises(opentracing.SpanContextCorruptedException):
        ot.extract(Format.TEXT_MAP, {"traceparent": "00-zz-zz-01"})
    with pytest.raises(opentracing.InvalidCarrierException):
        ot.extract(Format.HTTP_HEADERS, 42)
    with pytest.raises(opentracing.InvalidCarrierException):
        ot.inject(ot.start_span("x").context, Format.TEXT_MAP, object())
    with pytest.raises(TypeError, match="SpanContext"):
        ot.inject("not a context", Format.TEXT_MAP, {})
    assert ot.extract(Format.HTTP_HEADERS, {"accept": "*/*"}) is None  # nothing there: no context


# -- OpenTelemetry ----------------------------------------------------------------------------------


@pytest.fixture
def otel_tracer():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


@pytest.mark.parametrize("style", ["datadog", "tracecontext"])
def test_otel_continues_a_datadog_trace_and_sends_it_on(otel_tracer, style):
    from opentelemetry import context as otel_context

    from ddfast.otel import DatadogPropagator

    tracer, exporter = otel_tracer
    propagator = DatadogPropagator()
    incoming = dict(h.INCOMING[style], baggage="user.id=7")
    token = otel_context.attach(propagator.extract(incoming))
    try:
        with tracer.start_as_current_span("handle") as span:
            outgoing = {}
            propagator.inject(outgoing)
    finally:
        otel_context.detach(token)
    sc = span.get_span_context()
    assert sc.trace_id == h.TRACE_ID and span.parent.span_id == h.PARENT_ID and sc.trace_flags.sampled
    assert outgoing["x-datadog-trace-id"] == str(h.LOW)
    assert outgoing["x-datadog-parent-id"] == str(sc.span_id)
    assert outgoing["x-datadog-sampling-priority"] == "2"  # the caller's user keep survives the hop
    assert "_dd.p.tid=640cfd8d00000000" in outgoing["x-datadog-tags"]
    assert outgoing["x-datadog-origin"] == "synthetics"
    assert outgoing["traceparent"] == "00-%032x-%016x-01" % (h.TRACE_ID, sc.span_id)
    assert outgoing["baggage"] == "user.id=7"
    assert exporter.get_finished_spans()[0].name == "handle"


def test_otel_propagator_leaves_bad_headers_alone_and_is_found_by_name(monkeypatch):
    from opentelemetry import trace
    from opentelemetry.propagate import get_global_textmap  # noqa: F401  (the SDK's registry is loaded)

    from ddfast.otel import DatadogPropagator

    ctx = DatadogPropagator().extract({"x-datadog-trace-id": "-1", "traceparent": "garbage"})
    assert not trace.get_current_span(ctx).get_span_context().is_valid
    carrier = {}
    DatadogPropagator().inject(carrier)  # no current span, no baggage: nothing written
    assert carrier == {}
    assert "x-datadog-trace-id" in DatadogPropagator().fields
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_propagator")}
    assert names.get("ddfast") == "ddfast.otel:DatadogPropagator"


def test_otel_propagators_setting_selects_ddfast(kind, prop, tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "from opentelemetry.propagate import get_global_textmap, inject\n"
        "import ddfast\n"
        "names = [type(p).__name__ for p in get_global_textmap()._propagators]\n"
        "print(names, ddfast.implementation())\n"
    )
    env = dict(os.environ, OTEL_PROPAGATORS="ddfast")
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['DatadogPropagator']", kind]
    assert "ddfast:" not in out.stderr  # its own name is no unsupported style
