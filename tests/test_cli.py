"""The ``ddfast`` command (``python -m ddfast``), run as a user runs it, on both implementations."""

import json
import os
import subprocess
import sys

import pytest

from ddfast.tools.cli import UsageError
from ddfast.tools.cli import parse_headers

DATADOG = {
    "x-datadog-trace-id": "123",
    "x-datadog-parent-id": "456",
    "x-datadog-sampling-priority": "2",
    "x-datadog-origin": "rum",
    "x-datadog-tags": "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000",
}
TRACEPARENT = "00-640cfd8d00000000000000000000007b-00000000000001c8-01"


@pytest.fixture
def kind(kind, prop):
    """The implementation under test; the compiled one is skipped (or failed, in CI) when not built."""
    return kind


def run(kind, tmp_path, *args, stdin="", stdout=subprocess.PIPE, **env_vars):
    env = dict(os.environ, **env_vars)
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    # outside the checkout, so the installed package (with its compiled modules) is what runs
    return subprocess.run(
        [sys.executable, "-m", "ddfast", *args],
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=60,
    )


def test_extract_decodes_every_style_and_reports_problems(kind, tmp_path, require_compiled):
    headers = dict(DATADOG, traceparent=TRACEPARENT, tracestate="dd=s:2;o:rum", b3="zzz-1")
    result = run(kind, tmp_path, "extract", "--json", stdin=json.dumps(headers))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    styles = report["styles"]
    assert styles["datadog"]["context"]["trace_id_dec"] == (0x640CFD8D00000000 << 64) | 123
    assert styles["datadog"]["context"]["sampling_priority"] == 2
    assert styles["datadog"]["context"]["origin"] == "rum"
    assert styles["tracecontext"]["context"]["parent_id"] == "00000000000001c8"
    assert styles["b3"]["context"] is None and styles["b3"]["problems"]  # malformed, and why
    assert styles["b3multi"]["context"] is None and styles["baggage"]["context"] is None
    configured = report["configured"]
    assert configured["styles"] == ["datadog", "tracecontext", "baggage"]
    assert configured["context"]["trace_id"] == "640cfd8d00000000000000000000007b"


def test_extract_reads_header_lines_as_curl_prints_them(kind, tmp_path):
    lines = "> GET / HTTP/1.1\n> Host: example.com\n> X-Datadog-Trace-Id: 77\n> X-Datadog-Parent-Id: 88\n\n"
    result = run(kind, tmp_path, "extract", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert "3 header(s) read" in result.stdout
    assert "trace_id  0000000000000000000000000000004d (77)" in result.stdout
    assert "parent_id 0000000000000058 (88)" in result.stdout


def test_inject_prints_the_headers_of_a_context(kind, tmp_path):
    result = run(
        kind,
        tmp_path,
        "inject",
        "--trace-id",
        "0x640cfd8d00000000000000000000007b",
        "--span-id",
        "456",
        "--priority",
        "2",
        "--origin",
        "synthetics",
        "--tag",
        "_dd.p.dm=-4",
        "--style",
        "datadog",
        "--style",
        "b3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    headers = json.loads(result.stdout)
    assert headers["x-datadog-trace-id"] == "123" and headers["x-datadog-parent-id"] == "456"
    assert headers["x-datadog-sampling-priority"] == "2" and headers["x-datadog-origin"] == "synthetics"
    assert headers["x-datadog-tags"] == "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000"
    assert headers["b3"] == "640cfd8d00000000000000000000007b-00000000000001c8-d"
    assert "traceparent" not in headers
    # text output: one "Name: value" line per header, which `ddfast extract` reads back
    text = run(kind, tmp_path, "inject", "--trace-id", "5", "--span-id", "6").stdout
    back = json.loads(run(kind, tmp_path, "extract", "--json", stdin=text).stdout)
    assert back["configured"]["context"]["trace_id_dec"] == 5 and back["configured"]["context"]["parent_id_dec"] == 6


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["extract"], "{not json", "look like JSON"),
        (["extract"], "[1, 2]", "pairs"),
        (["inject", "--trace-id", "abc"], "", "--trace-id"),
        (["inject", "--tag", "novalue"], "", "key=value"),
        (["inject", "--style", "zipkin"], "", "unknown style"),
    ],
)
def test_bad_input_is_a_clear_message_and_status_2(kind, tmp_path, args, stdin, message):
    result = run(kind, tmp_path, *args, stdin=stdin)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_overview_names_the_implementation(kind, tmp_path, require_compiled):
    result = run(kind, tmp_path)
    assert result.returncode == 0, result.stderr
    expected = "python" if kind == "python" else ("cython" if require_compiled else "")
    assert "implementation: %s" % expected in result.stdout and "round trip: ok" in result.stdout


