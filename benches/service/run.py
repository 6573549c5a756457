"""The service benchmark's driver: what tracing adds to a real web service, per tracer.

For each scenario (``flask``: Flask on gunicorn, one sync worker, ``requests`` to the downstream;
``starlette``: Starlette on uvicorn, ``httpx.AsyncClient``) and each variant (``none``, ``ddfast``,
``ddfast-noinject``, ``ddtrace``, ``otel``; see ``tracers``), every incoming request carrying Datadog
and W3C headers:

- **instructions**: the server process under ``valgrind --tool=callgrind``, started twice, once
  answering ``warmup`` requests and once ``warmup + requests``; the difference of the two counts over
  ``requests`` is the instructions per request (start-up, imports and exit cancel). Deterministic to
  about 1%, whatever else the machine does.
- **load**: ``wrk`` with fixed connections and duration, the service pinned to core 0 and everything
  else (wrk, downstream, sink, this driver) to core 1, variants interleaved, ``rounds`` times: CPU time
  of the server process per request, requests/s, p50/p99 latency, RSS; then the service is stopped and
  the traces the sink received are compared with the requests served (each request is one trace).

Results go to a JSON file (``--json``), drawn by ``benches.service.plot``. ``--check BASELINE`` fails
when what a ddfast variant adds in instructions per request went past its committed figure by more than
the margin (it measures the baseline's variants and the untraced one whatever ``--variants`` says).

    python -m benches.service                                   # everything (make bench-service)
    python -m benches.service --figures instructions --check benches/service/baseline.json --variants none
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benches.service.tracers import DIAGNOSTIC_VARIANTS
from benches.service.tracers import NOINJECT
from benches.service.tracers import NOINJECT_ENV
from benches.service.tracers import VARIANTS

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = os.path.dirname(HERE)

SCENARIOS = {
    "flask": "Flask on gunicorn (1 sync worker), requests",
    "starlette": "Starlette on uvicorn, httpx.AsyncClient",
}

#: what the service's callers send: a sampled Datadog trace, in the Datadog and the W3C headers; each
#: request is its own trace (``incoming(n)``), all with the same parent span id
PARENT_ID = 0x123456789ABCDEF0
TRACE_ID_HIGH = "6b06331600000000"


def incoming(n):
    """The headers of the ``n``-th request (trace id low 64 bits: ``0x1000000000 + n``)."""
    low = 0x1000000000 + n
    return {
        "x-datadog-trace-id": str(low),
        "x-datadog-parent-id": str(PARENT_ID),
        "x-datadog-sampling-priority": "1",
        "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=" + TRACE_ID_HIGH,
        "traceparent": "00-%s%016x-%016x-01" % (TRACE_ID_HIGH, low, PARENT_ID),
        "tracestate": "dd=s:1;p:%016x;t.dm:-0" % PARENT_ID,
    }


INCOMING = incoming(0)

#: wrk's requests: the same headers, a new trace id each
WRK_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  local low = 0x1000000000 + n
  local headers = {}
  headers["x-datadog-trace-id"] = string.format("%%d", low)
  headers["x-datadog-parent-id"] = "%(parent)d"
  headers["x-datadog-sampling-priority"] = "1"
  headers["x-datadog-tags"] = "_dd.p.dm=-0,_dd.p.tid=%(high)s"
  headers["traceparent"] = string.format("00-%(high)s%%016x-%(parent)016x-01", low)
  headers["tracestate"] = "dd=s:1;p:%(parent)016x;t.dm:-0"
  return wrk.format("GET", "%(path)s", headers)
end
"""
PATH = "/users/42"

#: a margin for --check: a run repeats its count to within about 0.1%, but any change to what a request
#: allocates moves where the interpreter's garbage collections fall among the measured requests, which
#: shifts the figure by up to a few tens of thousands of instructions either way
CHECK_MARGIN = 0.15
CHECK_FLOOR = 40000
#: reported, not gated: ddfast's own cost (the variant sending no headers) as a share of the untraced
#: request, in percent, and how many times what ddfast adds ddtrace should add at least
OWN_COST_TARGET = 1.0
RATIO_TARGET = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the service exited while starting (status %s)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the service did not listen on port %d within %d s" % (port, timeout))


