"""Encoding finished traces for the agent: ddfast compiled vs pure vs ddtrace 4.16's own compiled
encoders, measured in one run. One round puts one trace of 1, 10 or 100 spans (web-like tags and
metrics, as a tracer leaves them) into the encoder and takes the payload out (``put`` + ``encode``).
Target: compiled at least 2x faster than ddtrace's encoder.
"""

import pytest

from benches.conftest import twin

BIG = 20 << 20


def _spans(Span, n):
    spans = []
    for i in range(n):
        s = Span(
            "flask.request" if i == 0 else "sqlite.query",
            service="shop" if i == 0 else "shop-db",
            resource="GET /cart/<int:id>" if i == 0 else "SELECT * FROM items WHERE cart_id = ?",
            span_type="web" if i == 0 else "sql",
            trace_id=(0x6553A1B200000000 << 64) | 0x1234567890ABCDEF,
            span_id=1000 + i,
            parent_id=1000 if i else None,
        )
        s.set_tag("component", "flask" if i == 0 else "sqlite")
        s.set_tag("span.kind", "server" if i == 0 else "client")
        s.set_tag("http.method", "GET")
        s.set_tag("http.url", "http://shop.example.com/cart/%d" % i)
        s.set_tag("http.status_code", "200")
        s.set_tag("env", "prod")
        s.set_metric("_dd.top_level", 1)
        s.set_metric("_dd.measured", 1)
        s.set_metric("process_id", 4242)
        if i == 0:
            s.set_tag("_dd.p.dm", "-0")
            s.set_tag("_dd.p.tid", "6553a1b200000000")
            s.set_tag("language", "python")
            s.set_tag("runtime-id", "f7a1c4b2e8d94d2f9c1b2a3d4e5f6a7b")
            s.set_metric("_sampling_priority_v1", 1)
        s.finish()
        spans.append(s)
    return spans


def _encoders(impl):
    if impl == "ddtrace":
        from ddtrace.internal.encoding import MsgpackEncoderV04
        from ddtrace.internal.encoding import MsgpackEncoderV05
        from ddtrace.trace import Span

        return Span, MsgpackEncoderV04, MsgpackEncoderV05
    encoding = twin("encoding", impl)
    return twin("span", impl).Span, encoding.MsgpackEncoderV04, encoding.MsgpackEncoderV05


@pytest.mark.parametrize("version", ["v0.4", "v0.5"])
@pytest.mark.parametrize("n", [1, 10, 100])
def test_encode_trace(benchmark, impl, n, version):
    Span, V04, V05 = _encoders(impl)
    encoder = (V04 if version == "v0.4" else V05)(BIG, BIG)
    trace = _spans(Span, n)
    benchmark.group = "encode: trace of %d span(s), %s" % (n, version)

    def round_trip():
        encoder.put(trace)
        return encoder.encode()

    ((payload, count),) = benchmark(round_trip)
    assert count == 1 and len(payload) > 20 * n
