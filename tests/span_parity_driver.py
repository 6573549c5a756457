"""One application per framework (and one client program), traced by ddtrace or by ddfast, serving the
same requests; prints the spans each request made as JSON. ``tests/test_ddtrace_span_parity.py`` runs it
once per framework per tracer, in a subprocess (the two tracers never patch the same process).

    python span_parity_driver.py ddtrace|ddfast FRAMEWORK

Scenarios: ``ok`` (a routed 200, ``/users/42``), ``missing`` (``/nope``: a 404), ``boom`` (``/boom``: the
handler raises, a 500); for ``clients``: each client library calls a loopback service answering 200, 404
and 503, and a closed port (connection refused), inside a ``caller`` span.
"""

import asyncio
import io
import json
import os
import socket
import sys
import wsgiref.util

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import integration_helpers  # noqa: E402
from capture_writer import CaptureWriter  # noqa: E402

USER_AGENT = "parity-agent/1.0"
#: the tags compared (values); the others only for presence
TAGS = ("component", "span.kind", "http.method", "http.url", "http.status_code", "http.route", "http.useragent",
        "out.host", "_dd.base_service")  # fmt: skip
PRESENCE = ("error.type", "error.message", "error.stack")
SERVER_PATHS = {"ok": "/users/42", "missing": "/nope", "boom": "/boom"}


class Capture(CaptureWriter):
    def take(self):
        return [_describe(s) for s in super().take()]


def _describe(span):
    tags = span.get_tags()
    out = {
        "name": span.name,
        "resource": span.resource,
        "service": span.service,
        "type": span.span_type,
        "error": int(span.error),
        "root": not span.parent_id,
    }
    out.update({k: tags.get(k) for k in TAGS})
    out.update({k + "?": k in tags for k in PRESENCE})
    return out


class Tracing:
    """The tracer under test: its ``patch(**libraries)``, its ``trace(name)`` and the captured spans."""

    def __init__(self, which):
        self.which = which
        self.capture = Capture()
        if which == "ddtrace":
            import ddtrace
            from ddtrace.trace import tracer

            tracer._span_aggregator.writer = self.capture
            self.tracer = tracer
            self._patch = ddtrace.patch
        else:
            import ddfast
            from ddfast.tracer import tracer

            tracer.writer = self.capture
            self.tracer = tracer
            self._patch = ddfast.patch

    def patch(self, **libraries):
        self._patch(**libraries)

    def wsgi_middleware(self, app):
        if self.which == "ddtrace":
            from ddtrace.contrib.wsgi import DDWSGIMiddleware

            return DDWSGIMiddleware(app)
        from ddfast.contrib.wsgi import TraceMiddleware

        return TraceMiddleware(app)

    def asgi_middleware(self, app):
        if self.which == "ddtrace":
            from ddtrace.contrib.asgi import TraceMiddleware
        else:
            from ddfast.contrib.asgi import TraceMiddleware
        return TraceMiddleware(app)

    def aiohttp_trace_app(self, app):
        if self.which == "ddtrace":
            from ddtrace.contrib.aiohttp import trace_app

            trace_app(app, self.tracer)
        else:
            from ddfast.contrib.aiohttp import trace_app

            trace_app(app)


def wsgi_get(app, path):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(b""),
               "HTTP_USER_AGENT": USER_AGENT, "HTTP_HOST": "testserver", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "wsgi.errors": io.StringIO()}  # fmt: skip
    wsgiref.util.setup_testing_defaults(environ)
    statuses = []
    try:
        body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(body)
        getattr(body, "close", lambda: None)()
    except Exception:
        statuses.append("500 raised")
    return statuses[0]


def asgi_get(app, path):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"user-agent", USER_AGENT.encode())],
             "server": ("testserver", 80), "client": ("127.0.0.1", 5000)}  # fmt: skip
    sent = []
    received = []

    async def receive():
        if received:  # after the body: the client disconnects once the response is complete
            while not any(m["type"] == "http.response.body" and not m.get("more_body") for m in sent):
                await asyncio.sleep(0.001)
            return {"type": "http.disconnect"}
        received.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    try:
        asyncio.run(app(scope, receive, send))
    except Exception:
        pass
    return next((m["status"] for m in sent if m["type"] == "http.response.start"), "raised")


# -- applications: each returns get(path) ----------------------------------------------------------------


