"""Overhead per request: what a traced web service does for each request (``ddfast.tools.request_bench``),
ddfast compiled vs pure vs ddtrace 4.16 vs the OpenTelemetry SDK, measured in one run, for each header
set: ``datadog``, ``default``, ``all`` (every style), ``baggage`` and ``malformed``.

A round is one payload period (``PAYLOAD_EVERY`` requests, one payload sealed), and the statistics are
per request: each round carries the same share of the periodic work. With rounds of a request or two,
the medians would leave the sealing out, and with it all of the OpenTelemetry exporter's encoding,
which it does only then.
"""

import time

import pytest

from ddfast.tools import request_bench

WARMUP_PERIODS = 2


def _rounds(request, config):
    """Rounds that fill about ``--benchmark-max-time``, at least ``--benchmark-min-rounds``; the timing
    of the warm-up periods gives the length of one."""
    start = time.perf_counter()
    for _ in range(WARMUP_PERIODS * request_bench.PAYLOAD_EVERY):
        request()
    period = (time.perf_counter() - start) / WARMUP_PERIODS
    max_time, min_rounds = float(config.getoption("benchmark_max_time")), int(config.getoption("benchmark_min_rounds"))
    return max(min_rounds, int(max_time / period))


@pytest.fixture(params=request_bench.IMPLEMENTATIONS)
def tracer_impl(request):
    return request.param


@pytest.mark.parametrize("headers", list(request_bench.HEADER_SETS))
def test_request(benchmark, tracer_impl, headers, pytestconfig):
    benchmark.group = "request: %s headers" % headers
    try:
        request, restore = request_bench.setup(tracer_impl, headers)
    except request_bench.Unavailable as e:
        pytest.skip(str(e))
    try:
        rounds = _rounds(request, pytestconfig)
        outgoing = benchmark.pedantic(request, rounds=rounds, iterations=request_bench.PAYLOAD_EVERY)
    finally:
        restore()
    assert request_bench.continues(tracer_impl, headers, outgoing), outgoing
