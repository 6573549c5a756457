"""Shutdown: SIGTERM (and SIGINT where the program has its own handler) sends what is buffered, then the
signal does what it would have done; a handler the program installed before ddfast still runs, one it
installs later replaces ddfast's, an ignored signal stays ignored; forked workers keep it. Each case in
a process of its own, on both twins."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import load_twin
from fault_agent import FaultAgent

PROGRAM = """
import json, os, signal, sys, time
{before}
from ddfast.tracer import Tracer
tracer = Tracer()
{after}
for i in range(20):
    with tracer.trace("job"):
        pass
{fork}
ignored = signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
print(json.dumps({{"pid": os.getpid(), "handler": str(ignored)}}), flush=True)
time.sleep(3)
print("still running", flush=True)
"""


@pytest.fixture
def agent():
    a = FaultAgent().start()
    yield a
    a.close()


def _env(agent, kind, **settings):
    """The environment of a program tracing with ``kind`` (the compiled case skips where not built)."""
    load_twin("span", kind)
    env = dict(os.environ, DD_TRACE_AGENT_URL=agent.url, DD_TRACE_WRITER_INTERVAL_SECONDS="60", **settings)
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    return env


def _run(agent, kind, before="", after="", fork="", sig=signal.SIGTERM):
    env = _env(agent, kind)
    source = PROGRAM.format(before=before, after=after, fork=fork)
    proc = subprocess.Popen(
        [sys.executable, "-c", source], env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    info = json.loads(proc.stdout.readline())
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.1)
    return proc.returncode, info, out, err


def test_sigterm_with_the_default_handler_sends_then_terminates(agent, kind):
    code, info, out, _ = _run(agent, kind)
    assert code == -signal.SIGTERM and "still running" not in out
    assert len(agent.received) == 20  # the writer's interval (60 s) never came: the signal sent them


def test_a_handler_installed_before_ddfast_still_runs_after_the_flush(agent, kind):
    # os.write, not print: the signal may come while the main thread is still inside its print of the
    # ready line, and a print from the handler would then be a reentrant call on stdout's buffer
    before = "signal.signal(signal.SIGTERM, lambda s, f: os.write(1, b'own handler\\n'))"
    code, _, out, err = _run(agent, kind, before=before)
    # the program's handler ran (and the program, not ending, ran on: SIGTERM was its to handle)
    assert code == 0 and "own handler" in out and "still running" in out, err[-2000:]
    assert len(agent.received) == 20


def test_a_handler_installed_after_ddfast_replaces_it(agent, kind):
    after = "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(3))"
    code, _, _, _ = _run(agent, kind, after=after)
    assert code == 3
    assert len(agent.received) == 20  # sent at exit, as always


def test_an_ignored_signal_stays_ignored(agent, kind):
    code, info, out, _ = _run(agent, kind, before="signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    assert info["handler"] == "True"
    assert code == 0 and "still running" in out


def test_sigint_with_pythons_own_handler_is_left_to_keyboardinterrupt_and_atexit(agent, kind):
    # Python installs its handler only where SIGINT is not ignored (a background job's is): install it here
    own = "signal.signal(signal.SIGINT, signal.default_int_handler)"
    code, info, out, err = _run(agent, kind, before=own, sig=signal.SIGINT)
    assert "KeyboardInterrupt" in err and code == -signal.SIGINT  # Python re-raises it at exit
    assert len(agent.received) == 20


def test_a_forked_worker_keeps_the_handler(agent, kind):
    fork = (
        "child = os.fork()\n"
        "if child:\n"
        "    os.waitpid(child, 0)\n"
        "    sys.exit(0)\n"
        "for i in range(5):\n"
        "    with tracer.trace('child-job'):\n"
        "        pass\n"
    )
    # only the child says it is ready; the signal goes to it
    env = _env(agent, kind)
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM.format(before="", after="", fork=fork)],
        env=env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child = json.loads(proc.stdout.readline())["pid"]
    os.kill(child, signal.SIGTERM)
    proc.communicate(timeout=20)
    time.sleep(0.1)
    # the parent's 20 at its exit, the child's 5 at its SIGTERM; none twice
    assert len(agent.received) == 25 and set(agent.received.values()) == {1}


def test_exit_with_the_agent_absent_keeps_its_bound_and_says_what_was_lost(kind):
    agent = FaultAgent(lambda now, size: None).start()  # never listening
    env = _env(agent, kind, DDFAST_SHUTDOWN_TIMEOUT_SECONDS="1")
    code = "from ddfast.tracer import Tracer\nt = Tracer()\nfor i in range(20):\n    t.trace('job').finish()\n"
    try:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True, timeout=30
        )
        took = time.monotonic() - start
    finally:
        agent.close()
    assert done.returncode == 0
    assert took < 5  # 1 s to send, then the interpreter's own exit; never the 20 s of a payload's retries
    (line,) = [line for line in done.stderr.splitlines() if "not sent to the agent" in line]
    assert line.startswith("ddfast: 20 trace(s) not sent to the agent at http://127.0.0.1:")
