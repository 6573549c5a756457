"""A request passes through two of ddfast's middleware (an application wrapped by hand and patched by
``ddfast-run`` as well): one server span, by the outer one, still named after the route; WSGI and ASGI,
on both implementations."""

import asyncio

import pytest
from integration_helpers import wsgi_get

from ddfast.contrib import asgi
from ddfast.contrib import wsgi


def test_nested_wsgi_middleware_trace_a_request_once(make_tracer):
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    twice = wsgi.TraceMiddleware(wsgi.TraceMiddleware(app, tracer=tracer), tracer=tracer)
    assert wsgi_get(twice, "/a", {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6"}) == 200
    assert wsgi_get(twice, "/b") == 200
    first, second = tracer.writer.pop()
    assert (first.trace_id, first.parent_id, first.resource) == (5, 6, "GET /a")
    assert second.resource == "GET /b"


def test_a_flask_app_patched_and_wrapped_by_hand_has_one_span_named_by_its_route(make_tracer):
    pytest.importorskip("flask")
    from ddfast.contrib import flask as dd_flask

    tracer = make_tracer()
    assert dd_flask.patch(tracer=tracer) is True
    try:
        import flask

        app = flask.Flask("nesting")
        app.route("/users/<int:id>")(lambda id: "user %d" % id)
        assert wsgi_get(wsgi.TraceMiddleware(app, tracer=tracer), "/users/3") == 200
    finally:
        dd_flask.unpatch()
    (span,) = tracer.writer.pop()
    assert span.resource == "GET /users/<int:id>" and span.get_tag("http.route") == "/users/<int:id>"


@pytest.fixture
def patched_flask(make_tracer):
    """``(flask, tracer)``: Flask patched for a tracer on the implementation under test; unpatched after."""
    flask = pytest.importorskip("flask")
    from ddfast.contrib import flask as dd_flask

    tracer = make_tracer()
    assert dd_flask.patch(tracer=tracer) is True
    yield flask, tracer
    dd_flask.unpatch()


def _flask_get(app, path, **kwargs):
    with app.test_client().get(path, **kwargs) as response:
        return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def client_ip_on(monkeypatch):
    import ddfast

    monkeypatch.setattr(ddfast.config, "client_ip_enabled", True)


def test_proxyfix_put_around_a_patched_flask_app_runs_outside_its_span(patched_flask, client_ip_on):
    """``app.wsgi_app = ProxyFix(app.wsgi_app)``: ``Flask.wsgi_app`` is what is patched, so the span sees
    the peer ProxyFix made of ``X-Forwarded-For`` (a patched ``__call__`` would see the proxy's address)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    flask, tracer = patched_flask
    app = flask.Flask("proxied")
    app.route("/ip")(lambda: flask.request.remote_addr)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)
    for _ in range(2):
        got = _flask_get(app, "/ip", headers={"X-Forwarded-For": "8.8.8.8, 1.1.1.1"},
                         environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
        assert got == (200, "1.1.1.1")  # ProxyFix's: the last hop
    spans = tracer.writer.pop()
    assert len(spans) == 2  # one per request
    for span in spans:
        assert (span.name, span.resource) == ("flask.request", "GET /ip")
        assert span.get_tag("network.client.ip") == "1.1.1.1"  # the peer as ProxyFix left it
        assert span.get_tag("http.client_ip") == "8.8.8.8"  # the first public address of the header


def test_a_middleware_put_around_a_patched_flask_app_keeps_one_span_per_request(patched_flask):
    flask, tracer = patched_flask
    app = flask.Flask("wrapped")
    app.route("/users/<int:id>")(lambda id: "user %d" % id)
    app.wsgi_app = wsgi.TraceMiddleware(app.wsgi_app, tracer=tracer)  # ddfast's own, by hand
    assert _flask_get(app, "/users/1")[0] == 200 and _flask_get(app, "/users/2")[0] == 200
    spans = tracer.writer.pop()
    assert [(s.name, s.resource) for s in spans] == [("wsgi.request", "GET /users/<int:id>")] * 2


def test_a_flask_app_that_kept_its_wsgi_app_keeps_what_it_kept(make_tracer):
    """What a reference to ``app.wsgi_app`` holds is the method as it was then: taken before the patch,
    the unpatched one (the application is not traced; ddtrace makes no request span for it either); taken
    while patched, the patched one (still traced after ``unpatch()``); the application's other requests
    follow the class."""
    flask = pytest.importorskip("flask")
    from werkzeug.middleware.proxy_fix import ProxyFix

    from ddfast.contrib import flask as dd_flask

    early, late, plain = flask.Flask("early"), flask.Flask("late"), flask.Flask("plain")
    for app in (early, late, plain):
        app.route("/")(lambda: "ok")
    early.wsgi_app = ProxyFix(early.wsgi_app)
    tracer = make_tracer()
    assert dd_flask.patch(tracer=tracer) is True
    try:
        late.wsgi_app = ProxyFix(late.wsgi_app)
        for app in (early, late, plain):
            assert _flask_get(app, "/")[0] == 200
        assert len(tracer.writer.pop()) == 2  # late's and plain's
    finally:
        dd_flask.unpatch()
    for app in (early, late, plain):
        assert _flask_get(app, "/")[0] == 200
    (span,) = tracer.writer.pop()  # late's
    assert span.name == "flask.request" and span.resource == "GET /"


def test_nested_asgi_middleware_trace_a_request_once(make_tracer):
    tracer = make_tracer()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})

    async def noop(*_):
        return {"type": "http.request"}

    twice = asgi.TraceMiddleware(asgi.TraceMiddleware(app, tracer=tracer), tracer=tracer)
    for path in ("/a", "/b"):
        asyncio.run(twice({"type": "http", "method": "GET", "path": path, "headers": []}, noop, noop))
    first, second = tracer.writer.pop()
    assert (first.resource, second.resource) == ("GET /a", "GET /b")
    assert first.get_tag("http.status_code") == "204"
