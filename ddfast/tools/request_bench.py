"""The per-request scenario behind ``ddfast bench`` and ``benches/test_request.py``: what a traced web
service does for every request, written once for each tracer measured.

One round: extract the incoming headers, start the server span (a child of the caller's context),
tag it, start a client span (the sampling decision is made here when the caller sent none), inject
its context into the outgoing headers, finish both, and hand the finished trace to an encoder for the
agent, sealing a payload every ``PAYLOAD_EVERY`` traces as a background sender would.

Tracers (``IMPLEMENTATIONS``): ``cython`` (ddfast compiled), ``python`` (ddfast's pure twins),
``ddtrace`` (ddtrace's tracer and v0.5 encoder) and ``otel`` (the OpenTelemetry SDK with its default
W3C propagators, encoding OTLP protobuf). Each ``setup_*`` returns ``(request, restore)``: ``request()``
runs one round and returns the outgoing headers; ``restore()`` undoes the setup's global settings.
"""

import contextlib
import importlib
import logging
import time

#: headers every request carries besides the trace's
OTHER = {
    "host": "shop.example.com",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
}
_DATADOG = {
    "x-datadog-trace-id": "7277407061855694839",
    "x-datadog-parent-id": "4523417837467891221",
    "x-datadog-sampling-priority": "1",
    "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=6553a1b200000000",
}
_W3C = {
    "traceparent": "00-6553a1b20000000064fe8b2a57d3eff7-3ec6688e9cf07615-01",
    "tracestate": "dd=s:1;p:3ec6688e9cf07615;t.dm:-0,rojo=00f067aa0ba902b7",
}
_B3 = {
    "x-b3-traceid": "6553a1b20000000064fe8b2a57d3eff7",
    "x-b3-spanid": "3ec6688e9cf07615",
    "x-b3-sampled": "1",
    "b3": "6553a1b20000000064fe8b2a57d3eff7-3ec6688e9cf07615-1",
}
_BAGGAGE = {"baggage": "user.id=a1b2c3,session.id=9f8e7d,region=eu-west-1"}

DEFAULT_STYLES = ("datadog", "tracecontext", "baggage")
ALL_STYLES = ("datadog", "tracecontext", "b3multi", "b3", "baggage")

#: header set -> (incoming headers, propagation styles configured both ways)
HEADER_SETS = {
    # a Datadog-only caller (an older tracer, or DD_TRACE_PROPAGATION_STYLE=datadog)
    "datadog": (dict(OTHER, **_DATADOG), ("datadog",)),
    # what a Datadog tracer sends with its default styles
    "default": (dict(OTHER, **_DATADOG, **_W3C), DEFAULT_STYLES),
    # every style on both ends
    "all": (dict(OTHER, **_DATADOG, **_W3C, **_B3, **_BAGGAGE), ALL_STYLES),
    # the default styles and three baggage items
    "baggage": (dict(OTHER, **_DATADOG, **_W3C, **_BAGGAGE), DEFAULT_STYLES),
    # every style present and broken: a new trace starts, sampled locally
    "malformed": (
        dict(
            OTHER,
            **{
                "x-datadog-trace-id": "-12",
                "x-datadog-parent-id": "abc",
                "traceparent": "00-zz-3ec6f1a2b4c5d6e7-01",
                "tracestate": "dd=s:x",
                "b3": "not-b3",
                "baggage": "=%%%",
            },
        ),
        DEFAULT_STYLES,
    ),
}
#: the caller's trace id, where a header set carries a valid one
TRACE_ID = 0x6553A1B20000000064FE8B2A57D3EFF7
IMPLEMENTATIONS = ("cython", "python", "ddtrace", "otel")
PAYLOAD_EVERY = 64


class Unavailable(Exception):
    """The implementation cannot be measured here (not built, not installed); the message says why."""


class NullWriter:
    """A writer that drops finished traces; it speaks both ddfast's and ddtrace's writer protocols."""

    def write(self, spans=None):
        pass

    def flush_queue(self, *a, **k):
        pass

    def stop(self, *a, **k):
        pass

    def recreate(self, *a, **k):
        return self

    def before_fork(self):
        pass


