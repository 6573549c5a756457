"""How each variant traces the service under test, as its users would set it up.

``SERVICE_TRACER`` picks the variant: ``none`` (untraced), ``ddfast`` (``ddfast.patch`` of the
framework and the HTTP client), ``ddtrace`` (``ddtrace.patch`` of the same libraries, ddtrace's own
integrations), ``otel`` (the OpenTelemetry SDK, a batch span processor exporting OTLP/HTTP protobuf,
and the instrumentation packages of the same libraries). ``SERVICE_SINK`` is the agent sink's URL.
"""

import os

VARIANTS = ("none", "ddfast", "ddtrace", "otel")
VARIANT = os.environ.get("SERVICE_TRACER", "none")
if VARIANT not in VARIANTS:
    raise ValueError("SERVICE_TRACER must be one of %s, got %r" % (", ".join(VARIANTS), VARIANT))


def patch(framework, client):
    """Before the framework and client are imported: patch them for the ddfast or ddtrace variant,
    instrument the client for the OpenTelemetry one."""
    if VARIANT == "ddfast":
        import ddfast

        if ddfast.implementation() != "cython" and not os.environ.get("SERVICE_ALLOW_PURE"):
            raise RuntimeError("the service benchmark measures ddfast's compiled core; this one is pure Python")
        # SERVICE_PATCH=flask (say) patches less, to see what each integration costs
        ddfast.patch(
            **{name: True for name in os.environ.get("SERVICE_PATCH", "%s,%s" % (framework, client)).split(",") if name}
        )
    elif VARIANT == "ddtrace":
        import ddtrace

        ddtrace.patch(**{framework: True, client: True})
    elif VARIANT == "otel":
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("DD_SERVICE", "svc")}))
        exporter = OTLPSpanExporter(endpoint=os.environ["SERVICE_SINK"] + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        if client == "requests":
            from opentelemetry.instrumentation.requests import RequestsInstrumentor

            RequestsInstrumentor().instrument()
        else:
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor().instrument()


def instrument_app(app, framework):
    """After the application is made: the OpenTelemetry variant instruments it (its packages work per
    application); the others have patched the framework already."""
    if VARIANT != "otel":
        return app
    if framework == "flask":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(app)
    else:
        from opentelemetry.instrumentation.starlette import StarletteInstrumentor

        StarletteInstrumentor.instrument_app(app)
    return app