def flask_app(tr):
    tr.patch(flask=True)
    import flask

    app = flask.Flask("parity")
    app.route("/users/<int:id>")(lambda id: "user %d" % id)

    @app.route("/boom")
    def boom():
        raise ValueError("boom")

    return lambda path: wsgi_get(app, path)


def _django(tr):
    tr.patch(django=True)
    import types

    import django
    from django.conf import settings
    from django.http import HttpResponse
    from django.urls import path

    def user(request, id):
        return HttpResponse("user %d" % id)

    def boom(request):
        raise ValueError("boom")

    module = types.ModuleType("parity_urls")
    module.urlpatterns = [path("users/<int:id>", user, name="user"), path("boom", boom)]
    sys.modules["parity_urls"] = module
    settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF="parity_urls", SECRET_KEY="test",
                       MIDDLEWARE=[], INSTALLED_APPS=[], LOGGING_CONFIG=None)  # fmt: skip
    django.setup()


def django_app(tr):
    _django(tr)
    from django.core.handlers.wsgi import WSGIHandler

    app = WSGIHandler()
    return lambda path: wsgi_get(app, path)


def django_asgi_app(tr):
    _django(tr)
    from django.core.handlers.asgi import ASGIHandler

    app = ASGIHandler()
    return lambda path: asgi_get(app, path)


def falcon_app(tr):
    tr.patch(falcon=True)
    import falcon

    class User:
        def on_get(self, req, resp, id):
            resp.text = "user %d" % id

    class Boom:
        def on_get(self, req, resp):
            raise ValueError("boom")

    app = falcon.App()
    app.add_route("/users/{id:int}", User())
    app.add_route("/boom", Boom())
    return lambda path: wsgi_get(app, path)


def pyramid_app(tr):
    tr.patch(pyramid=True)
    from pyramid.config import Configurator
    from pyramid.response import Response

    def user(request):
        return Response("user %s" % request.matchdict["id"])

    def boom(request):
        raise ValueError("boom")

    config = Configurator()
    config.add_route("user", "/users/{id}")
    config.add_view(user, route_name="user")
    config.add_route("boom", "/boom")
    config.add_view(boom, route_name="boom")
    app = config.make_wsgi_app()
    return lambda path: wsgi_get(app, path)


def bottle_app(tr):
    tr.patch(bottle=True)
    import bottle

    app = bottle.Bottle()
    app.route("/users/<id:int>")(lambda id: "user %d" % id)

    @app.route("/boom")
    def boom():
        raise ValueError("boom")

    return lambda path: wsgi_get(app, path)


def starlette_app(tr):
    tr.patch(starlette=True)
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def user(request):
        return PlainTextResponse("user %s" % request.path_params["id"])

    async def boom(request):
        raise ValueError("boom")

    app = Starlette(routes=[Route("/users/{id:int}", user), Route("/boom", boom)])
    return lambda path: asgi_get(app, path)


def fastapi_app(tr):
    tr.patch(fastapi=True, starlette=True)
    import fastapi

    app = fastapi.FastAPI()

    @app.get("/users/{id}")
    async def user(id: int):
        return {"id": id}

    @app.get("/boom")
    async def boom():
        raise ValueError("boom")

    return lambda path: asgi_get(app, path)


def wsgi_app(tr):
    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/boom":
            raise ValueError("boom")
        status = "200 OK" if path.startswith("/users/") else "404 Not Found"
        start_response(status, [("Content-Type", "text/plain")])
        return [b"hi"]

    traced = tr.wsgi_middleware(app)
    return lambda path: wsgi_get(traced, path)


def asgi_app(tr):
    async def app(scope, receive, send):
        path = scope["path"]
        if path == "/boom":
            raise ValueError("boom")
        status = 200 if path.startswith("/users/") else 404
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hi"})

    traced = tr.asgi_middleware(app)
    return lambda path: asgi_get(traced, path)


def _http_get(port):
    def get(path):
        return integration_helpers.get(port, path, {"User-Agent": USER_AGENT, "Host": "testserver"})[0]

    return get


def aiohttp_app(tr):
    tr.patch(aiohttp=True)
    from aiohttp import web

    async def user(request):
        return web.Response(text="user " + request.match_info["id"])

    async def boom(request):
        raise ValueError("boom")

    app = web.Application()
    app.router.add_get("/users/{id}", user)
    app.router.add_get("/boom", boom)
    tr.aiohttp_trace_app(app)
    sock = integration_helpers.free_socket()

    async def start():
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return _http_get(sock.getsockname()[1])

    return start


