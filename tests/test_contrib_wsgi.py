"""``ddfast.contrib.wsgi.TraceMiddleware`` with the real frameworks (Flask, Bottle, Falcon, Pyramid,
Django), each served on a loopback port: a request carrying Datadog, W3C or B3 headers continues its
trace in the server span, and the call the handler makes (``requests``, patched) carries the trace on."""

import threading
import wsgiref.simple_server

import integration_helpers as h
import pytest

from ddfast.contrib import httpx as traced_httpx
from ddfast.contrib import requests as traced_requests
from ddfast.contrib.wsgi import TraceMiddleware


def _call_downstream(url):
    import requests

    return requests.get(url + "/inventory?item=1", timeout=10).text


def _call_downstream_httpx(url):
    import httpx

    with httpx.Client() as client:
        return client.get(url + "/inventory?item=1", timeout=10).text


def flask_app(downstream):
    flask = pytest.importorskip("flask")
    app = flask.Flask("shop")

    @app.route("/checkout")
    def checkout():
        return "ok " + _call_downstream(downstream)

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    return app.wsgi_app


def bottle_app(downstream):
    bottle = pytest.importorskip("bottle")
    app = bottle.Bottle()
    app.route("/checkout")(lambda: "ok " + _call_downstream(downstream))
    return app


def falcon_app(downstream):
    falcon = pytest.importorskip("falcon")

    class Checkout:
        def on_get(self, req, resp):
            resp.text = "ok " + _call_downstream_httpx(downstream)

    app = falcon.App()
    app.add_route("/checkout", Checkout())
    return app


def pyramid_app(downstream):
    config_mod = pytest.importorskip("pyramid.config")
    response_mod = pytest.importorskip("pyramid.response")
    with config_mod.Configurator() as config:
        config.add_route("checkout", "/checkout")
        config.add_view(
            lambda request: response_mod.Response("ok " + _call_downstream_httpx(downstream)), route_name="checkout"
        )
        return config.make_wsgi_app()


def django_app(downstream):
    pytest.importorskip("django")
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpResponse

    h.django_urls(lambda request: HttpResponse("ok " + _call_downstream(downstream)))
    return get_wsgi_application()


#: the HTTP client each framework's handler calls downstream with (both patched), by its span name
CLIENT_SPAN = {"falcon": "http.request", "pyramid": "http.request"}  # httpx (sync); the others: requests
FRAMEWORKS = {"flask": flask_app, "bottle": bottle_app, "falcon": falcon_app, "pyramid": pyramid_app,
              "django": django_app}  # fmt: skip


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve(app):
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.mark.parametrize("style", list(h.INCOMING))
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_framework_continues_and_propagates_the_trace(traced, framework, style):
    traced_requests.patch(tracer=traced)
    traced_httpx.patch(tracer=traced)
    app = TraceMiddleware(FRAMEWORKS[framework](traced.downstream.url), tracer=traced, service="shop")
    server = serve(app)
    try:
        status, body = h.get(server.server_port, "/checkout?session=42", dict(h.INCOMING[style], **{"User-Agent": "t"}))
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200 and body == b"ok downstream"
    spans = h.spans_by_name(traced)
    server_span, client_span = spans["wsgi.request"], spans[CLIENT_SPAN.get(framework, "requests.request")]
    h.assert_continues(server_span, style)
    assert client_span.parent_id == server_span.span_id and client_span.trace_id == h.TRACE_ID
    h.assert_sent_downstream(traced.downstream.received[-1], client_span)
    assert server_span.service == "shop" and server_span.resource == "GET /checkout"
    assert server_span.get_tag("http.url") == "http://127.0.0.1:%d/checkout" % server.server_port
    # ddtrace's WSGI middleware does not tag http.useragent
    assert server_span.get_tag("http.status_code") == "200" and server_span.get_tag("http.useragent") is None
    assert server_span.get_tag("span.kind") == "server" and server_span.get_tag("component") == "wsgi"
    assert client_span.get_tag("http.url") == traced.downstream.url + "/inventory"  # no query string
    assert client_span.get_tag("span.kind") == "client" and client_span.get_tag("http.status_code") == "200"


def test_an_exception_in_the_app_marks_the_span(traced):
    app = TraceMiddleware(flask_app(traced.downstream.url), tracer=traced)
    server = serve(app)
    try:
        status, _ = h.get(server.server_port, "/boom", h.INCOMING["datadog"])
    finally:
        server.shutdown()
        server.server_close()
    assert status == 500
    span = h.spans_by_name(traced)["wsgi.request"]
    assert span.error == 1 and span.get_tag("http.status_code") == "500"


def test_an_exception_raised_through_the_middleware_is_recorded_and_reraised(traced):
    def app(environ, start_response):
        raise ValueError("bad")

    with pytest.raises(ValueError):
        TraceMiddleware(app, tracer=traced)({"REQUEST_METHOD": "GET", "PATH_INFO": "/x"}, lambda *a: None)
    span = h.spans_by_name(traced)["wsgi.request"]
    assert span.error == 1 and span.get_tag("error.type") == "builtins.ValueError"