def test_parse_headers_forms():
    assert parse_headers('{"a": "1", "b": 2}') == [("a", "1"), ("b", "2")]
    assert parse_headers('[["a", "1"], ["a", "2"]]') == [("a", "1"), ("a", "2")]
    assert parse_headers("A: 1\nnot a header\nGET / HTTP/1.1\n< B:  two words \n") == [("A", "1"), ("B", "two words")]
    with pytest.raises(UsageError):
        parse_headers('{"a": null}')


def test_demo_prints_one_trace_across_three_services(kind, tmp_path, require_compiled):
    result = run(kind, tmp_path, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "6 spans, 3 services" in out
    assert out.count("priority 1 (auto keep), decision maker -0") == 3
    trace_ids = [line.split(": ")[1] for line in out.splitlines() if line.strip().startswith("x-datadog-trace-id")]
    assert len(trace_ids) == 2 and trace_ids[0] == trace_ids[1]
    tree = [line for line in out.splitlines() if "└─" in line or "├─" in line]
    services = [line.split("─ ")[1].split()[0] for line in tree]
    assert services == ["demo-client", "demo-client", "web-store", "web-store", "inventory", "inventory"]
    depths = [line.index("─") for line in tree]
    assert depths == sorted(depths) and len(set(depths)) == 6  # a chain: each span the child of the one above


def test_bench_measures_every_tracer(kind, tmp_path, require_compiled):
    result = run(kind, tmp_path, "bench", "--seconds", "1", "--headers", "default", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["default"]
    assert set(row) == {"cython", "python", "ddtrace", "otel"}
    for impl in ("python", "ddtrace", "otel"):
        assert isinstance(row[impl], float) and 0 < row[impl] < 0.1, (impl, row[impl])
    assert isinstance(row["cython"], float) or row["cython"].startswith("skipped: compiled ddfast not built")


def test_bench_refuses_a_time_that_is_not_positive(kind, tmp_path):
    result = run(kind, tmp_path, "bench", "--seconds", "0")
    assert result.returncode == 2 and "--seconds must be positive" in result.stderr


@pytest.fixture(scope="module")
def agent():
    pytest.importorskip("ddapm_test_agent")
    from integration_helpers import RealAgent

    a = RealAgent()
    yield a
    a.stop()


def test_demo_sends_its_trace_to_the_agent_when_one_is_configured(kind, tmp_path, agent, monkeypatch):
    agent.start_session()
    monkeypatch.setenv("DD_TRACE_AGENT_URL", agent.url)
    result = run(kind, tmp_path, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    spans = [span for trace in agent.traces() for span in trace]
    assert sorted(s["service"] for s in spans) == ["demo-client"] * 2 + ["inventory"] * 2 + ["web-store"] * 2
    assert len({s["trace_id"] for s in spans}) == 1
    printed = [line for line in result.stdout.splitlines() if line.startswith("trace ")][0].split()[1].rstrip(":")
    assert int(printed, 16) & (2**64 - 1) == spans[0]["trace_id"]


@pytest.mark.parametrize("args", [[], ["inject"], ["extract", "--json"]])
def test_a_reader_that_leaves_early_ends_the_command_quietly(kind, tmp_path, args):
    """``ddfast | head``: the reader closes the pipe; no BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write fails with EPIPE, as once head has its lines
    try:
        result = run(kind, tmp_path, *args, stdin=json.dumps(DATADOG), stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 1 and result.stderr == ""


def test_inject_in_style_none_says_that_no_header_is_written(kind, tmp_path):
    result = run(kind, tmp_path, "inject", "--style", "none")
    assert result.returncode == 0 and result.stdout == ""
    assert "no headers: style none writes no header" in result.stderr
    result = run(kind, tmp_path, "inject", DD_TRACE_PROPAGATION_STYLE_INJECT="none")
    assert result.returncode == 0 and "the configured inject styles are none" in result.stderr
    result = run(kind, tmp_path, "inject", "--style", "none", "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == {}


def test_overview_with_styles_that_carry_nothing(kind, tmp_path):
    result = run(kind, tmp_path, DD_TRACE_PROPAGATION_STYLE="none")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "no headers injected: the inject styles are none" in result.stdout
    result = run(kind, tmp_path, DD_TRACE_PROPAGATION_STYLE_INJECT="b3", DD_TRACE_PROPAGATION_STYLE_EXTRACT="datadog")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no trace: the extract styles read none" in result.stdout and "round trip: MISMATCH" in result.stdout