def tornado_app(tr):
    tr.patch(tornado=True)
    import tornado.httpserver
    import tornado.web

    class User(tornado.web.RequestHandler):
        def get(self, id):
            self.write("user " + id)

    class Boom(tornado.web.RequestHandler):
        def get(self):
            raise ValueError("boom")

    sock = integration_helpers.free_socket()
    sock.setblocking(False)

    async def start():
        app = tornado.web.Application([(r"/users/(\d+)", User), (r"/boom", Boom)])
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        return _http_get(sock.getsockname()[1])

    return start


SERVERS = {
    "flask": flask_app,
    "django": django_app,
    "django_asgi": django_asgi_app,
    "falcon": falcon_app,
    "pyramid": pyramid_app,
    "bottle": bottle_app,
    "starlette": starlette_app,
    "fastapi": fastapi_app,
    "wsgi": wsgi_app,
    "asgi": asgi_app,
    "aiohttp": aiohttp_app,
    "tornado": tornado_app,
}


def _flush(tr):
    flush = getattr(tr.tracer, "flush", None)
    if callable(flush):
        flush()


def serve(tr, framework):
    get = SERVERS[framework](tr)
    if asyncio.iscoroutinefunction(get):  # a server on a loop: requests from another thread
        return asyncio.run(_serve_on_loop(tr, get))
    results = {}
    for scenario, path in SERVER_PATHS.items():
        status = get(path)
        _flush(tr)
        results[scenario] = {"status": str(status), "spans": tr.capture.take()}
    return results


async def _serve_on_loop(tr, start):
    get = await start()
    loop = asyncio.get_running_loop()
    results = {}
    for scenario, path in SERVER_PATHS.items():
        status = await loop.run_in_executor(None, get, path)
        await asyncio.sleep(0.05)  # the server's span ends after the response is sent
        _flush(tr)
        results[scenario] = {"status": str(status), "spans": tr.capture.take()}
    return results


# -- clients ---------------------------------------------------------------------------------------------


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clients(tr):
    tr.patch(requests=True, httpx=True, aiohttp=True)
    import aiohttp
    import httpx
    import requests
    import urllib3

    downstream = integration_helpers.Downstream()
    refused = "http://127.0.0.1:%d/status/200" % closed_port()
    targets = {"ok": downstream.url + "/status/200", "404": downstream.url + "/status/404",
               "503": downstream.url + "/status/503", "refused": refused}  # fmt: skip

    def call_urllib3(url):
        tr.patch(urllib3=True)  # last: ddtrace would trace requests' urllib3 calls too
        urllib3.PoolManager(retries=False).request("GET", url)

    def call_httpx(url):
        with httpx.Client() as client:
            client.get(url)

    async def call_httpx_async(url):
        async with httpx.AsyncClient() as client:
            await client.get(url)

    async def call_aiohttp(url):
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                await response.read()

    calls = {
        "requests": lambda url: requests.get(url, timeout=5),
        "httpx": call_httpx,
        "httpx_async": lambda url: asyncio.run(call_httpx_async(url)),
        "urllib3": call_urllib3,
        "aiohttp": lambda url: asyncio.run(call_aiohttp(url)),
    }
    results = {}
    for library, call in calls.items():
        for scenario, url in targets.items():
            with tr.tracer.trace("caller"):
                try:
                    call(url)
                except Exception:
                    pass
            _flush(tr)
            spans = tr.capture.take()
            for span in spans:
                if span["http.url"]:
                    span["http.url"] = span["http.url"].replace(url.rsplit("/", 2)[0], "http://downstream")
            results["%s:%s" % (library, scenario)] = {"spans": spans}
    downstream.close()
    return results


def main(which, framework):
    tr = Tracing(which)
    results = clients(tr) if framework == "clients" else serve(tr, framework)
    if which == "ddfast":
        results["core"] = tr.tracer._span_mod.__name__
    else:  # the service ddtrace gives spans of no integration service when DD_SERVICE is unset
        from ddtrace import config

        results["core"] = config.service
    sys.stdout.write(json.dumps(results, sort_keys=True) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