def test_distributed_tracing_off_starts_a_new_trace_and_sends_nothing(traced, monkeypatch):
    monkeypatch.setenv("DD_WSGI_DISTRIBUTED_TRACING", "false")
    monkeypatch.setenv("DD_REQUESTS_DISTRIBUTED_TRACING", "false")
    traced_requests.patch(tracer=traced)
    server = serve(TraceMiddleware(flask_app(traced.downstream.url), tracer=traced))
    try:
        status, _ = h.get(server.server_port, "/checkout", h.INCOMING["datadog"])
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200
    spans = h.spans_by_name(traced)
    assert spans["wsgi.request"].trace_id != h.TRACE_ID and spans["wsgi.request"].parent_id is None
    assert spans["requests.request"].parent_id == spans["wsgi.request"].span_id  # still traced
    assert "x-datadog-trace-id" not in traced.downstream.received[-1]


def test_the_global_switch_turns_every_integration_off(traced, monkeypatch):
    from ddfast.contrib import _http
    from ddfast.settings import config

    monkeypatch.setattr(config, "distributed_tracing", False)
    assert _http.distributed_tracing("wsgi") is False
    monkeypatch.setenv("DD_WSGI_DISTRIBUTED_TRACING", "true")  # the integration's own setting wins
    assert _http.distributed_tracing("wsgi") is True
    assert _http.distributed_tracing("wsgi", explicit=False) is False  # and code wins over both


def test_misuse_is_a_type_error():
    with pytest.raises(TypeError, match="WSGI application"):
        TraceMiddleware(None)


def test_an_integration_names_the_middlewares_spans(traced):
    """``integration=``: the spans are named as ddtrace names that framework's (``flask.request``); an
    unknown one is refused."""
    app = TraceMiddleware(lambda environ, start_response: [start_response("200 OK", []) or b""],
                          tracer=traced, integration="flask")  # fmt: skip
    assert h.wsgi_get(app, "/x", {"User-Agent": "ua"}) == 200
    (span,) = traced.writer.pop()
    assert (span.name, span.get_tag("component"), span.get_tag("http.useragent")) == ("flask.request", "flask", "ua")
    with pytest.raises(ValueError, match="integration must be one of"):
        TraceMiddleware(lambda environ, start_response: [], tracer=traced, integration="nope")


# -- ddfast.patch(flask=True): Flask's class patched, as every framework's -----------------------------


def _flask_get(app, path, **kwargs):
    """One request through ``app.test_client()``: the status code, the response closed (which ends the span)."""
    with app.test_client().get(path, **kwargs) as response:
        response.get_data()
        return response.status_code


def _routed(app):
    app.route("/users/<int:id>")(lambda id: "user %d" % id)
    return app


def test_flask_apps_made_before_and_after_the_patch_and_subclasses_are_traced(make_tracer):
    flask = pytest.importorskip("flask")
    from ddfast.contrib import flask as dd_flask

    class Overriding(flask.Flask):  # its own wsgi_app, calling Flask's
        def wsgi_app(self, environ, start_response):
            environ["overriding.seen"] = True
            return super().wsgi_app(environ, start_response)

    before = _routed(flask.Flask("before"))
    tracer = make_tracer()
    assert dd_flask.patch(tracer=tracer) is True
    try:
        assert dd_flask.patch(tracer=tracer) is False
        after = _routed(flask.Flask("after"))
        subclassed = _routed(type("Sub", (flask.Flask,), {})("sub"))
        overriding = _routed(Overriding("overriding"))
        for app in (before, after, subclassed, overriding):
            assert _flask_get(app, "/users/3") == 200 and _flask_get(app, "/no/such") == 404
    finally:
        dd_flask.unpatch()
    spans = tracer.writer.pop()
    assert len(spans) == 8  # one per request
    for found, missing in zip(spans[::2], spans[1::2], strict=True):
        assert (found.name, found.get_tag("component")) == ("flask.request", "flask")
        assert found.resource == "GET /users/<int:id>" and found.get_tag("http.route") == "/users/<int:id>"
        assert found.get_tag("http.status_code") == "200" and found.parent_id is None
        assert missing.resource == "GET 404" and missing.get_tag("http.status_code") == "404"


def test_flask_unpatch_restores_both_methods_and_a_traced_app_runs_untraced_next(make_tracer):
    flask = pytest.importorskip("flask")
    from ddfast.contrib import _http
    from ddfast.contrib import flask as dd_flask

    originals = (flask.Flask.wsgi_app, flask.Flask.dispatch_request)
    tracer = make_tracer()
    assert dd_flask.patch(tracer=tracer) is True
    try:
        assert (flask.Flask.wsgi_app, flask.Flask.dispatch_request) != originals
        app = _routed(flask.Flask("traced"))
        seen = []  # the route the patched dispatch_request left, after each request's dispatch
        app.after_request(lambda response: seen.append(flask.request.environ.get(_http.ROUTE_KEY, "-")) or response)
        assert _flask_get(app, "/users/1") == 200
        assert [s.resource for s in tracer.writer.pop()] == ["GET /users/<int:id>"]
    finally:
        dd_flask.unpatch()
    assert (flask.Flask.wsgi_app, flask.Flask.dispatch_request) == originals
    assert dd_flask._app.patched is False
    assert _flask_get(app, "/users/2") == 200  # the middleware kept on the app is called no more
    assert tracer.writer.pop() == [] and seen == ["/users/<int:id>", "-"]
    assert dd_flask.patch(tracer=tracer) is True  # and patched again: traced again
    try:
        assert _flask_get(app, "/users/3") == 200
    finally:
        dd_flask.unpatch()
    assert [s.resource for s in tracer.writer.pop()] == ["GET /users/<int:id>"]