def get(port, path, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Bench:
    """The processes around the service: downstream and sink on core 1, and the service's environment."""

    def __init__(self, python, cpus):
        self.python = python
        self.cpus = cpus
        # the service imports benches.service from here, not from the checkout: a checkout's ddfast/
        # (the sources, no compiled modules) must not shadow the installed ddfast
        self.root = tempfile.mkdtemp(prefix="ddfast-service-")
        os.symlink(BENCHES, os.path.join(self.root, "benches"))
        self.downstream_port, self.sink_port = free_port(), free_port()
        self.wrk_script = os.path.join(self.root, "requests.lua")
        with open(self.wrk_script, "w") as f:
            f.write(WRK_SCRIPT % {"parent": PARENT_ID, "high": TRACE_ID_HIGH, "path": PATH})
        self.aux = [
            self._start_aux("benches.service.downstream", self.downstream_port),
            self._start_aux("benches.service.agent_sink", self.sink_port, str(PARENT_ID)),
        ]
        for proc, port in zip(self.aux, (self.downstream_port, self.sink_port), strict=True):
            wait_port(port, proc, 30)

    def _pin(self, core):
        return ["taskset", "-c", str(self.cpus[core])] if self.cpus else []

    def _start_aux(self, module, port, *args):
        return subprocess.Popen(
            self._pin(1) + [self.python, "-m", module, str(port), *args], cwd=self.root, env=self.env("none")
        )

    def env(self, variant):
        # the caller's DD_ variables pass through (to measure a setting), in every variant alike
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DDFAST_", "PYTHON"))}
        env.update(
            PYTHONPATH=self.root,
            PYTHONHASHSEED="0",
            SERVICE_TRACER=variant,
            SERVICE_DOWNSTREAM="http://127.0.0.1:%d" % getattr(self, "downstream_port", 0),
            SERVICE_SINK="http://127.0.0.1:%d" % getattr(self, "sink_port", 0),
            DD_SERVICE="bench-service",
            DD_ENV="bench",
            DD_TRACE_AGENT_URL="http://127.0.0.1:%d" % getattr(self, "sink_port", 0),
            # what the sink does not serve, ddtrace would poll for (remote configuration) or report to
            DD_REMOTE_CONFIGURATION_ENABLED="false",
            DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
            DD_TRACE_STARTUP_LOGS="false",
        )
        if variant == NOINJECT:
            env.update(NOINJECT_ENV)
        return env

    def service_command(self, scenario, port):
        if scenario == "flask":
            return [self.python, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync", "--timeout", "900",
                    "--bind", "127.0.0.1:%d" % port, "benches.service.app_flask:app"]  # fmt: skip
        return [self.python, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                "--log-level", "warning", "benches.service.app_starlette:app"]  # fmt: skip

    def start_service(self, scenario, variant, port, stderr=subprocess.DEVNULL):
        """The service of ``scenario`` traced by ``variant``, on core 0, listening on ``port``."""
        return subprocess.Popen(self._pin(0) + self.service_command(scenario, port), cwd=self.root,
                                env=self.env(variant), stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip

    def sink(self, path="/__stats"):
        return json.loads(get(self.sink_port, path)[1])

    def downstream_count(self):
        return int(get(self.downstream_port, "/__count")[1])

    def close(self):
        for proc in self.aux:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def server_pid(scenario, proc):
    """The process that answers requests: gunicorn's worker (the only child), uvicorn itself."""
    if scenario != "flask":
        return proc.pid
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                children = f.read().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def stop(proc, timeout=120):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError("the service did not stop within %d s" % timeout) from None


# -- the deterministic figure ------------------------------------------------------------------------


def callgrind_run(bench, scenario, variant, count, keep=None, pad=0, seed=0):
    """Instructions the server process executed in a life answering ``count`` requests (its callgrind
    profile kept in directory ``keep`` when given, for ``callgrind_annotate``), its memory laid out with
    ``pad`` bytes mapped before the framework is imported (``tracers.LAYOUT_PAD``), its str hashes seeded
    with ``seed`` (``PYTHONHASHSEED``)."""
    out = tempfile.mkdtemp(prefix="ddfast-callgrind-")
    port = free_port()
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/cg.%%p" % out] + bench.service_command(
        scenario, port
    )
    log = open(os.path.join(out, "log"), "w+")
    env = bench.env(variant)
    # callgrind runs the service about 50 times slower: work the tracers do on a timer (the writers' flush
    # every second) would be counted 50 times too often per request. A long interval leaves each run one
    # flush at exit, with every trace in it, so the count keeps the per-trace cost of sending, as in a
    # busy service, where one flush carries hundreds of traces
    env.setdefault("DD_TRACE_WRITER_INTERVAL_SECONDS", "600")
    env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "600000")
    # and uvicorn's wake-up every 0.1 s of wall time would count by how slow the run is (see app_starlette)
    env.setdefault("SERVICE_TICK_SECONDS", "5")
    if pad:
        env["SERVICE_LAYOUT_PAD"] = str(pad)
    env["PYTHONHASHSEED"] = str(seed)
    proc = subprocess.Popen(bench._pin(0) + command, cwd=bench.root, env=env, stdout=log, stderr=log)
    try:
        wait_port(port, proc, 600)
        pid = server_pid(scenario, proc)
        for n in range(count):
            # callgrind runs the service about 50 times slower, and a loaded machine slower still: the first
            # request, which imports what the service imports lazily, can take minutes
            status, _body = get(port, PATH, incoming(n), timeout=600)
            if status != 200:
                raise RuntimeError("the service answered %d" % status)
        stop(proc, 300)
        path = os.path.join(out, "cg.%d" % pid)
        with open(path) as f:
            totals = re.search(r"^(?:totals|summary): (\d+)", f.read(), re.M)
        if keep:
            os.makedirs(keep, exist_ok=True)
            name = "callgrind.%s.%s.%d" % (scenario, variant, count) + (".pad%d" % pad if pad else "")
            name += ".seed%d" % seed if seed else ""
            shutil.copy(path, os.path.join(keep, name))
        return int(totals.group(1))
    except Exception:
        log.seek(0)
        sys.stderr.write(log.read()[-4000:])
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        shutil.rmtree(out, ignore_errors=True)


