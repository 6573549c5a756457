"""``ddfast.contrib.asgi.TraceMiddleware`` with real ASGI frameworks (Starlette, Falcon's ASGI app,
Django's ASGI handler) served by uvicorn on a loopback port: the server span continues the caller's
trace, and the call the handler makes with ``httpx.AsyncClient`` (patched) carries it on."""

import asyncio
import threading
import time

import integration_helpers as h
import pytest

from ddfast.contrib import httpx as traced_httpx
from ddfast.contrib.asgi import TraceMiddleware

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")


async def _call_downstream(url):
    async with httpx.AsyncClient() as client:
        response = await client.get(url + "/inventory?item=1", timeout=10)
        return response.text


def starlette_app(downstream):
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def checkout(request):
        return PlainTextResponse("ok " + await _call_downstream(downstream))

    async def boom(request):
        raise RuntimeError("boom")

    return Starlette(routes=[Route("/checkout", checkout), Route("/boom", boom)])


def fastapi_app(downstream):
    fastapi = pytest.importorskip("fastapi")
    from fastapi.responses import PlainTextResponse

    app = fastapi.FastAPI()

    @app.get("/checkout", response_class=PlainTextResponse)
    async def checkout():
        return "ok " + await _call_downstream(downstream)

    return app


def falcon_app(downstream):
    falcon_asgi = pytest.importorskip("falcon.asgi")

    class Checkout:
        async def on_get(self, req, resp):
            resp.text = "ok " + await _call_downstream(downstream)

    app = falcon_asgi.App()
    app.add_route("/checkout", Checkout())
    return app


def django_app(downstream):
    pytest.importorskip("django")
    from django.core.asgi import get_asgi_application
    from django.http import HttpResponse

    async def checkout(request):
        return HttpResponse("ok " + await _call_downstream(downstream))

    h.django_urls(checkout)
    return get_asgi_application()


FRAMEWORKS = {"starlette": starlette_app, "fastapi": fastapi_app, "falcon": falcon_app, "django": django_app}


class Served:
    """An ASGI app served by uvicorn in a thread, on a loopback socket of its own."""

    def __init__(self, app):
        self.sock = h.free_socket()
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="error", lifespan="off", loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "uvicorn did not start"

    def close(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.mark.parametrize("style", list(h.INCOMING))
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_framework_continues_and_propagates_the_trace(traced, framework, style):
    traced_httpx.patch(tracer=traced)
    served = Served(TraceMiddleware(FRAMEWORKS[framework](traced.downstream.url), tracer=traced, service="shop"))
    try:
        status, body = h.get(served.port, "/checkout?session=1", dict(h.INCOMING[style], **{"User-Agent": "t"}))
    finally:
        served.close()
    assert status == 200 and body == b"ok downstream"
    spans = h.spans_by_name(traced)
    server_span, client_span = spans["asgi.request"], spans["http.request"]
    h.assert_continues(server_span, style)
    assert client_span.parent_id == server_span.span_id
    h.assert_sent_downstream(traced.downstream.received[-1], client_span)
    assert server_span.resource == "GET /checkout" and server_span.service == "shop"
    assert server_span.get_tag("http.url") == "http://127.0.0.1:%d/checkout" % served.port
    assert server_span.get_tag("http.status_code") == "200" and server_span.get_tag("http.useragent") == "t"
    assert client_span.get_tag("component") == "httpx" and client_span.get_tag("http.status_code") == "200"


def test_an_exception_in_the_app_marks_the_span(traced):
    served = Served(TraceMiddleware(starlette_app(traced.downstream.url), tracer=traced))
    try:
        status, _ = h.get(served.port, "/boom", h.INCOMING["datadog"])
    finally:
        served.close()
    assert status == 500
    span = h.spans_by_name(traced)["asgi.request"]
    assert span.error == 1 and span.get_tag("http.status_code") == "500"
    assert span.get_tag("error.type") == "builtins.RuntimeError"


def test_lifespan_and_websocket_scopes_pass_through(traced):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    middleware = TraceMiddleware(app, tracer=traced)
    asyncio.run(middleware({"type": "lifespan"}, None, None))
    asyncio.run(middleware({"type": "websocket", "headers": []}, None, None))
    assert seen == ["lifespan", "websocket"] and traced.writer.pop() == []


def test_httpx_sync_client_and_error_status(traced):
    traced_httpx.patch(tracer=traced)
    with traced.trace("job"):
        with httpx.Client() as client:
            assert client.get(traced.downstream.url + "/status/404").status_code == 404
            assert client.get(traced.downstream.url + "/status/503").status_code == 503
    spans = traced.writer.pop()
    job = next(s for s in spans if s.name == "job")
    client_span, failed = sorted((s for s in spans if s.name == "http.request"), key=lambda s: s.start_ns)
    assert client_span.parent_id == job.span_id and failed.parent_id == job.span_id
    assert client_span.error == 0 and failed.error == 1  # ddtrace's: 5xx is an error, 4xx is not
    assert client_span.get_tag("http.status_code") == "404" and failed.get_tag("http.status_code") == "503"
    assert client_span.resource == "http.request"  # ddtrace's, one for every URL
    headers = traced.downstream.received[-1]
    assert headers["x-datadog-parent-id"] == str(failed.span_id)


def test_a_connection_error_is_recorded_on_the_client_span(traced):
    traced_httpx.patch(tracer=traced)
    sock = h.free_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(httpx.ConnectError):
        with httpx.Client() as client:
            client.get("http://127.0.0.1:%d/" % port)
    span = h.spans_by_name(traced)["http.request"]
    assert span.error == 1 and "ConnectError" in span.get_tag("error.type")


def test_buffered_traces_are_sent_when_the_server_shuts_down(make_tracer):
    """Servers may end the process without atexit (uvicorn re-raises SIGTERM): the lifespan's shutdown
    is when the last traces leave."""
    tracer = make_tracer()
    flushed = []
    tracer.writer.flush_queue = lambda: flushed.append(len(tracer.writer._traces))
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append((message["type"], list(flushed)))
            if message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
            await send({"type": "lifespan.startup.complete"})

    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        pass

    with tracer.trace("last request"):
        pass
    asyncio.run(TraceMiddleware(app, tracer=tracer)({"type": "lifespan"}, receive, send))
    # nothing flushed at startup; at shutdown, before the application hears of it
    assert seen == [("lifespan.startup", []), ("lifespan.shutdown", [1])]


def test_misuse_is_refused(traced):
    """Not an application, or an integration that is not an HTTP server's: a clear error when the
    middleware is made, not a failure in a request."""
    with pytest.raises(TypeError, match="ASGI application"):
        TraceMiddleware(None, tracer=traced)
    with pytest.raises(ValueError, match="integration must be one of"):
        TraceMiddleware(starlette_app("http://127.0.0.1:1"), tracer=traced, integration="kafka")
    assert TraceMiddleware(starlette_app("http://127.0.0.1:1"), tracer=traced, integration="fastapi").span_name == (
        "fastapi.request"
    )
