"""``ddfast.patch(bottle=True, falcon=True, pyramid=True)``: each framework's applications traced
without a change to their code, their spans named after the route that matched (``http.route``), one
low-cardinality resource for what matched nothing; on both implementations, in-process."""

import asyncio

import pytest
from integration_helpers import wsgi_get

INCOMING = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-sampling-priority": "1"}


def asgi_get(app, path, headers=None):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()] + [(b"host", b"testserver")],
             "server": ("testserver", 80), "client": ("127.0.0.1", 5000)}  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def bottle_app():
    import bottle

    app = bottle.Bottle()
    app.route("/users/<id:int>")(lambda id: "user %d" % id)
    return app, wsgi_get


def falcon_app():
    import falcon

    class User:
        def on_get(self, req, resp, id):
            resp.text = "user %d" % id

    app = falcon.App()
    app.add_route("/users/{id:int}", User())
    return app, wsgi_get


def falcon_asgi_app():
    import falcon.asgi

    class User:
        async def on_get(self, req, resp, id):
            resp.text = "user %d" % id

    app = falcon.asgi.App()
    app.add_route("/users/{id:int}", User())
    return app, asgi_get


def pyramid_app():
    from pyramid.config import Configurator
    from pyramid.response import Response

    with Configurator() as config:
        config.add_route("user", "/users/{id}")
        config.add_view(lambda request: Response("user " + request.matchdict["id"]), route_name="user")
        return config.make_wsgi_app(), wsgi_get


CASES = {
    # framework: (the library to patch, the app factory, the route template, the server span's name)
    "bottle": ("bottle", bottle_app, "/users/<id:int>", "wsgi.request"),
    "falcon": ("falcon", falcon_app, "/users/{id:int}", "wsgi.request"),
    "falcon-asgi": ("falcon", falcon_asgi_app, "/users/{id:int}", "asgi.request"),
    "pyramid": ("pyramid", pyramid_app, "/users/{id}", "wsgi.request"),
}


@pytest.fixture(params=sorted(CASES))
def framework(request, make_tracer):
    library, make_app, route, span_name = CASES[request.param]
    pytest.importorskip(library)
    import ddfast

    module = __import__("ddfast.contrib." + library, fromlist=["patch"])
    tracer = make_tracer()
    assert ddfast.patch(tracer=tracer, **{library: True}) == [library]
    try:
        app, get = make_app()
        yield app, get, tracer, route, span_name
    finally:
        module.unpatch()


def test_the_span_is_named_after_the_route(framework):
    app, get, tracer, route, span_name = framework
    assert get(app, "/users/42", INCOMING) == 200
    assert get(app, "/users/7") == 200
    first, second = tracer.writer.pop()
    for span, url in ((first, "/users/42"), (second, "/users/7")):
        assert span.name == span_name
        assert span.resource == "GET " + route and span.get_tag("http.route") == route
        assert span.get_tag("http.url").endswith(url) and span.get_tag("http.status_code") == "200"
    assert (first.trace_id, first.parent_id) == (5, 6)  # the caller's trace continues


def test_a_url_no_route_matches_keeps_one_resource(framework):
    app, get, tracer, _route, _name = framework
    assert get(app, "/no/such/page") == 404
    assert get(app, "/nor/this") == 404
    spans = tracer.writer.pop()
    assert [(s.resource, s.get_tag("http.route")) for s in spans] == [("GET 404", None)] * 2


def test_patching_twice_changes_nothing_and_unpatch_restores(make_tracer):
    pytest.importorskip("bottle")
    import bottle

    from ddfast.contrib import bottle as dd_bottle

    original = bottle.Bottle.__call__
    tracer = make_tracer()
    assert dd_bottle.patch(tracer=tracer) is True
    try:
        assert dd_bottle.patch(tracer=tracer) is False
        assert bottle.Bottle.__call__ is not original
    finally:
        dd_bottle.unpatch()
    assert bottle.Bottle.__call__ is original
    app, get = bottle_app()
    assert get(app, "/users/1") == 200 and tracer.writer.pop() == []  # untraced again
