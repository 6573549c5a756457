"""How each variant traces the service under test, as its users would set it up.

``SERVICE_TRACER`` picks the variant: ``none`` (untraced), ``ddfast`` (``ddfast.patch`` of the
framework and the HTTP client), ``ddfast-noinject`` (the same, started with
``DD_TRACE_PROPAGATION_STYLE_INJECT=none``: it sends no headers downstream, so what it adds is ddfast's
own cost, apart from what the HTTP libraries spend on the headers), ``ddtrace`` (``ddtrace.patch`` of
the same libraries, ddtrace's own integrations), ``otel`` (the OpenTelemetry SDK, a batch span
processor exporting OTLP/HTTP protobuf, and the instrumentation packages of the same libraries).
``SERVICE_SINK`` is the agent sink's URL.

Two diagnostics say where the cost goes: the ``headers`` variant is untraced but its client sends the
propagation headers ddfast would send; ``SERVICE_PATCH`` (say ``flask``) makes ddfast patch less.
"""

import mmap
import os

#: bytes mapped before the framework is imported (``--layouts``, ``SERVICE_LAYOUT_PAD``): where the
#: allocator's later arenas fall against its 1 MiB address blocks, which decides how many instructions each
#: free takes. Set by ``patch()``, in the service: the driver imports this module too, and must leave the
#: variable in its environment for the services it starts
LAYOUT_PAD = 0
_padding = None

VARIANTS = ("none", "ddfast", "ddfast-noinject", "ddtrace", "otel")
#: the variant sending no headers, and what its process is started with
NOINJECT = "ddfast-noinject"
NOINJECT_ENV = {"DD_TRACE_PROPAGATION_STYLE_INJECT": "none"}
#: untraced, but the client sends the headers a tracer would (a diagnostic: what they alone cost the libraries)
DIAGNOSTIC_VARIANTS = ("headers",)
VARIANT = os.environ.get("SERVICE_TRACER", "none")
if VARIANT not in VARIANTS + DIAGNOSTIC_VARIANTS:
    raise ValueError("SERVICE_TRACER must be one of %s, got %r" % (", ".join(VARIANTS + DIAGNOSTIC_VARIANTS), VARIANT))


def map_layout_pad():
    """Map ``SERVICE_LAYOUT_PAD`` bytes and take the variable out of the environment, which ``requests``
    reads whole on every call."""
    global LAYOUT_PAD, _padding
    LAYOUT_PAD = int(os.environ.pop("SERVICE_LAYOUT_PAD", "0"))
    _padding = mmap.mmap(-1, LAYOUT_PAD) if LAYOUT_PAD > 0 else None


def patch(framework, client):
    """Before the framework and client are imported: patch them for the ddfast or ddtrace variant,
    instrument the client for the OpenTelemetry one."""
    map_layout_pad()
    if VARIANT == "headers":
        send_propagation_headers(client)
    elif VARIANT in ("ddfast", NOINJECT):
        import ddfast

        if VARIANT == NOINJECT:
            # ddfast read its settings when imported. ``requests`` reads the whole environment on every
            # request (its proxy settings), a few thousand instructions per variable: without the variable
            # the environment is the untraced variant's, and the difference is ddfast's alone
            for name in NOINJECT_ENV:
                del os.environ[name]

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


#: what ddfast sends downstream for the benchmark's incoming headers (the ``headers`` variant sends them)
PROPAGATION_HEADERS = {
    "x-datadog-trace-id": "14902366710419959657",
    "x-datadog-parent-id": "5072164416089133426",
    "x-datadog-sampling-priority": "1",
    "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=6b06331600000000",
    "traceparent": "00-6b06331600000000cecfd79127302f69-4664bb6d4a6eab72-01",
    "tracestate": "dd=p:4664bb6d4a6eab72;s:1;t.dm:-0;t.tid:6b06331600000000",
}


def send_propagation_headers(client):
    """Untraced, the client still sends the headers ddfast would send (the ``headers`` variant), written
    into the request the way ddfast's integration writes them: what the HTTP library's own handling of
    them costs, apart from any tracer's work."""

    if client == "requests":
        import requests

        owner, name = requests.Session, "send"

        def add(request):
            store = request.headers._store
            for header, value in PROPAGATION_HEADERS.items():
                store[header] = (header, value)

    else:
        import httpx

        from ddfast.contrib.httpx import _append
        from ddfast.contrib.httpx import _hiding_injected

        owner, name = httpx.AsyncClient, "send"
        httpx.Cookies.extract_cookies = _hiding_injected(httpx.Cookies.extract_cookies)

        def add(request):
            _append(request.headers, PROPAGATION_HEADERS, request)

    original = getattr(owner, name)

    def send(self, request, *args, **kwargs):
        add(request)
        return original(self, request, *args, **kwargs)

    setattr(owner, name, send)


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
