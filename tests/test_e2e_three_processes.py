"""End to end across three processes: a client -> service A (WSGI) -> service B (ASGI, uvicorn), each a
separate Python process with ddfast's global tracer sending to a real Datadog test agent. The agent
receives one trace, with every parent link across the processes right and one sampling decision.

The processes mix the implementations (compiled in one, pure in the next), so the wire between the
twins is tested too."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from integration_helpers import RealAgent

pytest.importorskip("ddapm_test_agent")
pytest.importorskip("uvicorn")
pytest.importorskip("requests")

SERVICE_B = """
import socket, uvicorn, ddfast
from ddfast.contrib.asgi import TraceMiddleware

async def app(scope, receive, send):
    with ddfast.tracer.trace("inventory.lookup", resource="SELECT stock"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"12"})

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(16)
print("PORT", sock.getsockname()[1], ddfast.implementation(), flush=True)
config = uvicorn.Config(TraceMiddleware(app, service="inventory"), log_level="error", lifespan="off")
uvicorn.Server(config).run(sockets=[sock])
"""

SERVICE_A = """
import sys, wsgiref.simple_server, requests, ddfast
from ddfast.contrib.wsgi import TraceMiddleware

ddfast.patch(requests=True)
B = "http://127.0.0.1:%s" % sys.argv[1]

def app(environ, start_response):
    stock = requests.get(B + "/stock", timeout=10).text
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"in stock: " + stock.encode()]

class Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *a):
        pass

server = wsgiref.simple_server.make_server("127.0.0.1", 0, TraceMiddleware(app, service="web-store"),
                                           handler_class=Quiet)
print("PORT", server.server_port, ddfast.implementation(), flush=True)
server.serve_forever()
"""

CLIENT = """
import sys, requests, ddfast
ddfast.patch(requests=True)
with ddfast.tracer.trace("checkout.job", service="client", resource="nightly"):
    body = requests.get("http://127.0.0.1:%s/checkout" % sys.argv[1], timeout=10).text
ddfast.tracer.shutdown(timeout=10)
print(body, ddfast.implementation(), flush=True)
"""


@pytest.fixture(scope="module")
def agent():
    a = RealAgent()
    yield a
    a.stop()


def _env(agent, kind):
    env = dict(os.environ, DD_TRACE_AGENT_URL=agent.url, DD_TRACE_WRITER_INTERVAL_SECONDS="0.1")
    env.pop("DDFAST_NO_EXTENSIONS", None)
    env.pop("DD_SERVICE", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    return env


def _start(code, env, cwd, *args):
    # run outside the checkout, so each process imports the installed package (with its compiled modules)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)  # fmt: skip
    line = proc.stdout.readline().split()
    if not line or line[0] != "PORT":
        proc.kill()
        raise RuntimeError("service did not start: %s %s" % (line, proc.stderr.read()[-2000:]))
    return proc, line[1], line[2]


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("kinds", [("cython", "python", "cython"), ("python", "cython", "python")])
def test_one_trace_across_three_processes(agent, kinds, compiled_prop):
    client_kind, a_kind, b_kind = kinds
    agent.start_session()
    b, b_port, b_impl = _start(SERVICE_B, _env(agent, b_kind), agent.dir)
    try:
        a, a_port, a_impl = _start(SERVICE_A, _env(agent, a_kind), agent.dir, b_port)
        try:
            command = [sys.executable, "-c", textwrap.dedent(CLIENT), a_port]
            client = subprocess.run(command, env=_env(agent, client_kind), capture_output=True, text=True, timeout=60,
                                    cwd=agent.dir)  # fmt: skip
            assert client.returncode == 0, client.stderr
            assert client.stdout.split() == ["in", "stock:", "12", client_kind]
            assert (a_impl, b_impl) == (a_kind, b_kind)
            spans = _wait_for_spans(agent, 6)
        finally:
            _stop(a)
    finally:
        _stop(b)

    assert len({s["trace_id"] for s in spans}) == 1, "the spans belong to more than one trace"
    # the two requests spans have ddtrace's service, "requests": told apart by their resource
    by_key = {(s["service"], s["resource"] if s["service"] == "requests" else s["name"]): s for s in spans}
    assert len(by_key) == 6, sorted(by_key)
    chain = [
        ("client", "checkout.job"),
        ("requests", "GET /checkout"),
        ("web-store", "wsgi.request"),
        ("requests", "GET /stock"),
        ("inventory", "asgi.request"),
        ("inventory", "inventory.lookup"),
    ]
    for parent, child in zip(chain, chain[1:], strict=False):
        assert by_key[child]["parent_id"] == by_key[parent]["span_id"], (parent, child)
    assert by_key[chain[0]]["parent_id"] == 0
    roots = [by_key[k] for k in (chain[0], chain[2], chain[4])]  # each process's local root
    assert [r["metrics"]["_sampling_priority_v1"] for r in roots] == [1, 1, 1]  # one decision, carried
    assert {r["meta"]["_dd.p.dm"] for r in roots} == {"-0"}
    assert len({r["meta"]["_dd.p.tid"] for r in roots}) == 1  # the 128-bit trace id survived both hops
    assert by_key[("inventory", "asgi.request")]["meta"]["http.status_code"] == "200"


def _wait_for_spans(agent, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    spans = []
    while time.monotonic() < deadline:
        spans = [span for trace in agent.traces() for span in trace]
        if len(spans) >= count:
            time.sleep(0.3)  # anything more (there should be nothing) arrives too
            return [span for trace in agent.traces() for span in trace]
        time.sleep(0.1)
    raise AssertionError("the agent received %d spans, expected %d: %r" % (len(spans), count, spans))
