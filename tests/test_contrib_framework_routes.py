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
    # framework: (the library to patch, the app factory, the route template, the server span's name, its
    # resource as ddtrace names it (a suffix), the resource of a URL no route matched)
    "bottle": ("bottle", bottle_app, "/users/<id:int>", "bottle.request", "GET /users/<id:int>", "GET 404"),
    "falcon": ("falcon", falcon_app, "/users/{id:int}", "falcon.request", ".User", "GET 404"),
    "falcon-asgi": ("falcon", falcon_asgi_app, "/users/{id:int}", "falcon.request", ".User", "GET 404"),
    "pyramid": ("pyramid", pyramid_app, "/users/{id}", "pyramid.request", "GET user", "404"),
}


@pytest.fixture(params=sorted(CASES))
def framework(request, make_tracer):
    library, make_app, route, span_name = CASES[request.param][:4]
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
    resource = next(case[4] for case in CASES.values() if case[3] == span_name and case[2] == route)
    assert get(app, "/users/42", INCOMING) == 200
    assert get(app, "/users/7") == 200
    first, second = tracer.writer.pop()
    for span, url in ((first, "/users/42"), (second, "/users/7")):
        assert span.name == span_name and span.get_tag("component") == span_name.split(".")[0]
        assert span.resource.startswith("GET ") and span.resource.endswith(resource)
        assert span.get_tag("http.route") == route
        assert span.get_tag("http.url").endswith(url) and span.get_tag("http.status_code") == "200"
    assert (first.trace_id, first.parent_id) == (5, 6)  # the caller's trace continues


def test_a_url_no_route_matches_keeps_one_resource(framework):
    app, get, tracer, route, span_name = framework
    missing = next(case[5] for case in CASES.values() if case[3] == span_name and case[2] == route)
    assert get(app, "/no/such/page") == 404
    assert get(app, "/nor/this") == 404
    spans = tracer.writer.pop()
    assert [(s.resource, s.get_tag("http.route")) for s in spans] == [(missing, None)] * 2


@pytest.mark.parametrize("case", ["falcon", "pyramid"])
def test_route_template_resources_are_an_option(case, make_tracer, monkeypatch):
    """``DDFAST_HTTP_ROUTE_RESOURCES=true``: the resource is the route template where ddtrace names the
    handler."""
    library, make_app, route = CASES[case][:3]
    pytest.importorskip(library)
    import ddfast

    monkeypatch.setenv("DDFAST_HTTP_ROUTE_RESOURCES", "true")
    module = __import__("ddfast.contrib." + library, fromlist=["patch"])
    tracer = make_tracer()
    assert ddfast.patch(tracer=tracer, **{library: True}) == [library]
    try:
        app, get = make_app()
        assert get(app, "/users/42") == 200 and get(app, "/no/such/page") == 404
    finally:
        module.unpatch()
    found, missing = tracer.writer.pop()
    assert found.resource == "GET " + route and found.get_tag("http.route") == route
    assert missing.resource == ("GET 404" if case == "falcon" else "404")


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
