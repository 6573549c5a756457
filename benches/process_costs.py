"""What ddfast costs a process outside the request: ``import ddfast`` (time and memory), and ``os.fork()``
in a traced parent whose writer is live, beside an untraced parent (and ddtrace, where installed).

    python benches/process_costs.py                   # both parts, about 3 minutes
    python benches/process_costs.py --part import --runs 41
    python benches/process_costs.py --part fork --forks 500 --rounds 5

Run as a script (not ``-m`` from the checkout, which would put the uncompiled source tree first on
``sys.path``): every measurement is a fresh interpreter started outside the checkout, so it measures the
installed ddfast, its byte code compiled as pip leaves it.

Import: the statements take turns in ``--runs`` rounds of fresh interpreters (so that the machine's load
falls on all alike), beside an empty one (``python -c pass``). ``importtime`` is the statement's
cumulative time as ``python -X importtime`` reports it for its top-level module (``ddfast``; wall clock:
median and min, the min being the figure a quiet machine gives); ``process`` is the wall time of the whole
interpreter run less the empty interpreter's (medians); ``cpu`` is the process CPU time spent in the
import (``time.process_time``, less disturbed by other processes than the wall clock); ``rss`` is the
growth of the resident set (``/proc/self/statm``) across the import, what the operating system charges
the process, shared libraries included, and ``rss vs pass`` the resident set after the import less the
empty interpreter's; ``tracemalloc`` is the peak of Python's own allocations during the import (separate
runs: tracing allocations costs time and memory of its own). The line with ``logging``, ``json``,
``urllib.parse`` and ``traceback`` imported first is what ``import ddfast`` adds to a service that has
paid for those itself (most have: their framework logs).

Fork: the parent forks ``--forks`` children one after the other, each exiting at once
(``os._exit``); ``fork()`` is the call's duration in the parent, ``child ready`` the time from the call to
the child's first statement (the ``os.register_at_fork`` hooks run in between). Parents: untraced (plain
interpreter), ddfast imported (no trace made), ddfast traced (a trace before every fork, the writer
sending to a stand-in agent every second, as by default, and every 50 ms), ddtrace traced likewise. The
parents take turns for ``--rounds`` rounds so that the machine's load falls on all alike; percentiles
are over every fork, and the p99 of the quietest round (the lowest of the rounds' p99s) is given too: on
a shared machine a fork that the scheduler preempts costs a time slice (milliseconds), and how often
that happens is the machine's load, not the parent's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: label -> (setup run first, unmeasured; the statement measured)
IMPORTS = {
    "ddfast": ("", "import ddfast"),
    "ddfast, logging, json, urllib.parse and traceback imported before": (
        "import logging, json, urllib.parse, traceback",
        "import ddfast",
    ),
    "ddtrace": ("", "import ddtrace"),
}
#: the empty interpreter every import is compared with
EMPTY = ("", "pass")

MEASURE_IMPORT = r"""
import os, sys, time
mode = sys.argv[1]
exec(sys.argv[3])
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
if mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start()
before, cpu = rss(), time.process_time()
exec(sys.argv[2])
cpu, after = time.process_time() - cpu, rss()
peak = tracemalloc.get_traced_memory()[1] if mode == "tracemalloc" else 0
print(cpu, after - before, peak, after)
"""


def _importtime(stderr, statement):
    """The cumulative milliseconds of the top-level modules ``statement`` imports."""
    names = {n.strip() for n in statement.replace("import", "", 1).split(",")}
    total = 0
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and not parts[2].startswith("  ") and parts[2].strip() in names:
            total += int(parts[1])
    return total / 1e3


def _python(args, cwd, env=None):
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("DD_TRACE_STARTUP_LOGS", "false")
    env.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
    env.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
    return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, check=True)


def measure_imports(imports, runs, cwd):
    """label -> ``{"importtime_min", "importtime_median", "process_median", "cpu_median", "rss_median",
    "rss_vs_pass_median", "tracemalloc_median"}`` (ms, MB) for each ``(setup, statement)`` of ``imports``,
    the statements taking turns, each round with the empty interpreter too."""
    every = dict(imports, **{"python -c pass": EMPTY})
    samples = {label: {"wall": [], "process": [], "cpu": [], "rss": [], "after": [], "peak": []} for label in every}
    for setup, statement in every.values():  # a warm-up, which also writes any byte code missing
        _python(["-c", setup + "\n" + statement], cwd)
    for _ in range(runs):
        for label, (setup, statement) in every.items():
            s = samples[label]
            t0 = time.perf_counter()
            done = _python(["-X", "importtime", "-c", setup + "\n" + statement], cwd)
            s["process"].append((time.perf_counter() - t0) * 1e3)
            s["wall"].append(_importtime(done.stderr, statement))
            c, r, _, after = _python(["-c", MEASURE_IMPORT, "plain", statement, setup], cwd).stdout.split()
            s["cpu"].append(float(c) * 1e3)
            s["rss"].append(int(r) / 1e6)
            s["after"].append(int(after) / 1e6)
    for _ in range(max(3, runs // 5)):
        for label, (setup, statement) in imports.items():
            out = _python(["-c", MEASURE_IMPORT, "tracemalloc", statement, setup], cwd).stdout.split()
            samples[label]["peak"].append(int(out[2]) / 1e6)
    empty = samples["python -c pass"]
    results = {}
    for label in imports:
        s = samples[label]
        results[label] = {
            "importtime_min": min(s["wall"]),
            "importtime_median": statistics.median(s["wall"]),
            "process_median": statistics.median(s["process"]) - statistics.median(empty["process"]),
            "cpu_median": statistics.median(s["cpu"]),
            "rss_median": statistics.median(s["rss"]),
            "rss_vs_pass_median": statistics.median(s["after"]) - statistics.median(empty["after"]),
            "tracemalloc_median": statistics.median(s["peak"]),
        }
    results["python -c pass"] = {"process_median": statistics.median(empty["process"])}
    return results


def _installed(module, cwd):
    try:
        _python(["-c", "import " + module], cwd)
        return True
    except subprocess.CalledProcessError:
        return False


def part_import(runs, cwd):
    imports = dict(IMPORTS)
    if not _installed("ddtrace", cwd):
        del imports["ddtrace"]
    results = measure_imports(imports, runs, cwd)
    print("import, %d rounds of fresh interpreters, the statements taking turns (ms; MB)" % runs)
    print()
    print(
        "| import | importtime median | importtime min | process, less `python -c pass` | CPU median "
        "| RSS growth | RSS vs `python -c pass` | tracemalloc peak |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label in imports:
        m = results[label]
        print(
            "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |"
            % (label, m["importtime_median"], m["importtime_min"], m["process_median"], m["cpu_median"],
               m["rss_median"], m["rss_vs_pass_median"], m["tracemalloc_median"])
        )  # fmt: skip
    print()
    print("`python -c pass`: %.1f ms (median)" % results["python -c pass"]["process_median"])
    print()
    return results


# -- fork --------------------------------------------------------------------------------------------------

FORK_PARENT = r"""
import json, os, struct, sys, time
kind, forks = sys.argv[1], int(sys.argv[2])
trace = None
if kind == "ddfast-imported":
    import ddfast
