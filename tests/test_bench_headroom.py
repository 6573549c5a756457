"""``python -m benches.headroom``: the request with propagation free really skips it (and nothing
else), and the report shows the three medians and the ratios they give."""

import importlib.util
import os

import pytest

from ddfast.tools import request_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("bench_headroom", os.path.join(ROOT, "benches", "headroom.py"))
headroom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(headroom)


def test_free_propagation_round_skips_only_the_headers(monkeypatch, require_compiled):
    if not require_compiled:
        pytest.importorskip("ddfast._ext.span")
    written = []
    real_write = request_bench._EncodingWriter.write
    monkeypatch.setattr(
        request_bench._EncodingWriter,
        "write",
        lambda self, spans=None: written.append(spans) or real_write(self, spans),
    )
    request, restore = headroom.free_propagation("default")
    try:
        assert request() == {}  # inject wrote nothing
    finally:
        restore()
    ((server, client),) = written  # the round still starts, finishes and encodes its two spans
    assert server.trace_id == request_bench.TRACE_ID and client.parent_id == server.span_id
    assert request_bench._round.__name__ == "_round"  # the real round is back


def test_measure_and_report(require_compiled):
    if not require_compiled:
        pytest.importorskip("ddfast._ext.span")
    m = headroom.measure("datadog", 0.02)
    assert set(m) == {"cython", "free", "ddtrace"} and all(v > 0 for v in m.values())
    line = headroom.report("datadog", {"cython": 3e-6, "free": 2e-6, "ddtrace": 60e-6})
    assert line.split() == ["datadog", "3.00", "us", "20.0x", "2.00", "us", "30.0x", "60.0", "us", "2.00", "us"]
