"""``ddfast demo``: one distributed trace across two real HTTP services on loopback, printed as a tree.

A client starts a trace and calls ``web-store`` (a WSGI app behind ``ddfast.contrib.wsgi``), which
calls ``inventory`` (another one) over HTTP: the trace context crosses both hops in the configured
propagation styles, exactly as between two processes. The spans are collected in-process (an
``InMemoryWriter``) and, when ``DD_TRACE_AGENT_URL`` or ``DD_AGENT_HOST`` is set, also sent to that
Datadog agent.
"""

import http.client
import json
import os
import socketserver
import threading
import wsgiref.simple_server

from ddfast.contrib.wsgi import TraceMiddleware
from ddfast.propagation import HTTPPropagator
from ddfast.tracer import Tracer
from ddfast.writer import InMemoryWriter

_PRIORITY = {-1: "user reject", 0: "auto reject", 1: "auto keep", 2: "user keep"}


class _Server(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _serve(app):
    """Serve ``app`` on a free loopback port in a daemon thread; the server."""
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(
        target=server.serve_forever, args=(0.05,), name="ddfast-demo-%d" % server.server_port, daemon=True
    ).start()
    return server


def _get(tracer, service, port, path, sent):
    """GET ``path`` on loopback ``port`` inside a client span; the headers sent go to ``sent``."""
    with tracer.trace("http.request", service=service, resource="GET " + path, span_type="http") as span:
        span.set_tag("span.kind", "client")
        span.set_tag("http.method", "GET")
        span.set_tag("http.url", "http://127.0.0.1:%d%s" % (port, path))
        headers = {}
        HTTPPropagator.inject(span.context, headers)
        sent.append(headers)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        span.set_tag("http.status_code", str(response.status))
        return body


def run(writer=None):
    """Send one request through the two services; ``(spans, sent)``: every finished span of the trace
    and the headers sent on each hop (client -> web-store, web-store -> inventory)."""
    memory = InMemoryWriter()
    agent = writer
    if agent is None and (os.environ.get("DD_TRACE_AGENT_URL") or os.environ.get("DD_AGENT_HOST")):
        from ddfast.writer import AgentWriter

        agent = AgentWriter()
    sink = memory if agent is None else _Tee(memory, agent)
    client, store, inventory = (Tracer(writer=sink) for _ in range(3))
    sent = []

    def inventory_app(environ, start_response):
        with inventory.trace("inventory.lookup", service="inventory", resource="SELECT stock") as span:
            span.set_tag("item", "espresso-beans")
            body = json.dumps({"item": "espresso-beans", "in_stock": 12}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    backend = _serve(TraceMiddleware(inventory_app, tracer=inventory, service="inventory"))

    def store_app(environ, start_response):
        stock = json.loads(_get(store, "web-store", backend.server_port, "/stock/espresso-beans", sent))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"in stock: %d\n" % stock["in_stock"]]

    frontend = _serve(TraceMiddleware(store_app, tracer=store, service="web-store"))
    try:
        with client.trace("demo.request", service="demo-client", resource="GET /checkout"):
            _get(client, "demo-client", frontend.server_port, "/checkout", sent)
    finally:
        frontend.shutdown()
        backend.shutdown()
        frontend.server_close()
        backend.server_close()
    for t in (client, store, inventory):
        t.flush()
    if agent is not None:
        agent.stop()
    return memory.pop(), sent


class _Tee:
    """Writes each trace to two writers."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def write(self, spans):
        self.first.write(spans)
        self.second.write(spans)

    def flush_queue(self):
        self.second.flush_queue()

    def stop(self, timeout=None):
        self.first.stop(timeout)
        self.second.stop(timeout)


def tree(spans):
    """The spans as text: one line per span under its parent, children in start order."""
    by_parent = {}
    ids = {s.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_ns):
        parent = span.parent_id if span.parent_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    lines = []

    def walk(span, prefix, last):
        ms = (span.duration_ns or 0) / 1e6
        error = "  ERROR" if span.error else ""
        lines.append(
            "%s%s %s  %s  %s  span %016x  %.2f ms%s"
            % (prefix, "└─" if last else "├─", span.service, span.name, span.resource, span.span_id, ms, error)
        )
        children = by_parent.get(span.span_id, [])
        for i, child in enumerate(children):
            walk(child, prefix + ("   " if last else "│  "), i == len(children) - 1)

    roots = by_parent.get(None, [])
    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    return "\n".join(lines)


def report(spans, sent):
    """What ``ddfast demo`` prints: the trace, its sampling decision, the headers on each hop, the tree."""
    out = []
    trace_ids = {s.trace_id for s in spans}
    roots = [s for s in spans if "_sampling_priority_v1" in s.get_metrics()]
    out.append("one request through two services on loopback: demo-client -> web-store -> inventory\n")
    for hop, headers in zip(("demo-client -> web-store", "web-store -> inventory"), sent, strict=False):
        out.append("headers %s:" % hop)
        out.extend("  %s: %s" % kv for kv in headers.items())
    out.append("")
    if len(trace_ids) == 1:
        out.append(
            "trace %032x: %d spans, %d services" % (trace_ids.pop(), len(spans), len({s.service for s in spans}))
        )
    else:
        out.append("BROKEN: the spans belong to %d traces" % len(trace_ids))
    out.append("sampling decision, made once by the first service and carried in the headers:")
    for root in sorted(roots, key=lambda s: s.start_ns):
        priority = int(root.get_metric("_sampling_priority_v1"))
        out.append(
            "  %-12s priority %d (%s), decision maker %s"
            % (root.service, priority, _PRIORITY.get(priority, "?"), root.get_tag("_dd.p.dm"))
        )
    out.append("")
    out.append(tree(spans))
    return "\n".join(out)