class _EncodingWriter(NullWriter):
    """Encodes each finished trace, sealing a payload every ``PAYLOAD_EVERY`` traces."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.count = 0

    def write(self, spans=None):
        self.encoder.put(spans)
        self.count += 1
        if self.count % PAYLOAD_EVERY == 0:
            self.encoder.encode()


def _round(activate, extract, trace, inject, incoming):
    def request():
        activate(extract(incoming))
        with trace("web.request", service="shop", resource="GET /cart", span_type="web") as server:
            server.set_tag("http.method", "GET")
            server.set_tag("http.url", "http://shop.example.com/cart")
            with trace("http.request", service="inventory", span_type="http") as client:
                outgoing = {}
                inject(client.context, outgoing)
            server.set_tag("http.status_code", 200)
        return outgoing

    return request


def setup_ddfast(kind, header_set):
    """ddfast with its ``kind`` core modules ("cython" or "python")."""
    package = "ddfast._ext." if kind == "cython" else "ddfast._pure."
    try:
        span, sampling, propagation, encoding = (
            importlib.import_module(package + name) for name in ("span", "sampling", "propagation", "encoding")
        )
    except ImportError as e:
        raise Unavailable("compiled ddfast not built: %s" % e) from None
    from ddfast.tracer import Tracer

    incoming, styles = HEADER_SETS[header_set]
    writer = _EncodingWriter(encoding.MsgpackEncoderV05())
    tracer = Tracer(writer=writer, sampler=sampling.DatadogSampler(rules=[]), _core=(span, sampling, propagation))
    saved = propagation.active_settings()
    propagation.configure(propagation.Settings(extract_styles=styles, inject_styles=styles))
    request = _round(
        tracer.context_provider.activate, propagation.http_extract, tracer.trace, propagation.http_inject, incoming
    )
    return request, lambda: propagation.configure(saved)


def setup_ddtrace(header_set):
    """ddtrace's global tracer, its writer replaced by one that encodes (v0.5) without sending."""
    try:
        from ddtrace.internal.encoding import MsgpackEncoderV05
        from ddtrace.internal.settings._config import config
        from ddtrace.propagation.http import HTTPPropagator
        from ddtrace.trace import tracer
    except ImportError as e:
        raise Unavailable("ddtrace not installed: %s" % e) from None

    incoming, styles = HEADER_SETS[header_set]
    tracer._span_aggregator.writer = _EncodingWriter(MsgpackEncoderV05(20 << 20, 20 << 20))
    saved = config._propagation_style_extract, config._propagation_style_inject
    config._propagation_style_extract, config._propagation_style_inject = list(styles), list(styles)

    def restore():
        config._propagation_style_extract, config._propagation_style_inject = saved

    request = _round(tracer.context_provider.activate, HTTPPropagator.extract, tracer.trace, HTTPPropagator.inject,
                     incoming)  # fmt: skip
    return request, restore


def setup_otel(header_set):
    """The OpenTelemetry SDK: its W3C trace-context and baggage propagators (the default
    ``OTEL_PROPAGATORS``; it reads no Datadog header), parent-based always-on sampling, and each
    finished trace encoded as OTLP protobuf, a payload sealed every ``PAYLOAD_EVERY`` traces."""
    try:
        from opentelemetry import context as otel_context
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.propagators.composite import CompositePropagator
        from opentelemetry.sdk.trace import SpanProcessor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError as e:
        raise Unavailable("OpenTelemetry SDK not installed: %s" % e) from None

    class Encode(SpanProcessor):
        def __init__(self):
            self.spans = []
            self.traces = 0

        def on_end(self, span):
            self.spans.append(span)
            if span.parent is None or span.parent.is_remote:  # the local root: the trace is complete
                self.traces += 1
                if self.traces % PAYLOAD_EVERY == 0:
                    encode_spans(self.spans).SerializeToString()
                    self.spans = []

    provider = TracerProvider()
    provider.add_span_processor(Encode())
    tracer = provider.get_tracer("shop")
    propagator = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    incoming = HEADER_SETS[header_set][0]
    start = tracer.start_as_current_span

    def request():
        token = otel_context.attach(propagator.extract(incoming))
        try:
            attributes = {"service.name": "shop", "resource.name": "GET /cart"}
            with start("web.request", kind=SpanKind.SERVER, attributes=attributes) as server:
                server.set_attribute("http.method", "GET")
                server.set_attribute("http.url", "http://shop.example.com/cart")
                with start("http.request", kind=SpanKind.CLIENT, attributes={"service.name": "inventory"}):
                    outgoing = {}
                    propagator.inject(outgoing)
                server.set_attribute("http.status_code", 200)
        finally:
            otel_context.detach(token)
        return outgoing

    return request, provider.shutdown


