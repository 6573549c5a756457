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
