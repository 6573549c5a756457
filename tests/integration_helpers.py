"""Shared pieces of the integration tests: a downstream service on loopback that records the headers it
receives, the incoming header sets (one per propagation style) and the checks every integration meets."""

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TRACE_ID = 0x640CFD8D0000000000000000075BCD15
PARENT_ID = 0x00000000000001C8
LOW = TRACE_ID & 0xFFFFFFFFFFFFFFFF

#: style -> the headers a caller of that style sends (priority: keep)
INCOMING = {
    "datadog": {
        "x-datadog-trace-id": str(LOW),
        "x-datadog-parent-id": str(PARENT_ID),
        "x-datadog-sampling-priority": "2",
        "x-datadog-origin": "synthetics",
        "x-datadog-tags": "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000",
    },
    "tracecontext": {
        "traceparent": "00-%032x-%016x-01" % (TRACE_ID, PARENT_ID),
        "tracestate": "dd=s:2;o:synthetics;t.dm:-4,congo=t61rcWkgMzE",
    },
    "b3": {"b3": "%032x-%016x-d" % (TRACE_ID, PARENT_ID)},
}
#: styles every integration test configures, both ways
STYLES = ("datadog", "tracecontext", "b3multi", "b3", "baggage")


class Downstream:
    """An HTTP service on a free loopback port; ``received`` holds each request's headers (lower-case
    names). ``/status/NNN`` answers with that status."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                received.append({k.lower(): v for k, v in self.headers.items()})
                status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
                body = b"downstream"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def get(port, path, headers):
    """GET ``path`` from a loopback ``port`` with ``headers``: ``(status, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def free_socket():
    """A bound, listening loopback socket (for servers that take one)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def spans_by_name(tracer):
    return {s.name: s for s in tracer.writer.pop()}


def assert_continues(server_span, style):
    """The server span continues the caller's trace, with the caller's decision."""
    assert server_span.trace_id == TRACE_ID, (style, hex(server_span.trace_id))
    assert server_span.parent_id == PARENT_ID
    assert server_span._trace_ctx._priority == 2  # user keep: x-datadog 2, tracestate s:2, b3 debug


def assert_sent_downstream(headers, client_span):
    """The downstream call carried the client span's context in the configured styles."""
    assert headers["x-datadog-trace-id"] == str(LOW)
    assert headers["x-datadog-parent-id"] == str(client_span.span_id)
    assert headers["x-datadog-sampling-priority"] == "2"
    assert headers["traceparent"] == "00-%032x-%016x-01" % (TRACE_ID, client_span.span_id)
    assert headers["x-b3-traceid"] == "%032x" % TRACE_ID
    assert headers["x-b3-spanid"] == "%016x" % client_span.span_id


def django_urls(view):
    """Configure Django once per process (no apps, no middleware) and route ``/checkout`` to ``view``."""
    import types

    import django
    from django.conf import settings
    from django.urls import clear_url_caches
    from django.urls import path

    name = "ddfast_test_django_urls"
    if not settings.configured:
        settings.configure(
            DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=name, SECRET_KEY="test", MIDDLEWARE=[], INSTALLED_APPS=[]
        )
        django.setup()
    module = sys.modules.get(name) or types.ModuleType(name)
    module.urlpatterns = [path("checkout", view)]
    sys.modules[name] = module
    clear_url_caches()


CHECKS = "trace_count_header,meta_tracer_version_header,trace_content_length"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealAgent:
    """The Datadog test agent (ddapm-test-agent) in a subprocess, on free loopback ports and a unix socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ddfast-agent-")
        self.socket_path = os.path.join(self.dir, "apm.socket")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ, ENABLED_CHECKS=CHECKS, LOG_LEVEL="WARNING")
        args = [sys.executable, "-m", "ddapm_test_agent.agent", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--otlp-http-port", str(free_port()), "--otlp-grpc-port", str(free_port())]
        args += ["--trace-uds-socket", self.socket_path]
        self.log = open(os.path.join(self.dir, "agent.log"), "w+")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/info")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.log.seek(0)
                    raise RuntimeError("the test agent did not start:\n" + self.log.read()[-3000:]) from None
                time.sleep(0.1)

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.status, response.read()

    def start_session(self, rates=None):
        query = ""
        if rates is not None:
            query = "?agent_sample_rate_by_service=" + urllib.request.quote(json.dumps(rates))
        assert self.get("/test/session/start" + query)[0] == 200

    def traces(self):
        return json.loads(self.get("/test/session/traces")[1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def wsgi_get(app, path, headers=None):
    """One in-process GET of WSGI ``app`` (headers as a client sends them): the status code, the body
    read whole and closed."""
    import io
    import wsgiref.util

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()})
    statuses = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(body)
    getattr(body, "close", lambda: None)()
    return int(statuses[0].split()[0])
