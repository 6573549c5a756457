"""The per-request scenario that ``ddfast bench`` and ``benches/test_request.py`` measure does what it
says for every tracer: it continues the caller's trace and encodes what it finishes."""

import time

import pytest

from ddfast.tools import request_bench


@pytest.mark.parametrize("header_set", list(request_bench.HEADER_SETS))
def test_ddfast_round_continues_the_trace_and_encodes(kind, header_set, spanmod):
    request, restore = request_bench.setup(kind, header_set)
    try:
        for _ in range(request_bench.PAYLOAD_EVERY + 1):
            outgoing = request()
    finally:
        restore()
    assert request_bench.continues(kind, header_set, outgoing)
    assert outgoing["x-datadog-sampling-priority"] == "1"
    if header_set == "all":
        assert outgoing["x-b3-traceid"] == "%032x" % request_bench.TRACE_ID
        assert outgoing["b3"].startswith("%032x-" % request_bench.TRACE_ID)
    if header_set in ("all", "baggage"):
        assert "user.id=a1b2c3" in outgoing["baggage"]
    if header_set == "malformed":
        assert outgoing["x-datadog-trace-id"] != "7277407061855694839"


@pytest.mark.parametrize("impl", ["ddtrace", "otel"])
def test_reference_rounds_continue_the_trace(impl):
    request, restore = request_bench.setup(impl, "default")
    try:
        outgoing = request()
    finally:
        restore()
    assert request_bench.continues(impl, "default", outgoing)
    assert not request_bench.continues(impl, "default", {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})


def test_setup_refuses_unknown_names():
    with pytest.raises(ValueError, match="unknown header set"):
        request_bench.setup("cython", "nope")
    with pytest.raises(ValueError, match="unknown implementation"):
        request_bench.setup("jaeger", "default")


def test_measure_returns_a_median_per_call():
    calls = []
    per_call = request_bench.measure(lambda: calls.append(1), 0.05)
    assert calls and 0 < per_call < 0.001


def test_measure_batches_hold_whole_payload_periods():
    """A round that does heavy work once per period (as a tracer sealing a payload every 64 traces) is
    measured with that work's share, whatever the phase: every batch holds the same number of seals."""
    calls = []

    def request():
        calls.append(1)
        if len(calls) % 8 == 3:  # the period's heavy round, off the batch boundaries
            time.sleep(0.002)

    per_call = request_bench.measure(request, 0.3, period=8)
    assert per_call >= 0.002 / 8
    assert len(calls) % 8 == 0  # whole periods only


def test_compare_keeps_ddtrace_logs_off_the_terminal_and_restores_its_handlers(capfd):
    import logging

    import ddtrace  # noqa: F401  (it adds its own stderr handler on import)

    before = logging.getLogger("ddtrace").handlers[:]
    results = request_bench.compare(["malformed"], ["ddtrace"], seconds=0.05)
    assert isinstance(results["malformed"]["ddtrace"], float)
    assert capfd.readouterr().err == ""
    assert logging.getLogger("ddtrace").handlers == before
