"""Overhead per request: what a traced web service does for each request (``ddfast.request_bench``),
ddfast compiled vs pure vs ddtrace 4.16 vs the OpenTelemetry SDK, measured in one run, for each header
set: ``datadog``, ``default``, ``all`` (every style), ``baggage`` and ``malformed``.
"""

import pytest

from ddfast import request_bench


@pytest.fixture(params=request_bench.IMPLEMENTATIONS)
def tracer_impl(request):
    return request.param


@pytest.mark.parametrize("headers", list(request_bench.HEADER_SETS))
def test_request(benchmark, tracer_impl, headers):
    benchmark.group = "request: %s headers" % headers
    try:
        request, restore = request_bench.setup(tracer_impl, headers)
    except request_bench.Unavailable as e:
        pytest.skip(str(e))
    try:
        outgoing = benchmark(request)
    finally:
        restore()
    assert request_bench.continues(tracer_impl, headers, outgoing), outgoing
