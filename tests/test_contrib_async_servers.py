"""aiohttp (server middleware and client trace config) and Tornado (patched), each serving on a
loopback port: the server span continues the caller's trace and the handler's outgoing call carries it
on. Plus the client patches on their own: urllib3, requests over urllib3 (traced once), ddfast.patch()."""

import asyncio
import threading

import integration_helpers as h
import pytest

import ddfast
from ddfast.contrib import aiohttp as traced_aiohttp
from ddfast.contrib import requests as traced_requests
from ddfast.contrib import tornado as traced_tornado
from ddfast.contrib import urllib3 as traced_urllib3


class LoopThread:
    """An asyncio loop in a thread, to serve from while the test calls in over HTTP."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.mark.parametrize("style", list(h.INCOMING))
def test_aiohttp_server_and_client(traced, style):
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    async def checkout(request):
        async with aiohttp.ClientSession(trace_configs=[traced_aiohttp.trace_config(tracer=traced)]) as session:
            async with session.get(traced.downstream.url + "/inventory?item=1") as response:
                text = await response.text()
        return web.Response(text="ok " + text)

    async def missing(request):
        raise web.HTTPNotFound()

    async def user(request):
        return web.Response(text="user " + request.match_info["id"])

    app = web.Application()
    app.router.add_get("/checkout", checkout)
    app.router.add_get("/missing", missing)
    app.router.add_get("/users/{id}", user)
    traced_aiohttp.trace_app(app, tracer=traced, service="shop")
    loop = LoopThread()
    sock = h.free_socket()
    runner = web.AppRunner(app)
    loop.run(runner.setup())
    loop.run(web.SockSite(runner, sock).start())
    try:
        status, body = h.get(sock.getsockname()[1], "/checkout?x=1", h.INCOMING[style])
        missing_status, _ = h.get(sock.getsockname()[1], "/missing", {})
        user_statuses = [h.get(sock.getsockname()[1], "/users/%d" % i, {})[0] for i in (7, 8)]
        unrouted_status, _ = h.get(sock.getsockname()[1], "/no/such/page", {})
    finally:
        loop.run(runner.cleanup())
        loop.close()
    assert status == 200 and body == b"ok downstream" and missing_status == 404
    assert user_statuses == [200, 200] and unrouted_status == 404
    spans = traced.writer.pop()
    servers = [s for s in spans if s.get_tag("span.kind") == "server"]
    server_span = next(s for s in servers if s.resource == "GET /checkout")
    client_span = next(s for s in spans if s.get_tag("span.kind") == "client")
    h.assert_continues(server_span, style)
    assert client_span.parent_id == server_span.span_id and client_span.name == "aiohttp.request"
    h.assert_sent_downstream(traced.downstream.received[-1], client_span)
    assert server_span.get_tag("http.status_code") == "200" and server_span.service == "shop"
    not_found = next(s for s in servers if s.resource == "GET /missing")  # an HTTPException: an error, as in ddtrace
    assert not_found.get_tag("http.status_code") == "404" and not_found.error == 1
    # named by the matched resource: one resource for every user, and one for every unknown URL
    users = [s for s in servers if "/users/" in (s.get_tag("http.url") or "")]
    assert [(s.resource, s.get_tag("http.route")) for s in users] == [("GET /users/{id}", "/users/{id}")] * 2
    unrouted = next(s for s in servers if s.get_tag("http.url").endswith("/no/such/page"))
    assert unrouted.resource == "404" and unrouted.get_tag("http.route") is None  # ddtrace's: the status


@pytest.mark.parametrize("style", list(h.INCOMING))
def test_tornado_server_with_urllib3_client(traced, style):
    pytest.importorskip("tornado")
    urllib3 = pytest.importorskip("urllib3")
    from tornado import httpserver
    from tornado import web

    traced_tornado.patch(tracer=traced, service="shop")
    traced_urllib3.patch(tracer=traced)
    pool = urllib3.PoolManager()

    class Checkout(web.RequestHandler):
        def get(self):
            response = pool.request("GET", traced.downstream.url + "/inventory?item=1")
            self.write("ok " + response.data.decode())

    class Boom(web.RequestHandler):
        def get(self):
            raise RuntimeError("boom")

    class User(web.RequestHandler):
        def get(self, user_id):
            self.write("user " + user_id)

    loop = LoopThread()
    sock = h.free_socket()

    sock.setblocking(False)

    async def start():
        app = web.Application([("/checkout", Checkout), ("/boom", Boom), (r"/users/([0-9]+)", User)])
        server = httpserver.HTTPServer(app)
        server.add_socket(sock)
        return server

    server = loop.run(start())
    try:
        status, body = h.get(sock.getsockname()[1], "/checkout", h.INCOMING[style])
        boom_status, _ = h.get(sock.getsockname()[1], "/boom", {})
        user_statuses = [h.get(sock.getsockname()[1], "/users/%d" % i, {})[0] for i in (7, 8)]
        unrouted_status, _ = h.get(sock.getsockname()[1], "/no/such/page", {})
    finally:
        loop.loop.call_soon_threadsafe(server.stop)
        loop.close()
    assert status == 200 and body == b"ok downstream" and boom_status == 500
    assert user_statuses == [200, 200] and unrouted_status == 404
    spans = traced.writer.pop()
    server_span = next(s for s in spans if s.resource.endswith(".Checkout"))  # ddtrace's: the handler's class
    client_span = next(s for s in spans if s.name == "urllib3.request")
    h.assert_continues(server_span, style)
    assert server_span.name == "tornado.request" and server_span.get_tag("http.status_code") == "200"
    assert server_span.resource == Checkout.__module__ + ".Checkout"
    assert server_span.get_tag("http.route") == "/checkout"
    assert client_span.parent_id == server_span.span_id
    h.assert_sent_downstream(traced.downstream.received[-1], client_span)
    boom = next(s for s in spans if s.resource.endswith(".Boom"))
    assert boom.error == 1 and boom.get_tag("http.status_code") == "500"
    assert boom.get_tag("error.type") == "builtins.RuntimeError" and boom.get_tag("error.message") == "boom"
    # http.route: the matched URL spec, reversed as Tornado does; unknown URLs share one resource
    users = [s for s in spans if "/users/" in (s.get_tag("http.url") or "")]
    assert [(s.resource, s.get_tag("http.route")) for s in users] == [(User.__module__ + ".User", "/users/%s")] * 2
    unrouted = next(s for s in spans if (s.get_tag("http.url") or "").endswith("/no/such/page"))
    assert unrouted.resource == "tornado.web.ErrorHandler" and unrouted.get_tag("http.route") == "^$"


def test_requests_over_urllib3_is_traced_once(traced):
    requests = pytest.importorskip("requests")
    traced_requests.patch(tracer=traced)
    traced_urllib3.patch(tracer=traced)
    with traced.trace("job"):
        requests.get(traced.downstream.url + "/a")
    names = sorted(s.name for s in traced.writer.pop())
    assert names == ["job", "requests.request"]
    assert len(traced.downstream.received) == 1


def test_one_span_per_exchange_and_each_exchange_traced(traced):
    """urllib3's retries call its urlopen again inside the first: one span for the exchange. Once an
    exchange ended, the next one, through urllib3 alone, is traced (the finished client span marks
    nothing)."""
    requests = pytest.importorskip("requests")
    urllib3 = pytest.importorskip("urllib3")
    traced_requests.patch(tracer=traced)
    traced_urllib3.patch(tracer=traced)
    retry = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0, raise_on_status=False)
    with traced.trace("job"):
        requests.get(traced.downstream.url + "/a")
        response = urllib3.PoolManager().request("GET", traced.downstream.url + "/status/503", retries=retry)
    assert response.status == 503 and len(traced.downstream.received) == 1 + 3
    names = sorted(s.name for s in traced.writer.pop())
    assert names == ["job", "requests.request", "urllib3.request"]


def test_urllib3_leaves_the_callers_headers_alone(traced):
    urllib3 = pytest.importorskip("urllib3")
    traced_urllib3.patch(tracer=traced)
    mine = {"X-Mine": "1"}
    with traced.trace("job"):
        urllib3.PoolManager().request("GET", traced.downstream.url + "/status/503", headers=mine)
    assert mine == {"X-Mine": "1"}
    received = traced.downstream.received[-1]
    assert received["x-mine"] == "1" and "x-datadog-trace-id" in received
    span = next(s for s in traced.writer.pop() if s.name == "urllib3.request")
    assert span.get_tag("http.status_code") == "503" and span.error == 1  # 5xx, as ddtrace marks it


def test_patching_twice_traces_once_and_unpatch_restores(traced):
    requests = pytest.importorskip("requests")
    original = requests.Session.send
    assert traced_requests.patch(tracer=traced) is True
    assert traced_requests.patch(tracer=traced) is False
    with traced.trace("job"):
        requests.get(traced.downstream.url + "/a")
    assert sorted(s.name for s in traced.writer.pop()) == ["job", "requests.request"]
    traced_requests.unpatch()
    assert requests.Session.send is original


def test_ddfast_patch_entry_point(traced, caplog):
    pytest.importorskip("requests")
    assert ddfast.patch(tracer=traced, requests=True, httpx=False) == ["requests"]
    with pytest.raises(TypeError, match="cannot patch pylons"):
        ddfast.patch(pylons=True)


def test_disabled_tracer_traces_nothing(traced):
    requests = pytest.importorskip("requests")
    traced_requests.patch(tracer=traced)
    traced.enabled = False
    try:
        requests.get(traced.downstream.url + "/a")
    finally:
        traced.enabled = True
    assert traced.writer.pop() == [] and "x-datadog-trace-id" not in traced.downstream.received[-1]