def setup(impl, header_set):
    """``(request, restore)`` for implementation ``impl`` and header set ``header_set``."""
    if header_set not in HEADER_SETS:
        raise ValueError("unknown header set %r; known: %s" % (header_set, ", ".join(HEADER_SETS)))
    if impl in ("cython", "python"):
        return setup_ddfast(impl, header_set)
    if impl == "ddtrace":
        return setup_ddtrace(header_set)
    if impl == "otel":
        return setup_otel(header_set)
    raise ValueError("unknown implementation %r; known: %s" % (impl, ", ".join(IMPLEMENTATIONS)))


def continues(impl, header_set, outgoing):
    """Whether ``outgoing`` continues the caller's trace, as it must where the tracer reads the
    caller's headers (OpenTelemetry reads only W3C ones)."""
    incoming = HEADER_SETS[header_set][0]
    if header_set == "malformed" or (impl == "otel" and "traceparent" not in incoming):
        return True
    traceparent = outgoing.get("traceparent", "")
    if impl == "otel":
        return traceparent[3:35] == "%032x" % TRACE_ID
    if outgoing.get("x-datadog-trace-id") != str(TRACE_ID & 0xFFFFFFFFFFFFFFFF):
        return False
    return "traceparent" not in outgoing or traceparent[3:35] == "%032x" % TRACE_ID


def measure(request, seconds, period=PAYLOAD_EVERY):
    """Median seconds per call of ``request()`` over batches run for about ``seconds``.

    A batch is a whole number of payload periods (``period`` rounds: each seals one payload), so every
    batch carries the same share of the periodic work. A tracer that encodes only when it seals (the
    OpenTelemetry exporter) would otherwise be measured with or without its encoding depending on
    where the batches fall. Batches last at least a millisecond after a warm-up, so the clock's
    resolution and the loop cost are negligible; the median makes a busy neighbour's bursts count little.
    """
    clock = time.perf_counter
    deadline = clock() + seconds * 0.1
    loops = period
    while True:  # warm up and size a batch
        start = clock()
        for _ in range(loops):
            request()
        took = clock() - start
        if took >= 1e-3 or clock() > deadline:
            break
        loops *= 2
    samples = []
    deadline = clock() + seconds * 0.9
    while not samples or clock() < deadline:
        start = clock()
        for _ in range(loops):
            request()
        samples.append((clock() - start) / loops)
    samples.sort()
    return samples[len(samples) // 2]


def compare(header_sets=None, implementations=IMPLEMENTATIONS, seconds=60.0, progress=None):
    """Per-request medians, ``{header_set: {impl: seconds or "skipped: why"}}``, spending about
    ``seconds`` in all; ``progress(header_set, impl, result)`` is called after each measurement."""
    with quiet([logger for impl, logger in _LOGGERS.items() if impl in implementations]):
        return _compare(list(header_sets or HEADER_SETS), implementations, seconds, progress)


#: implementation -> the logger its library writes to
_LOGGERS = {"ddtrace": "ddtrace", "otel": "opentelemetry"}


@contextlib.contextmanager
def quiet(names=("ddtrace", "opentelemetry")):
    """Keep the named libraries' log records (a warning per malformed request, for some) off the
    terminal while measuring; they are still made, as they would be in a service. ddtrace adds its
    own stderr handler when first imported: it is imported first, so that its handlers are the ones
    set aside."""
    if "ddtrace" in names:
        with contextlib.suppress(ImportError):
            import ddtrace  # noqa: F401
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers = [logging.NullHandler()]
        logger.propagate = False
    try:
        yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate


def _compare(header_sets, implementations, seconds, progress):
    per = seconds / (len(header_sets) * len(implementations))
    results = {}
    for header_set in header_sets:
        row = results[header_set] = {}
        for impl in implementations:
            try:
                request, restore = setup(impl, header_set)
            except Unavailable as e:
                row[impl] = "skipped: %s" % e
            else:
                try:
                    if not continues(impl, header_set, request()):
                        raise AssertionError("%s did not continue the trace with %s headers" % (impl, header_set))
                    row[impl] = measure(request, per)
                finally:
                    restore()
            if progress is not None:
                progress(header_set, impl, row[impl])
    return results
