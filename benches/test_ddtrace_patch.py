"""``ddfast.patch_ddtrace()``: ddtrace's own ``HTTPPropagator.extract`` / ``.inject`` (what every ddtrace
integration calls), unpatched (``ddtrace``) vs patched onto ddfast's compiled (``cython``) or pure
(``python``) core, in one run. Results are ddtrace types either way."""

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin
from ddfast.tools import request_bench

HEADERS = request_bench.HEADER_SETS["default"][0]


@pytest.fixture
def dd_propagator(impl):
    from ddtrace.propagation.http import HTTPPropagator

    from ddfast import ddtrace_patch

    if impl != "ddtrace":
        ddtrace_patch.patch_ddtrace(_core_module=twin("propagation", impl))
    try:
        yield HTTPPropagator
    finally:
        ddtrace_patch.unpatch_ddtrace()


def test_extract(benchmark, dd_propagator):
    benchmark.group = "ddtrace patched: HTTPPropagator.extract, default headers"
    ctx = benchmark(dd_propagator.extract, HEADERS)
    assert ctx.trace_id == request_bench.TRACE_ID and type(ctx).__module__.startswith("ddtrace")


def test_inject_span(benchmark, dd_propagator):
    from ddtrace.trace import tracer

    tracer._span_aggregator.writer = NullWriter()
    benchmark.group = "ddtrace patched: HTTPPropagator.inject of a span, default styles"
    span = tracer.start_span("client", child_of=dd_propagator.extract(HEADERS))

    def inject():
        headers = {}
        dd_propagator.inject(span, headers)
        return headers

    headers = benchmark(inject)
    span.finish()
    assert headers["x-datadog-trace-id"] == str(request_bench.TRACE_ID & (2**64 - 1))
