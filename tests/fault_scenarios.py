"""The writer's fault scenarios: a misbehaving agent (``fault_agent``) and an application making 1,000
traces a second (``fault_app``, a process of its own), for ddfast's twins and, for comparison,
ddtrace. Each scenario says how the agent behaves over time, what the application does, and which
traces must arrive. ``tests/test_writer_faults.py`` asserts them; run as a script it prints the table
of ``docs/agent-faults.md``:

    python tests/fault_scenarios.py --tracers cython,python,ddtrace
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fault_agent import OK  # noqa: E402
from fault_agent import Answer  # noqa: E402
from fault_agent import FaultAgent  # noqa: E402

#: the fault lasts from FAULT_START to FAULT_END seconds after the agent starts
FAULT_START, FAULT_END = 1.0, 11.0


def _window(answer):
    return lambda now, size: answer if FAULT_START <= now < FAULT_END else OK


def _once(answer):
    """``answer`` for the first request after FAULT_START, OK otherwise."""
    taken = threading.Lock()

    def plan(now, size):
        if size and now >= FAULT_START and taken.acquire(False):
            return answer
        return OK

    return plan


class Scenario:
    def __init__(self, name, title, plan, app, duplicates=False, dropped=None, sigterm=False, env=None):
        self.name = name
        self.title = title
        self.plan = plan  # a function making the agent's plan (fresh state per run)
        self.app = app
        self.duplicates = duplicates  # the agent may have taken a payload whose answer came too late
        self.dropped = dropped or {}  # drops expected in the writer's counts (reason -> how many)
        self.sigterm = sigterm
        self.env = env or {}


SCENARIOS = [
    Scenario("steady", "steady load, agent well", lambda: lambda now, size: OK, {"seconds": 3}),
    Scenario(
        "absent",
        "agent not listening for 10 s, then up",
        lambda: lambda now, size: None if FAULT_START <= now < FAULT_END else OK,
        {"seconds": 13},
    ),
    Scenario("http500", "HTTP 500 for 10 s", lambda: _window(Answer(500)), {"seconds": 13}),
    Scenario("http503", "HTTP 503 for 10 s", lambda: _window(Answer(503)), {"seconds": 13}),
    Scenario("http429", "HTTP 429 for 10 s", lambda: _window(Answer(429)), {"seconds": 13}),
    Scenario("reset", "every connection reset for 10 s", lambda: _window(Answer(action="reset")), {"seconds": 13}),
    Scenario(
        "dribble",
        "one answer dribbled at 1 byte/s",
        lambda: _once(Answer(action="dribble")),
        {"seconds": 4},
        duplicates=True,
    ),
    Scenario(
        "stall",
        "one answer never comes",
        lambda: _once(Answer(action="stall", seconds=60)),
        {"seconds": 4},
        duplicates=True,
    ),
    Scenario(
        "sigterm",
        "SIGTERM, default handler",
        lambda: lambda now, size: OK,
        {"seconds": 0.5, "mode": "sigterm"},
        sigterm=True,
    ),
    Scenario(
        "sigterm_absent",
        "SIGTERM, agent not listening (1 s bound)",
        lambda: lambda now, size: None,
        {"seconds": 0.5, "mode": "sigterm"},
        dropped={"shutdown": 500},
        sigterm=True,
        env={"DDFAST_SHUTDOWN_TIMEOUT_SECONDS": "1"},
    ),
    Scenario(
        "too_large",
        "HTTP 413 for payloads over 64 KiB",
        lambda: lambda now, size: Answer(413) if size > 65536 else OK,
        {"seconds": 3, "tag_bytes": 64, "big_every": 1000, "big_bytes": 80000},
        dropped={"too_large": 3},
    ),
    Scenario("huge_trace", "a 10,000-span trace", lambda: lambda now, size: OK, {"seconds": 2, "first_spans": 10000}),
    Scenario("mib_tag", "a 1 MiB tag", lambda: lambda now, size: OK, {"seconds": 2, "first_tag_bytes": 1 << 20}),
    Scenario("fork", "a forked child traces too", lambda: lambda now, size: OK, {"seconds": 2, "mode": "fork"}),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def run(scenario, tracer, workdir):
    """Run ``scenario`` with ``tracer`` (``cython``, ``python`` or ``ddtrace``); returns a dict of what
    was made, what arrived, and how long the application waited."""
    agent = FaultAgent(scenario.plan()).start()
    out = os.path.join(workdir, "%s-%s.json" % (scenario.name, tracer))
    options = dict(scenario.app, rate=1000, out=out, tracer="ddtrace" if tracer == "ddtrace" else "ddfast")
    env = dict(os.environ, DD_TRACE_AGENT_URL=agent.url, DD_SERVICE="faults", DD_TRACE_STARTUP_LOGS="false")
    env.update(scenario.env)
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if tracer == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    if tracer == "ddtrace":
        env.update(DD_INSTRUMENTATION_TELEMETRY_ENABLED="false", DD_REMOTE_CONFIGURATION_ENABLED="false")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "fault_app.py"), json.dumps(options)],
        cwd=workdir,  # not the checkout: the installed package is the one under test
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    exit_seconds = None
    try:
        if scenario.sigterm:
            proc.stdout.readline()  # "ready": every trace made
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
            exit_seconds = time.monotonic() - signalled
        else:
            _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    time.sleep(0.2)  # the last answers' bookkeeping
    agent.close()
    with open(out) as f:
        result = json.load(f)
    made = list(result["made"])
    if os.path.exists(out + ".child"):
        with open(out + ".child") as f:
            made += json.load(f)["made"]
    drops = result["drops"]
    if os.path.exists(out + ".exit"):
        with open(out + ".exit") as f:
            drops = json.load(f)["drops"]
    received = agent.received
    return {
        "scenario": scenario.name,
        "tracer": tracer,
        "implementation": result["implementation"],
        "returncode": proc.returncode,
        "stderr": stderr,
        "made": made,
        "received": dict(received),
        "spans": dict(agent.spans),
        "lost": len(set(made) - set(received)),
        "duplicates": sum(n - 1 for n in received.values()),
        "unknown": len(set(received) - set(made)),
        "errors": result["errors"],
        "longest_call": result["longest_call"],
        "p999_call": result["p999_call"],
        "median_call": result["median_call"],
        "lock_wait": result["lock_wait"],
        "lock_contended": result["lock_contended"],
        "drops": drops,
        "seconds": time.monotonic() - started,
        "exit_seconds": exit_seconds,
    }


def run_all(pairs, workers=6):
    """``{(scenario name, tracer): result}`` for every pair, ``workers`` at a time, longest first."""
    workdir = tempfile.mkdtemp(prefix="ddfast-faults-")
    pairs = sorted(pairs, key=lambda p: -BY_NAME[p[0]].app.get("seconds", 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {pair: pool.submit(run, BY_NAME[pair[0]], pair[1], workdir) for pair in pairs}
    return {pair: future.result() for pair, future in futures.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracers", default="cython,python,ddtrace")
    parser.add_argument("--scenarios", default=",".join(BY_NAME))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", help="write every result here")
    args = parser.parse_args()
    tracers = args.tracers.split(",")
    results = run_all([(s, t) for s in args.scenarios.split(",") for t in tracers], args.workers)
    print("| scenario | " + " | ".join("%s lost / made" % t for t in tracers) + " |")
    print("|---|" + "---|" * len(tracers))
    for name in args.scenarios.split(","):
        cells = []
        for t in tracers:
            r = results[(name, t)]
            cell = "%d / %d" % (r["lost"], len(r["made"]))
            if r["duplicates"]:
                cell += " (%d twice)" % r["duplicates"]
            cells.append(cell)
        print("| %s | %s |" % (BY_NAME[name].title, " | ".join(cells)))
    print()
    print("| scenario | " + " | ".join("%s longest call (ms)" % t for t in tracers) + " |")
    print("|---|" + "---|" * len(tracers))
    for name in args.scenarios.split(","):
        cells = ["%.2f" % (results[(name, t)]["longest_call"] * 1000) for t in tracers]
        print("| %s | %s |" % (BY_NAME[name].title, " | ".join(cells)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"%s/%s" % k: {**v, "made": len(v["made"]), "received": len(v["received"]), "spans": None}
                       for k, v in results.items()}, f, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
