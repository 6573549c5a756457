"""Overhead per request: what a traced web service does for each request, ddfast compiled vs pure vs
ddtrace 4.16, measured in one run.

One round: extract the incoming headers, start the server span (a child of the caller's context), tag
it, start a client span, inject its context into the outgoing headers, finish both, and hand the
finished trace to a writer that encodes it for the agent (v0.5, one payload per trace). The sampling
decision is the caller's (kept) or, for malformed headers, made at the first inject.

Header sets: ``datadog`` (x-datadog-* only), ``default`` (datadog + W3C traceparent/tracestate, the
default styles' headers, with the usual other headers of a request) and ``malformed`` (every style
present and broken: a new trace starts).
"""

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin

OTHER = {
    "host": "shop.example.com",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
}
HEADERS = {
    "datadog": dict(
        OTHER,
        **{
            "x-datadog-trace-id": "7277407061855694839",
            "x-datadog-parent-id": "4523417837467891221",
            "x-datadog-sampling-priority": "1",
            "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=6553a1b200000000",
        },
    ),
    "default": dict(
        OTHER,
        **{
            "x-datadog-trace-id": "7277407061855694839",
            "x-datadog-parent-id": "4523417837467891221",
            "x-datadog-sampling-priority": "1",
            "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=6553a1b200000000",
            "traceparent": "00-6553a1b20000000064fe8b2a57d3eff7-3ec6688e9cf07615-01",
            "tracestate": "dd=s:1;p:3ec6688e9cf07615;t.dm:-0,rojo=00f067aa0ba902b7",
        },
    ),
    "malformed": dict(
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
}


class _Encode(NullWriter):
    """A writer that encodes each finished trace, as the agent writer's request-side work does."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.count = 0

    def write(self, spans=None):
        self.encoder.put(spans)
        self.count += 1
        if self.count % 64 == 0:  # a payload now and then, as the sender takes one a second
            self.encoder.encode()


def _ddfast(kind):
    from ddfast.tracer import Tracer

    core = (twin("span", kind), twin("sampling", kind), twin("propagation", kind))
    encoding = twin("encoding", kind)
    tracer = Tracer(writer=_Encode(encoding.MsgpackEncoderV05()), sampler=core[1].DatadogSampler(rules=[]), _core=core)
    return tracer, core[2].http_extract, core[2].http_inject


def _ddtrace():
    from ddtrace.internal.encoding import MsgpackEncoderV05
    from ddtrace.propagation.http import HTTPPropagator
    from ddtrace.trace import tracer

    tracer._span_aggregator.writer = _Encode(MsgpackEncoderV05(20 << 20, 20 << 20))
    return tracer, HTTPPropagator.extract, HTTPPropagator.inject


@pytest.mark.parametrize("headers", ["datadog", "default", "malformed"])
def test_request(benchmark, impl, headers):
    benchmark.group = "request: %s headers" % headers
    tracer, extract, inject = _ddtrace() if impl == "ddtrace" else _ddfast(impl)
    incoming = HEADERS[headers]
    activate = tracer.context_provider.activate
    trace = tracer.trace

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

    outgoing = benchmark(request)
    assert "x-datadog-trace-id" in outgoing
    if headers == "default":  # the styles agree: one trace, no span link
        assert outgoing["traceparent"].startswith("00-6553a1b20000000064fe8b2a57d3eff7-")
    if headers != "malformed":
        assert outgoing["x-datadog-trace-id"] == "7277407061855694839"
