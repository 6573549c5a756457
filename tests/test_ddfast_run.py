"""``ddfast-run``: unmodified programs traced end to end, as a user runs them: gunicorn (forked sync
workers) serving a Flask app, and uvicorn serving a FastAPI app, each sending its traces to the real
Datadog test agent; and the runner's own command line. On both implementations."""

import os
import subprocess
import sys
import time

import pytest
from integration_helpers import RealAgent
from integration_helpers import free_port
from integration_helpers import get

FLASK_APP = """
from flask import Flask

app = Flask(__name__)


@app.route("/hello/<name>")
def hello(name):
    return "hello " + name
"""

FASTAPI_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello/{name}")
def hello(name: str):
    return {"hello": name}
"""

INCOMING = {"x-datadog-trace-id": "1234567", "x-datadog-parent-id": "7654321", "x-datadog-sampling-priority": "1"}
RUNNER = os.path.join(os.path.dirname(sys.executable), "ddfast-run")


@pytest.fixture(scope="module")
def agent():
    a = RealAgent()
    try:
        yield a
    finally:
        a.stop()


def _serve(tmp_path, agent, kind, source, command):
    """Start ``ddfast-run <command>`` on a free port serving ``source`` as ``app.py``; (process, port)."""
    (tmp_path / "app.py").write_text(source)
    port = free_port()
    env = dict(
        os.environ, DD_TRACE_AGENT_URL=agent.url, DD_SERVICE="svc-" + kind, DD_TRACE_WRITER_INTERVAL_SECONDS="0.2"
    )
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # the venv's servers
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    args = [RUNNER] + [part.replace("PORT", str(port)) for part in command]
    proc = subprocess.Popen(args, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if get(port, "/hello/up", {})[0] == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the server did not start:\n" + proc.stdout.read().decode()[-3000:])
        time.sleep(0.2)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _traces_of(agent, trace_id, deadline=15):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = [t for t in agent.traces() if t and t[0]["trace_id"] == trace_id]
        if found:
            return found
        time.sleep(0.2)
    return []


@pytest.mark.parametrize(
    "server,source,command,span_name,route",
    [
        ("gunicorn", FLASK_APP, ["gunicorn", "--workers", "2", "--bind", "127.0.0.1:PORT", "app:app"],
         "flask.request", "/hello/<name>"),
        ("uvicorn", FASTAPI_APP, ["uvicorn", "--port", "PORT", "--host", "127.0.0.1", "app:app"],
         "fastapi.request", "/hello/{name}"),
    ],
)  # fmt: skip
def test_an_unmodified_service_is_traced_under_ddfast_run(
    tmp_path, agent, kind, server, source, command, span_name, route
):
    agent.start_session()
    proc, port = _serve(tmp_path, agent, kind, source, command)
    try:
        for i in range(4):  # several requests: with gunicorn, more than one forked worker answers
            headers = dict(INCOMING, **{"x-datadog-trace-id": str(1234567 + i)})
            assert get(port, "/hello/%d" % i, headers)[0] == 200
        for i in range(4):
            (trace,) = _traces_of(agent, 1234567 + i)
            (span,) = [s for s in trace if s["name"] == span_name]
            assert span["parent_id"] == 7654321 and span["service"] == "svc-" + kind
            # one resource per route, not per URL: the framework's own route template
            assert span["resource"] == "GET " + route and span["meta"]["http.route"] == route
            assert span["meta"]["http.status_code"] == "200" and span["meta"]["http.url"].endswith("/hello/%d" % i)
            assert span["metrics"]["_sampling_priority_v1"] == 1
            assert span["meta"]["language"] == "python"
        # a URL no route matches: Flask's one resource, FastAPI's the path (both as in ddtrace)
        assert get(port, "/no/such/page", dict(INCOMING, **{"x-datadog-trace-id": "7777777"}))[0] == 404
        (trace,) = _traces_of(agent, 7777777)
        (span,) = [s for s in trace if s["name"] == span_name]
        missing = "GET 404" if server == "gunicorn" else "GET /no/such/page"
        assert span["resource"] == missing and "http.route" not in span["meta"]
    finally:
        _stop(proc)


def test_the_runner_says_how_to_use_it_and_reports_a_missing_command():
    usage = subprocess.run([RUNNER], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: ddfast-run COMMAND" in usage.stderr
    missing = subprocess.run([RUNNER, "no-such-command-here"], capture_output=True, text=True)
    assert missing.returncode == 127 and "command not found: no-such-command-here" in missing.stderr


def test_a_program_keeps_its_own_sitecustomize(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITECUSTOMIZE'] = 'ran'\n")
    code = (
        "import os, flask, ddfast.contrib._patch as p;"
        " print(os.environ.get('OWN_SITECUSTOMIZE'), p.is_wrapped(flask.Flask, 'wsgi_app'))"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run(
        [RUNNER, sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ran", "True"]


def test_the_runner_patches_what_ddtrace_run_patches():
    """ddtrace-run's defaults: urllib3 and Tornado stay untraced unless enabled; ``DD_TRACE_<LIB>_ENABLED``
    turns one on or off and ``DD_PATCH_MODULES`` overrides both."""
    from ddfast.patching import PATCHABLE
    from ddfast.patching import enabled_by_default

    assert sorted(enabled_by_default({})) == sorted(set(PATCHABLE) - {"urllib3", "tornado"})
    env = {"DD_TRACE_URLLIB3_ENABLED": "true", "DD_TRACE_FLASK_ENABLED": "false"}
    assert set(PATCHABLE) - set(enabled_by_default(env)) == {"tornado", "flask"}
    env["DD_PATCH_MODULES"] = "tornado:true, urllib3:false,flask:true"
    assert set(PATCHABLE) - set(enabled_by_default(env)) == {"urllib3"}
