"""The service benchmark's services (``benches/service``), traced by ddfast and sending to the real
Datadog test agent under concurrent load: every request arrives as one whole trace (the server span,
child of the caller's span, named by its route; the client span of the downstream call under it), and
none is lost. Flask on gunicorn and Starlette on uvicorn, on both implementations. The harness's own
pieces (the agent sink, the figures, the regression check) are tested here too."""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

import pytest
from integration_helpers import RealAgent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# benches.service from a directory holding only the benches package: the checkout's ddfast/ (sources,
# no compiled modules) stays off sys.path
_benches_dir = tempfile.mkdtemp(prefix="ddfast-benches-")
os.symlink(os.path.join(ROOT, "benches"), os.path.join(_benches_dir, "benches"))
sys.path.insert(0, _benches_dir)
try:
    from benches.service import agent_sink
    from benches.service import run
finally:
    sys.path.remove(_benches_dir)

pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")
pytest.importorskip("ddapm_test_agent", reason="ddapm-test-agent is a test dependency (pip install .[test])")

REQUESTS = 120
TRACE_ID = 4000000000


@pytest.fixture(scope="module")
def agent():
    a = RealAgent()
    try:
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="module")
def bench():
    b = run.Bench(sys.executable, None)
    try:
        yield b
    finally:
        b.close()