def byte_compile(python, root):
    """Write the bytecode of everything installed beside the service (its tracers, frameworks, clients)
    and of the benchmark's own modules under ``root`` before any run is counted: a module imported without
    its ``.pyc`` (a build copied in by hand, a fresh checkout) is compiled by the first run that imports
    it, which would count tens of millions of instructions in that run alone."""
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    for path in (purelib, os.path.join(root, "benches")):
        subprocess.run([python, "-m", "compileall", "-q", path], stdout=subprocess.DEVNULL, check=False)


#: what ``--layouts`` spreads the pads over: the allocator's address blocks (CPython's pymalloc arenas,
#: 1 MiB, checked per free against the block they fall in)
LAYOUT_SPAN = 1 << 20


def layout_pads(layouts):
    """The pads of ``layouts`` memory layouts, evenly over ``LAYOUT_SPAN``, in whole pages."""
    return [i * LAYOUT_SPAN // layouts // 4096 * 4096 for i in range(layouts)]


def instructions(bench, scenario, variants, warmup, requests, keep=None, layouts=1):
    """Instructions per request of each of ``variants`` in ``scenario``: the difference between a life of
    ``warmup + requests`` requests and one of ``warmup``, the median over ``layouts`` memory layouts. Within
    each layout the variants take turns, in an order rotated from layout to layout, so that what drifts over
    a measurement (the machine's load, which decides how often the service's event loop runs) falls on
    every variant alike. Where the interpreter's arenas fall against the allocator's 1 MiB blocks decides
    which of two paths each free takes (four instructions apart), and the hash seed and the types made
    before decide which lookups collide in the interpreter's caches: any change to what a process maps or
    makes at start moves them, by up to +-10k instructions per request each, whatever the change does per
    request. So each layout has its own pad and its own seed (layout i: ``PYTHONHASHSEED=i``; production
    processes draw theirs at random). Returns ``{variant: figure}``."""
    runs = {variant: [] for variant in variants}
    figures = {variant: [] for variant in variants}
    for i, pad in enumerate(layout_pads(layouts)):
        turn = i % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            short = callgrind_run(bench, scenario, variant, warmup, keep, pad, seed=i)
            long = callgrind_run(bench, scenario, variant, warmup + requests, keep, pad, seed=i)
            runs[variant].append([short, long])
            figures[variant].append((long - short) / requests)
    result = {}
    for variant in variants:
        figure = {"per_request": round(statistics.median(figures[variant])), "warmup": warmup, "requests": requests,
                  "runs": runs[variant][0] if layouts == 1 else runs[variant]}  # fmt: skip
        if layouts > 1:
            figure["per_layout"] = [round(f) for f in figures[variant]]
        result[variant] = figure
    return result


# -- the load figure ---------------------------------------------------------------------------------


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def wrk(bench, port, duration, connections):
    command = bench._pin(1) + ["wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency", "--timeout", "10s"]
    out = subprocess.run(command + ["-s", bench.wrk_script, "http://127.0.0.1:%d" % port], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    if "Non-2xx" in out or "Socket errors" in out and re.search(r"Socket errors:.*(read|write|timeout) [1-9]", out):
        raise RuntimeError("wrk saw failed requests:\n" + out)

    def latency(pct):
        value, unit = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\b" % pct, out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency(50),
        "p99_ms": latency(99),
    }


def load_round(bench, scenario, variant, duration, connections, warmup_seconds=2):
    """One service life under wrk: its figures, and the traces the sink received for it."""
    bench.sink("/__reset")
    served_before = bench.downstream_count()
    port = free_port()
    proc = bench.start_service(scenario, variant, port, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc, 60)
        pid = server_pid(scenario, proc)
        wrk(bench, port, warmup_seconds, connections)
        ticks = cpu_ticks(pid)
        result = wrk(bench, port, duration, connections)
        ticks = cpu_ticks(pid) - ticks
        result["rss_mb"] = round(rss_kb(pid) / 1024, 1)
        result["cpu_us_per_request"] = round(ticks / os.sysconf("SC_CLK_TCK") * 1e6 / result["requests"], 1)
        stop(proc, 60)
    except BaseException:
        proc.kill()
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-4000:])
        raise
    served, sink = received(bench, variant, served_before)
    result.update(served=served, traces_received=sink["traces"], spans_received=sink["spans"],
                  sink_errors=sink["errors"])  # fmt: skip
    return result