elif kind == "ddfast-traced":
    import ddfast
    tracer = ddfast.tracer
    trace = lambda: tracer.trace("request", service="fork-bench").finish()
elif kind == "ddtrace-traced":
    from ddtrace.trace import tracer
    trace = lambda: tracer.trace("request", service="fork-bench").finish()
if trace is not None:
    for _ in range(200):  # the writer's thread is running, and has traces to send
        trace()
    time.sleep(0.2)
r, w = os.pipe()
durations, ready = [], []
for _ in range(forks):
    if trace is not None:
        trace()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.write(w, struct.pack("d", time.perf_counter()))
        os._exit(0)
    durations.append(time.perf_counter() - t0)
    ready.append(struct.unpack("d", os.read(r, 8))[0] - t0)
    os.waitpid(pid, 0)
print(json.dumps({"fork": durations, "ready": ready}))
"""

AGENT_READY_SECONDS = 10


def _agent():
    """The stand-in agent (``benches.service.agent_sink``) on a free port: ``(process, url)``."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "benches.service.agent_sink", str(port)], cwd=ROOT)
    deadline = time.monotonic() + AGENT_READY_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, "http://127.0.0.1:%d" % port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the stand-in agent did not start") from None
            time.sleep(0.05)


def _percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


#: label -> (parent kind, writer interval in seconds)
PARENTS = {
    "untraced": ("untraced", None),
    "ddfast imported, no trace": ("ddfast-imported", None),
    "ddfast traced, writer sending every 1 s (the default)": ("ddfast-traced", "1"),
    "ddfast traced, writer sending every 50 ms": ("ddfast-traced", "0.05"),
    "ddtrace traced (its default, 1 s)": ("ddtrace-traced", "1"),
}


def part_fork(forks, rounds, cwd):
    parents = dict(PARENTS)
    if not _installed("ddtrace", cwd):
        parents = {label: p for label, p in parents.items() if not p[0].startswith("ddtrace")}
    agent, url = _agent()
    samples = {label: {"fork": [], "ready": [], "round_p99": []} for label in parents}
    try:
        for _ in range(rounds):
            for label, (kind, interval) in parents.items():
                env = dict(os.environ, DD_TRACE_AGENT_URL=url)
                if interval is not None:
                    env["DD_TRACE_WRITER_INTERVAL_SECONDS"] = interval
                out = json.loads(_python(["-c", FORK_PARENT, kind, str(forks)], cwd, env).stdout)
                for key in ("fork", "ready"):
                    samples[label][key] += out[key]
                samples[label]["round_p99"].append(_percentile(out["fork"], 0.99))
    finally:
        agent.terminate()
        agent.wait()
    print("os.fork() in the parent, %d forks x %d rounds per parent (ms)" % (forks, rounds))
    print()
    print(
        "| parent | fork() p50 | fork() p99 | fork() p99, quietest round | fork() max | child ready p50 "
        "| child ready p99 |"
    )
    print("|---|---|---|---|---|---|---|")
    results = {}
    for label in parents:
        f, r = samples[label]["fork"], samples[label]["ready"]
        results[label] = {
            "fork_p50": _percentile(f, 0.5) * 1e3,
            "fork_p99": _percentile(f, 0.99) * 1e3,
            "fork_p99_quietest_round": min(samples[label]["round_p99"]) * 1e3,
            "fork_max": max(f) * 1e3,
            "ready_p50": _percentile(r, 0.5) * 1e3,
            "ready_p99": _percentile(r, 0.99) * 1e3,
        }
        m = results[label]
        print(
            "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |"
            % (
                label,
                m["fork_p50"],
                m["fork_p99"],
                m["fork_p99_quietest_round"],
                m["fork_max"],
                m["ready_p50"],
                m["ready_p99"],
            )
        )
    print()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("import", "fork", "all"), default="all")
    parser.add_argument("--runs", type=int, default=21, help="fresh interpreters per import statement")
    parser.add_argument("--forks", type=int, default=300, help="forks per parent and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ddfast-process-") as cwd:
        if args.part in ("import", "all"):
            results["import"] = part_import(args.runs, cwd)
        if args.part in ("fork", "all"):
            results["fork"] = part_fork(args.forks, args.rounds, cwd)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
