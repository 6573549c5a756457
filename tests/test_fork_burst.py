"""Fork bursts: a traced parent whose writer is live (sending every 50 ms to a fake agent, payloads in
flight) forks 300 children in a loop, tracing between forks; each child makes a trace and exits normally
(``sys.exit``, so ddfast's exit flush sends it). Every child exits, none hangs on a lock the parent held
at the fork; every child's trace arrives once; every trace of the parent (before, during and after the
burst) arrives exactly once, so no child ever sent the parent's buffer. Both twins. The cost of
``fork()`` itself is measured in ``benches/process_costs.py``."""

import json
import os
import subprocess
import sys

import pytest
from fault_agent import FaultAgent

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILDREN = 300
#: a child still running this long after its fork is taken as hung (a child normally lives a few ms; this
#: is a liveness bound on a loaded machine, not a measure of speed)
CHILD_BOUND_SECONDS = 60.0
#: each child's bound on its exit flush: 300 children exiting at once overflow the fake agent's listen
#: backlog (128), and a refused connection is retried, so the default 5 s is too short on a loaded machine
SHUTDOWN_SECONDS = "30"
#: one request's bound: the fake agent, in the test's process, can take seconds to answer them all, and a
#: payload whose answer comes after the timeout is sent again (at least once, by design): a long timeout
#: keeps every duplicate here a real one (a child sending what its parent had buffered)
AGENT_TIMEOUT_SECONDS = "25"

PROGRAM = r"""
import json, os, sys, time

import ddfast

tracer = ddfast.tracer
out, children, bound = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])


def trace(name):
    with tracer.trace(name, service="fork-burst", resource=name) as root:
        with tracer.trace("work"):
            pass
    return root.trace_id & (2**64 - 1)  # what the agent receives as the span's trace id


parent_traces = [trace("before") for _ in range(100)]
time.sleep(0.2)  # the writer's thread is sending
r, w = os.pipe()
started, ended, statuses, fork_seconds = {}, {}, {}, []


def reap(block_until=None):
    while started.keys() - ended.keys():
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if block_until is None or time.monotonic() > block_until:
                return
            time.sleep(0.005)
            continue
        ended[pid] = time.monotonic()
        statuses[pid] = os.waitstatus_to_exitcode(status)


for i in range(children):
    parent_traces.append(trace("during"))
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, b"%d\n" % trace("child"))
        os.close(w)
        sys.exit(0)  # a normal exit: atexit handlers run, ddfast sends the child's trace
    fork_seconds.append(time.monotonic() - t0)
    started[pid] = t0
    reap()
reap(block_until=time.monotonic() + bound)
hung = sorted(started.keys() - ended.keys())
for pid in hung:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
os.close(w)
data = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
parent_traces += [trace("after") for _ in range(50)]
with open(out, "w") as f:
    json.dump(
        {
            "parent": parent_traces,
            "children": [int(line) for line in data.split()],
            "hung": hung,
            "statuses": sorted(set(statuses.values())),
            "forked": len(started),
            "longest_child": max(ended[p] - started[p] for p in ended),
            "fork_p99": sorted(fork_seconds)[int(len(fork_seconds) * 0.99)],
        },
        f,
    )
"""


@pytest.mark.parametrize("kind", ["cython", "python"])
def test_fork_burst(kind, tmp_path):
    agent = FaultAgent().start()
    try:
        env = dict(os.environ, DD_TRACE_AGENT_URL=agent.url, DD_TRACE_WRITER_INTERVAL_SECONDS="0.05")
        env["DDFAST_SHUTDOWN_TIMEOUT_SECONDS"] = SHUTDOWN_SECONDS
        env["DD_TRACE_AGENT_TIMEOUT_SECONDS"] = AGENT_TIMEOUT_SECONDS
        env.pop("DDFAST_NO_EXTENSIONS", None)
        if kind == "python":
            env["DDFAST_NO_EXTENSIONS"] = "1"
        out = tmp_path / "result.json"
        proc = subprocess.run(
            [sys.executable, "-c", PROGRAM, str(out), str(CHILDREN), str(CHILD_BOUND_SECONDS)],
            cwd=tmp_path,  # not the checkout: the installed package is the one under test
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr and "not sent to the agent" not in proc.stderr, proc.stderr[-3000:]
        result = json.loads(out.read_text())
    finally:
        agent.close()
    assert result["forked"] == CHILDREN
    assert result["hung"] == [], "children still running %.0f s after their fork" % CHILD_BOUND_SECONDS
    assert result["statuses"] == [0]
    assert len(result["children"]) == CHILDREN  # every child traced and wrote its id before exiting
    parent, children = result["parent"], result["children"]
    assert len(set(parent)) == len(parent) == 100 + CHILDREN + 50
    assert not set(parent) & set(children)  # each child draws its own ids
    received = agent.received
    # every trace exactly once: the parent's (no child sent the buffer it inherited) and the children's
    assert {t: received.get(t, 0) for t in parent} == dict.fromkeys(parent, 1)
    assert {t: received.get(t, 0) for t in children} == dict.fromkeys(children, 1)
    assert set(received) == set(parent) | set(children)