def received(bench, variant, served_before, wait=10):
    """``(requests served since served_before, the sink's counts)``, once the sink has a trace for every
    request served or ``wait`` seconds have passed (the last payloads may still be on their way)."""
    served = bench.downstream_count() - served_before
    deadline = time.monotonic() + wait
    sink = bench.sink()
    while variant != "none" and sink["traces"] < served and time.monotonic() < deadline:
        time.sleep(0.5)
        sink = bench.sink()
    return served, sink


def soak(bench, scenario, variant, seconds, connections, slice_seconds=30):
    """One service life under ``seconds`` of wrk load, in slices: the server's RSS after each (bounded
    memory), and the traces the sink received against the requests served (nothing lost)."""
    bench.sink("/__reset")
    served_before = bench.downstream_count()
    port = free_port()
    proc = bench.start_service(scenario, variant, port)
    try:
        wait_port(port, proc, 60)
        pid = server_pid(scenario, proc)
        rss, requests = [rss_kb(pid) / 1024], 0
        for _ in range(max(1, seconds // slice_seconds)):
            requests += wrk(bench, port, slice_seconds, connections)["requests"]
            rss.append(rss_kb(pid) / 1024)
        stop(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    served, sink = received(bench, variant, served_before)
    return {"seconds": seconds, "requests": requests, "served": served, "traces_received": sink["traces"],
            "rss_mb": [round(r, 1) for r in rss]}  # fmt: skip


def summarize_load(rounds):
    keys = ("cpu_us_per_request", "rps", "p50_ms", "p99_ms", "rss_mb")
    summary = {k: round(statistics.median(r[k] for r in rounds), 2) for k in keys}
    summary["served"] = sum(r["served"] for r in rounds)
    summary["traces_received"] = sum(r["traces_received"] for r in rounds)
    summary["spans_per_request"] = round(sum(r["spans_received"] for r in rounds) / max(1, summary["served"]), 2)
    summary["rounds"] = rounds
    return summary


# -- the report --------------------------------------------------------------------------------------


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1).strip()
    except (OSError, AttributeError):
        pass
    versions = {}
    for package in ("ddfast", "ddtrace", "opentelemetry-sdk", "flask", "gunicorn", "starlette", "uvicorn",
                    "requests", "httpx"):  # fmt: skip
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "packages": versions}  # fmt: skip


def table(results):
    lines = []
    for scenario, variants in results["scenarios"].items():
        lines.append("\n%s" % SCENARIOS[scenario])
        base_i = variants.get("none", {}).get("instructions", {}).get("per_request")
        base_c = variants.get("none", {}).get("load", {}).get("cpu_us_per_request")
        lines.append("%-15s %12s %18s %10s %16s %9s %8s %8s %7s %14s %9s" % (
            "variant", "instr/req", "added", "CPU us/req", "added", "req/s", "p50 ms", "p99 ms", "RSS MB",
            "traces recv/sent", "spans/req"))  # fmt: skip
        for variant, figures in variants.items():
            ins, load = figures.get("instructions", {}), figures.get("load", {})
            per = ins.get("per_request")
            cpu = load.get("cpu_us_per_request")
            lines.append("%-15s %12s %18s %10s %16s %9s %8s %8s %7s %14s %9s" % (
                variant,
                "%.2f M" % (per / 1e6) if per else "-",
                _added(per, base_i, 1e3, "k") if variant != "none" else "",
                cpu if cpu is not None else "-",
                _added(cpu, base_c, 1, "us") if variant != "none" else "",
                load.get("rps", "-"), load.get("p50_ms", "-"), load.get("p99_ms", "-"), load.get("rss_mb", "-"),
                "%s/%s" % (load["traces_received"], load["served"]) if load and variant != "none" else "-",
                load.get("spans_per_request", "-") if variant != "none" else "-",
            ))  # fmt: skip
        lines.extend(summary_lines(results, scenario))
    return "\n".join(lines)


def summary_lines(results, scenario):
    """ddfast's own cost (the variant sending no headers, over untraced) against its target, and how many
    times what ddfast adds the other tracers add, for the variants measured."""
    lines = []
    base = _per_request(results, scenario, "none")
    if not base:
        return lines
    own = _per_request(results, scenario, NOINJECT)
    if own:
        share = 100.0 * (own - base) / base
        verdict = "met" if share <= OWN_COST_TARGET else "NOT MET"
        lines.append("%s: ddfast's own cost (no outgoing headers) %+.0fk instructions per request, %.2f%% of "
                     "untraced (target <= %.0f%%: %s)" % (scenario, (own - base) / 1e3, share, OWN_COST_TARGET,
                                                          verdict))  # fmt: skip
    ours = _per_request(results, scenario, "ddfast")
    if ours and ours > base:
        for other in ("ddtrace", "otel"):
            theirs = _per_request(results, scenario, other)
            if theirs:
                ratio = (theirs - base) / (ours - base)
                target = ""
                if other == "ddtrace":
                    target = " (target >= %.0fx: %s)" % (RATIO_TARGET, "met" if ratio >= RATIO_TARGET else "NOT MET")
                lines.append("%s: %s adds %.1fx what ddfast adds%s" % (scenario, other, ratio, target))
    return lines


def _per_request(results, scenario, variant):
    return results["scenarios"][scenario].get(variant, {}).get("instructions", {}).get("per_request")


def _added(value, base, scale, unit):
    if value is None or not base:
        return "-"
    return "+%.0f %s (%.1f%%)" % ((value - base) / scale, unit, 100.0 * (value - base) / base)


def added_instructions(results, scenario, variant):
    variants = results["scenarios"][scenario]
    return variants[variant]["instructions"]["per_request"] - variants["none"]["instructions"]["per_request"]


def check(results, baseline_path):
    """Fail (False) when what a ddfast variant adds in instructions per request went past its committed
    figure by more than the margin, or a committed figure of a measured scenario was not measured."""
    with open(baseline_path) as f:
        baseline = json.load(f)
    ok = True
    for variant, by_scenario in baseline["added_instructions"].items():
        for scenario, committed in by_scenario.items():
            if scenario not in results["scenarios"]:
                continue
            try:
                added = added_instructions(results, scenario, variant)
            except KeyError:
                ok = False
                print("service check %-10s %-15s not measured in this run: FAILED" % (scenario, variant))
                continue
            limit = committed + max(CHECK_FLOOR, CHECK_MARGIN * committed)
            verdict = "ok" if added <= limit else "REGRESSED"
            ok &= added <= limit
            print("service check %-10s %-15s adds %7d instructions per request (committed %d, limit %d): %s"
                  % (scenario, variant, added, committed, limit, verdict))  # fmt: skip
    return ok


def checked_variants(baseline_path):
    """The variants a check needs: the untraced one and those the baseline has figures for."""
    with open(baseline_path) as f:
        return ["none"] + list(json.load(f)["added_instructions"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benches.service", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS + DIAGNOSTIC_VARIANTS),
        help="the diagnostic ones (%s) are measured by instructions only" % ",".join(DIAGNOSTIC_VARIANTS),
    )
    parser.add_argument("--figures", default="instructions,load")
    parser.add_argument("--warmup", type=int, default=50, help="requests before the measured ones (callgrind)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per callgrind run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved load rounds per variant")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per round")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="SECONDS",
        help="also run ddfast this long under load: RSS over time, traces lost",
    )
    parser.add_argument("--cpus", default="0,1", help="cores for the service and for everything else ('' to not pin)")
    parser.add_argument("--json", default=".benchmarks/service.json")
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind profiles here (callgrind_annotate)")
    parser.add_argument(
        "--layouts",
        type=int,
        default=1,
        help="layouts each instructions figure is the median of (the service's later mappings moved by "
        "1 MiB / N steps, layout i with PYTHONHASHSEED=i), the variants taking turns in each: what the "
        "process's mappings, its hash seed and the run's place in the measurement alone move, evened out",
    )
    parser.add_argument("--check", metavar="BASELINE", help="fail when ddfast's added instructions regressed")
    args = parser.parse_args(argv)
    if args.layouts < 1:
        parser.error("--layouts must be at least 1")
    scenarios = [s for s in args.scenarios.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    figures = set(args.figures.split(","))
    for name, known, what in (
        (scenarios, SCENARIOS, "scenario"),
        (variants, VARIANTS + DIAGNOSTIC_VARIANTS, "variant"),
    ):
        unknown = set(name) - set(known)
        if unknown:
            parser.error("unknown %s %s (known: %s)" % (what, ", ".join(sorted(unknown)), ", ".join(known)))
    needed = (["valgrind"] if "instructions" in figures else []) + (["wrk"] if "load" in figures else [])
    needed += ["taskset"] if args.cpus else []
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        sys.exit(
            "benches.service needs %s on PATH (Debian: apt-get install %s)" % (", ".join(missing), " ".join(missing))
        )
    if args.check:
        variants += [v for v in checked_variants(args.check) if v not in variants]
        variants.sort(key=(VARIANTS + DIAGNOSTIC_VARIANTS).index)

    results = {"date": datetime.date.today().isoformat(), "machine": machine(), "incoming_headers": INCOMING,
               "settings": vars(args), "scenarios": {s: {v: {} for v in variants} for s in scenarios}}  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("benches.service: terminated"))  # stop what it started
    bench = Bench(sys.executable, [int(c) for c in args.cpus.split(",")] if args.cpus else None)
    try:
        if "instructions" in figures:
            byte_compile(bench.python, bench.root)
            for scenario in scenarios:
                measured = instructions(bench, scenario, variants, args.warmup, args.requests, args.keep, args.layouts)
                for variant, figure in measured.items():
                    results["scenarios"][scenario][variant]["instructions"] = figure
                    print("instructions  %-10s %-15s %10d per request" % (scenario, variant, figure["per_request"]),
                          flush=True)  # fmt: skip
        if "load" in figures:
            variants = [v for v in variants if v not in DIAGNOSTIC_VARIANTS]
            rounds = {(s, v): [] for s in scenarios for v in variants}
            for i in range(args.rounds):
                for scenario in scenarios:
                    order = variants[i % len(variants) :] + variants[: i % len(variants)]  # interleaved, rotated
                    for variant in order:
                        r = load_round(bench, scenario, variant, args.duration, args.connections)
                        rounds[scenario, variant].append(r)
                        print("load round %d %-10s %-15s %7.1f us CPU/request %8.1f req/s  traces %d/%d"
                              % (i + 1, scenario, variant, r["cpu_us_per_request"], r["rps"], r["traces_received"],
                                 r["served"]), flush=True)  # fmt: skip
            for (scenario, variant), rs in rounds.items():
                results["scenarios"][scenario][variant]["load"] = summarize_load(rs)
        if args.soak:
            for scenario in scenarios:
                figure = soak(bench, scenario, "ddfast", args.soak, args.connections)
                results["scenarios"][scenario].setdefault("ddfast", {})["soak"] = figure
                print("soak %-10s ddfast %d s: %d requests, traces %d/%d, RSS MB %s"
                      % (scenario, args.soak, figure["requests"], figure["traces_received"], figure["served"],
                         figure["rss_mb"]), flush=True)  # fmt: skip
    finally:
        bench.close()

    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    if args.check and not check(results, args.check):
        sys.exit(1)


if __name__ == "__main__":
    main()
