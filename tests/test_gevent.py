"""gevent: gunicorn's gevent worker serving a Flask app that calls a downstream service with
``requests``, 1,000 requests over 50 concurrent connections, with gevent's monkey-patching done after
ddfast is imported (``ddfast-run``) and before (the application imports ddfast itself). Every request
is answered and every trace arrives whole: the writer's thread is a real thread, so a greenlet never
waits on a lock the writer holds, and the writer never waits on the application's hub. Both twins."""

import concurrent.futures
import http.client
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import load_twin
from fault_agent import FaultAgent
from integration_helpers import free_port

pytest.importorskip("gevent")
pytest.importorskip("gunicorn")

REQUESTS = 1000
CONNECTIONS = 50

APP = """
import os
{setup}
import flask
import requests

app = flask.Flask(__name__)
DOWNSTREAM = "http://127.0.0.1:%s/stock" % os.environ["DOWNSTREAM_PORT"]


@app.route("/order/<int:n>")
def order(n):
    return "ok %d %d" % (n, requests.get(DOWNSTREAM, timeout=10).status_code)
"""
# the application imports ddfast after the gevent worker has monkey-patched everything
SELF_PATCHED = "import ddfast\nddfast.patch(flask=True, requests=True)"


class Downstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class DownstreamServer(http.server.ThreadingHTTPServer):
    # the worker's 50 greenlets connect at once: a listen backlog of 5 (the default) can drop the
    # handshake of some, and their retries then outlast the worker's timeout
    request_queue_size = 256


@pytest.fixture(scope="module")
def downstream():
    server = DownstreamServer(("127.0.0.1", 0), Downstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _client(port, requests):
    """One keep-alive connection sending ``requests`` (request numbers); the statuses."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    statuses = []
    try:
        for n in requests:
            conn.request("GET", "/order/%d" % n)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        conn.close()
    return statuses


@pytest.mark.parametrize("patched", ["after-ddfast", "before-ddfast"])
def test_gunicorn_gevent_worker_serves_and_traces_every_request(tmp_path, kind, downstream, patched):
    load_twin("span", kind)  # skips the compiled case where it is not built
    agent = FaultAgent().start()
    (tmp_path / "app.py").write_text(APP.format(setup=SELF_PATCHED if patched == "before-ddfast" else ""))
    port = free_port()
    env = dict(os.environ, DD_TRACE_AGENT_URL=agent.url, DD_SERVICE="shop", DOWNSTREAM_PORT=str(downstream))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    command = ["gunicorn", "-k", "gevent", "--worker-connections", "200", "--timeout", "30", "-b"]
    command += ["127.0.0.1:%d" % port, "app:app"]
    if patched == "after-ddfast":
        command.insert(0, "ddfast-run")
    proc = subprocess.Popen(command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:  # a connection, no request: the first traces come from 50 requests at once
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("gunicorn did not start") from None
                time.sleep(0.2)
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(CONNECTIONS) as pool:
            parts = [range(i, REQUESTS, CONNECTIONS) for i in range(CONNECTIONS)]
            statuses = [s for part in pool.map(lambda p: _client(port, p), parts) for s in part]
        served_in = time.monotonic() - started
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
        agent.close()
    served = "served %d in %.1f s; the worker said:\n%s" % (statuses.count(200), served_in, output[-3000:])
    assert statuses == [200] * REQUESTS, served
    # every request's trace arrived (sent while serving, the rest at the worker's exit), whole: the
    # server span and the downstream call's client span
    assert len(agent.received) == REQUESTS, output[-3000:]
    assert set(agent.spans.values()) == {2}
    assert max(agent.received.values()) == 1