@pytest.mark.parametrize(
    "scenario,server_span,route,client_span",
    [
        ("flask", "flask.request", "/users/<int:user_id>", "requests.request"),
        ("starlette", "starlette.request", "/users/{user_id:int}", "http.request"),
    ],
)
def test_every_request_reaches_the_real_agent_as_one_whole_trace(
    agent, bench, kind, spanmod, scenario, server_span, route, client_span
):
    # spanmod: the compiled twin is there (or the test is skipped, or fails where it is required)
    agent.start_session()
    env = bench.env("ddfast")
    # no periodic flush before the stop: every trace must leave at shutdown (gunicorn's worker runs
    # atexit; uvicorn ends by re-raising SIGTERM, so the ASGI lifespan's shutdown is when they leave)
    env.update(DD_TRACE_AGENT_URL=agent.url, DD_TRACE_WRITER_INTERVAL_SECONDS="120")
    if kind == "python":
        env.update(DDFAST_NO_EXTENSIONS="1", SERVICE_ALLOW_PURE="1")
    port = run.free_port()
    proc = subprocess.Popen(bench.service_command(scenario, port), cwd=bench.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        run.wait_port(port, proc, 60)

        def call(i):
            headers = {
                "x-datadog-trace-id": str(TRACE_ID + i),
                "x-datadog-parent-id": "77",
                "x-datadog-sampling-priority": "1",
            }
            return run.get(port, "/users/%d" % i, headers)[0]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:  # concurrent: the writer is fed from many requests
            assert set(pool.map(call, range(REQUESTS))) == {200}
        run.stop(proc, 30)  # the last traces are sent at exit
    finally:
        if proc.poll() is None:
            proc.kill()
    # a clean exit (uvicorn ends by re-raising the SIGTERM it handled)
    assert proc.returncode in (0, -15), proc.stdout.read().decode()[-3000:]

    traces = {}
    for trace in agent.traces():
        traces.setdefault(trace[0]["trace_id"], []).extend(trace)
    assert sorted(traces) == [TRACE_ID + i for i in range(REQUESTS)]  # none lost, none extra
    for trace_id, spans in traces.items():
        by_name = {s["name"]: s for s in spans}
        assert sorted(by_name) == sorted([server_span, client_span]) and len(spans) == 2
        server, client = by_name[server_span], by_name[client_span]
        assert server["parent_id"] == 77 and client["parent_id"] == server["span_id"]
        assert server["resource"] == "GET " + route and server["meta"]["http.route"] == route
        # ddtrace's: requests names the path, httpx has one resource for every URL
        assert client["resource"] == ("GET /profile/%d" % (trace_id - TRACE_ID) if scenario == "flask" else client_span)
        assert server["meta"]["http.status_code"] == client["meta"]["http.status_code"] == "200"
        assert server["metrics"]["_sampling_priority_v1"] == 1


@pytest.mark.parametrize("scenario", ["flask", "starlette"])
def test_the_headers_diagnostic_sends_ddfasts_headers_untraced(bench, scenario):
    # the ``headers`` variant: no tracer, but the service's client sends the propagation headers ddfast would
    import http.server
    import threading

    from benches.service import tracers

    seen = []

    class Downstream(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append({name.lower(): value for name, value in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    downstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Downstream)
    threading.Thread(target=downstream.serve_forever, daemon=True).start()
    env = bench.env("headers")
    env["SERVICE_DOWNSTREAM"] = "http://127.0.0.1:%d" % downstream.server_address[1]
    env["SERVICE_TICK_SECONDS"] = "1"  # as the instructions figure runs it (uvicorn's wake-up stretched)
    port = run.free_port()
    proc = subprocess.Popen(bench.service_command(scenario, port), cwd=bench.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        run.wait_port(port, proc, 60)
        assert [run.get(port, "/users/%d" % i, {})[0] for i in range(2)] == [200, 200]
        run.stop(proc, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        downstream.shutdown()
    assert len(seen) == 2
    for headers in seen:
        assert {name: headers.get(name) for name in tracers.PROPAGATION_HEADERS} == tracers.PROPAGATION_HEADERS


def test_the_agent_sink_counts_payloads_spans_and_requests(monkeypatch):
    import msgpack
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    monkeypatch.setattr(agent_sink, "ROOT_PARENT_ID", 7)
    agent_sink.stats = agent_sink.new_stats()
    # v0.4: two requests' roots (parent 7) in one chunk, as a tracer that groups by trace id sends them
    chunk = [{"trace_id": 1, "span_id": 1, "parent_id": 7}, {"trace_id": 1, "span_id": 2, "parent_id": 1},
             {"trace_id": 1, "span_id": 3, "parent_id": 7}]  # fmt: skip
    status, _, body = agent_sink.handle("PUT", "/v0.4/traces", msgpack.packb([chunk]))
    assert status == 200 and "rate_by_service" in json.loads(body)
    # v0.5: spans are arrays, the parent id their sixth field
    span = [0, 0, 0, 2, 4, 7, 0, 1, 0, {}, {}, 0]
    assert agent_sink.handle("PUT", "/v0.5/traces", msgpack.packb([["a"], [[span]]]))[0] == 200
    otlp = ExportTraceServiceRequest()
    scope = otlp.resource_spans.add().scope_spans.add()
    scope.spans.add(parent_span_id=(7).to_bytes(8, "big"))
    scope.spans.add(parent_span_id=(9).to_bytes(8, "big"))
    assert agent_sink.handle("POST", "/v1/traces", otlp.SerializeToString())[0] == 200
    assert agent_sink.handle("PUT", "/v0.4/traces", b"\xc1")[0] == 400  # undecodable: counted, not crashed
    assert agent_sink.handle("GET", "/info", b"")[0] == 404  # feature discovery: "absent"
    stats = json.loads(agent_sink.handle("GET", "/__stats", b"")[2])
    assert (stats["payloads"], stats["chunks"], stats["spans"], stats["traces"], stats["errors"]) == (4, 2, 6, 4, 1)


def _result(none, ddfast, noinject=None, ddtrace=None):
    figures = {"none": {"instructions": {"per_request": none}}, "ddfast": {"instructions": {"per_request": ddfast}}}
    for variant, value in (("ddfast-noinject", noinject), ("ddtrace", ddtrace)):
        if value is not None:
            figures[variant] = {"instructions": {"per_request": value}}
    return {"scenarios": {"flask": figures}}


def _baseline(path, ddfast, noinject=None):
    added = {"ddfast": {"flask": ddfast}}
    if noinject is not None:
        added["ddfast-noinject"] = {"flask": noinject}
    path.write_text(json.dumps({"added_instructions": added}))
    return str(path)


def test_the_check_fails_only_past_the_margin(tmp_path, capsys):
    baseline = _baseline(tmp_path / "baseline.json", 200000)
    assert run.check(_result(4000000, 4200000), baseline)
    assert run.check(_result(4000000, 4000000 + 200000 + 39000), baseline)  # within the 40k floor
    assert not run.check(_result(4000000, 4000000 + 200000 + 41000), baseline)
    baseline = _baseline(tmp_path / "baseline.json", 400000)
    assert run.check(_result(4000000, 4000000 + 400000 + 59000), baseline)  # within 15%
    assert not run.check(_result(4000000, 4000000 + 400000 + 61000), baseline)
    assert "REGRESSED" in capsys.readouterr().out


def test_the_check_gates_the_variant_sending_no_headers_too(tmp_path, capsys):
    baseline = _baseline(tmp_path / "baseline.json", 260000, noinject=90000)
    assert run.checked_variants(baseline) == ["none", "ddfast", "ddfast-noinject"]
    assert run.check(_result(4000000, 4260000, noinject=4000000 + 90000 + 39000), baseline)
    out = capsys.readouterr().out
    assert "flask      ddfast-noinject adds  129000" in out and ": ok" in out
    assert not run.check(_result(4000000, 4260000, noinject=4000000 + 90000 + 41000), baseline)
    assert "REGRESSED" in capsys.readouterr().out
    assert not run.check(_result(4000000, 4260000), baseline)  # not measured: a failure, not a pass
    assert "ddfast-noinject not measured in this run: FAILED" in capsys.readouterr().out


def test_the_table_prints_ddfasts_own_cost_and_the_ratio_to_ddtrace():
    results = _result(4000000, 4260000, noinject=4040000, ddtrace=8000000)
    lines = run.summary_lines(results, "flask")
    assert lines[0] == ("flask: ddfast's own cost (no outgoing headers) +40k instructions per request, 1.00% of "
                        "untraced (target <= 1%: met)")  # fmt: skip
    assert lines[1] == "flask: ddtrace adds 15.4x what ddfast adds (target >= 15x: met)"
    lines = run.summary_lines(_result(4000000, 4400000, noinject=4100000, ddtrace=8000000), "flask")
    assert "2.50% of untraced (target <= 1%: NOT MET)" in lines[0]
    assert lines[1] == "flask: ddtrace adds 10.0x what ddfast adds (target >= 15x: NOT MET)"
    assert run.summary_lines(_result(4000000, 4260000), "flask") == []  # nothing to say without the variants
    assert "ddfast-noinject" in run.table(results)


def test_layouts_spread_the_pads_over_the_allocators_blocks(tmp_path, monkeypatch, bench):
    assert run.layout_pads(1) == [0]
    assert run.layout_pads(4) == [0, 1 << 18, 1 << 19, 3 << 18]
    assert all(pad % 4096 == 0 and pad < run.LAYOUT_SPAN for pad in run.layout_pads(3))
    # the service maps its pad and leaves the variable out of the environment requests reads per call; the
    # driver, importing the module too, keeps it for the services it starts (a one-layout run at a given pad)
    code = "import os; from benches.service import tracers as t; print('SERVICE_LAYOUT_PAD' in os.environ); "
    code += "t.patch('flask', 'requests'); print(t.LAYOUT_PAD, len(t._padding), 'SERVICE_LAYOUT_PAD' in os.environ)"
    env = dict(os.environ, SERVICE_LAYOUT_PAD="65536", SERVICE_TRACER="none", PYTHONPATH=_benches_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True, text=True)
    assert out.stdout.split() == ["True", "65536", "65536", "False"], out.stderr
    monkeypatch.setenv("SERVICE_LAYOUT_PAD", "8192")  # given to the driver (which imported tracers): passed on
    assert bench.env("none")["SERVICE_LAYOUT_PAD"] == "8192"


def test_layouts_take_the_variants_in_turns_and_report_the_median(monkeypatch):
    """Within each layout (a pad and a hash seed) every variant runs once, in an order rotated from layout to
    layout: what drifts over a measurement falls on every variant alike. Each figure is the median over the
    layouts."""
    calls = []
    added = {"none": [10, 50, 20, 30], "ddfast": [15, 70, 25, 35]}  # per request, by layout

    def fake_run(bench, scenario, variant, count, keep=None, pad=0, seed=0):
        layout = run.layout_pads(4).index(pad)
        assert seed == layout  # each layout its own str hashes too
        calls.append((layout, variant, count))
        return 1000 + (count - 20) * added[variant][layout]

    monkeypatch.setattr(run, "callgrind_run", fake_run)
    measured = run.instructions(None, "flask", ["none", "ddfast"], 20, 100, layouts=4)
    assert [(layout, variant) for layout, variant, count in calls[::2]] == [
        (0, "none"), (0, "ddfast"), (1, "ddfast"), (1, "none"), (2, "none"), (2, "ddfast"), (3, "ddfast"), (3, "none")
    ]  # fmt: skip
    assert [count for _, _, count in calls[:2]] == [20, 120]  # the short life, then the long one
    assert measured["none"]["per_layout"] == [10, 50, 20, 30] and measured["none"]["per_request"] == 25
    assert measured["ddfast"]["per_request"] == 30  # the median: between 25 and 35
    assert len(measured["ddfast"]["runs"]) == 4
    one = run.instructions(None, "flask", ["none"], 20, 100, layouts=1)
    assert one["none"]["per_request"] == 10 and "per_layout" not in one["none"] and len(one["none"]["runs"]) == 2
