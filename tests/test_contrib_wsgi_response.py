"""The WSGI middleware's per-request object (the core's ``TracedWsgiApp`` with its ``start_response``
and response wrappers), driven as a server drives it, on both twins: the span ends when the server
closes the response, an exception raised while the body is iterated is recorded, ``start_response``
records the status and leaves an error page's ``exc_info`` in the environ, an application that raises
ends its span, a request traced by an outer middleware is traced once, and PEP 3333's bodies (lists,
generators, a ``wsgi.file_wrapper``) pass through whole."""

import io
import wsgiref.util

import pytest

from ddfast.contrib import wsgi


def _environ(path="/x", method="GET"):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
    wsgiref.util.setup_testing_defaults(environ)
    return environ


class _Server:
    """The server's side of one request: its ``start_response`` (what it was given) and ``write``."""

    def __init__(self):
        self.calls = []
        self.written = []

    def start_response(self, status, headers, exc_info=None):
        self.calls.append((status, headers, exc_info))
        return self.written.append


def test_the_middleware_runs_the_tracers_own_core(make_tracer, spanmod):
    """Each twin's tracer gets that twin's request object: both are under test."""
    middleware = wsgi.TraceMiddleware(lambda environ, start_response: [], tracer=make_tracer())
    assert isinstance(middleware, spanmod.TracedWsgiApp) and isinstance(middleware, wsgi.TraceMiddleware)
    assert spanmod.EXC_INFO_KEY == wsgi.EXC_INFO_KEY


def test_the_span_ends_when_the_server_closes_the_response(make_tracer):
    tracer = make_tracer()
    closed = []

    def body():
        try:
            yield b"a"
            yield b"b"
        finally:
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()

    server = _Server()
    response = wsgi.TraceMiddleware(app, tracer=tracer)(_environ("/stream"), server.start_response)
    assert list(response) == [b"a", b"b"]
    assert tracer.writer.pop() == []  # iterated, not closed: the span is open
    response.close()
    (span,) = tracer.writer.pop()
    assert closed == [True] and server.calls == [("200 OK", [("Content-Type", "text/plain")], None)]
    assert (span.resource, span.get_tag("http.status_code"), span.error) == ("GET /stream", "200", 0)


def test_close_without_iterating_closes_the_body_and_finishes_the_span(make_tracer):
    tracer = make_tracer()

    class Body:
        closed = False

        def __iter__(self):
            raise AssertionError("not iterated")

        def close(self):
            self.closed = True

    body = Body()

    def app(environ, start_response):
        start_response("204 No Content", [])
        return body

    response = wsgi.TraceMiddleware(app, tracer=tracer)(_environ(), _Server().start_response)
    response.close()
    (span,) = tracer.writer.pop()
    assert body.closed and span.get_tag("http.status_code") == "204" and span.error == 0


def test_a_body_without_close_still_finishes_the_span(make_tracer):
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"one", b"two"]

    response = wsgi.TraceMiddleware(app, tracer=tracer)(_environ(), _Server().start_response)
    assert b"".join(response) == b"onetwo"
    response.close()
    assert len(tracer.writer.pop()) == 1
    # next() without iter() first, as some servers do with a single-item body
    response = wsgi.TraceMiddleware(app, tracer=tracer)(_environ(), _Server().start_response)
    assert (next(response), next(response), next(response, None)) == (b"one", b"two", None)
    response.close()
    assert len(tracer.writer.pop()) == 1


def test_an_exception_while_iterating_is_recorded_and_raised(make_tracer):
    tracer = make_tracer()

    def body():
        yield b"first"
        raise ValueError("broken stream")

    def app(environ, start_response):
        start_response("200 OK", [])
        return body()

    response = wsgi.TraceMiddleware(app, tracer=tracer)(_environ(), _Server().start_response)
    chunks = []
    with pytest.raises(ValueError, match="broken stream"):
        for chunk in response:
            chunks.append(chunk)
    response.close()
    (span,) = tracer.writer.pop()
    assert chunks == [b"first"]
    assert span.error == 1 and span.get_tag("error.type") == "builtins.ValueError"
    assert span.get_tag("error.message") == "broken stream" and "broken stream" in span.get_tag("error.stack")


def test_a_body_that_is_not_iterable_is_recorded_too(make_tracer):
    tracer = make_tracer()
    response = wsgi.TraceMiddleware(lambda environ, start_response: None, tracer=tracer)(
        _environ(), _Server().start_response
    )
    with pytest.raises(TypeError):
        list(response)
    response.close()
    (span,) = tracer.writer.pop()
    assert span.error == 1 and span.get_tag("error.type") == "builtins.TypeError"


def test_start_response_with_exc_info_reaches_the_server_and_the_environ(make_tracer):
    """An error page: the status is tagged, the server's start_response gets the exc_info, and it is left
    in the environ for a framework hook; what the server's start_response returns (``write``) comes back."""
    tracer = make_tracer()
    seen = []

    def app(environ, start_response):
        try:
            raise KeyError("gone")
        except KeyError:
            import sys

            info = sys.exc_info()
            write = start_response("500 Internal Server Error", [("X-A", "1")], info)
        write(b"written")
        return [b"error page"]

    def annotate(span, environ, method):
        seen.append((environ[wsgi.EXC_INFO_KEY][0], method))

    server = _Server()
    middleware = wsgi.TraceMiddleware(app, tracer=tracer)
    middleware.annotate = annotate  # set after construction, as the framework hooks do
    assert middleware.annotate is annotate
    environ = _environ(method="POST")
    response = middleware(environ, server.start_response)
    assert list(response) == [b"error page"] and server.written == [b"written"]
    response.close()
    (span,) = tracer.writer.pop()
    ((status, headers, exc_info),) = server.calls
    assert (status, headers, exc_info[0]) == ("500 Internal Server Error", [("X-A", "1")], KeyError)
    assert environ[wsgi.EXC_INFO_KEY] is exc_info and seen == [(KeyError, "POST")]
    assert span.get_tag("http.status_code") == "500" and span.error == 1


def test_start_response_without_exc_info_leaves_the_environ_alone(make_tracer):
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [])
        return []

    environ = _environ()
    wsgi.TraceMiddleware(app, tracer=tracer)(environ, _Server().start_response).close()
    assert wsgi.EXC_INFO_KEY not in environ and len(tracer.writer.pop()) == 1


def test_an_app_that_raises_ends_its_span_annotated(make_tracer):
    """The exception is recorded on the span, which is finished and named by the hook, then re-raised."""
    tracer = make_tracer()

    def app(environ, start_response):
        environ["ddfast.route"] = "/items/<id>"
        raise RuntimeError("no")

    middleware = wsgi.TraceMiddleware(app, tracer=tracer)
    calls = []
    middleware.annotate = lambda span, environ, method: calls.append(method)
    with pytest.raises(RuntimeError, match="no"):
        middleware(_environ("/items/3", "DELETE"), _Server().start_response)
    (span,) = tracer.writer.pop()
    assert calls == ["DELETE"] and span.resource == "DELETE /items/<id>"
    assert span.error == 1 and span.get_tag("error.type") == "builtins.RuntimeError"


def test_the_route_left_in_the_environ_names_the_span(make_tracer):
    tracer = make_tracer()

    def app(environ, start_response):
        environ["ddfast.route"] = "/users/<int:id>"
        start_response("200 OK", [])
        return [b"ok"]

    wsgi.TraceMiddleware(app, tracer=tracer)(_environ("/users/3"), _Server().start_response).close()
    (span,) = tracer.writer.pop()
    assert span.resource == "GET /users/<int:id>" and span.get_tag("http.route") == "/users/<int:id>"


def test_nested_middleware_pass_the_request_and_its_response_through(make_tracer):
    """The inner middleware sees a request the outer one traces: it calls the application with the
    outer's start_response and returns the application's own body, so one span records the status."""
    tracer = make_tracer()
    bodies = []

    def app(environ, start_response):
        start_response("201 Created", [])
        bodies.append([b"made"])
        return bodies[-1]

    inner = wsgi.TraceMiddleware(app, tracer=tracer)
    outer = wsgi.TraceMiddleware(inner, tracer=tracer)
    server = _Server()
    response = outer(_environ(), server.start_response)
    assert response is not bodies[0] and list(response) == [b"made"]
    response.close()
    (span,) = tracer.writer.pop()
    assert span.get_tag("http.status_code") == "201" and server.calls == [("201 Created", [], None)]
    # the inner one alone traces
    response = inner(_environ(), server.start_response)
    response.close()
    assert len(tracer.writer.pop()) == 1


def test_a_file_wrapper_body_is_served_whole(make_tracer):
    """A ``wsgi.file_wrapper`` body is iterated block by block and closed (the file too)."""
    tracer = make_tracer()
    stream = io.BytesIO(b"x" * 10)

    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](stream, 4)

    environ = _environ()
    environ["wsgi.file_wrapper"] = wsgiref.util.FileWrapper
    response = wsgi.TraceMiddleware(app, tracer=tracer)(environ, _Server().start_response)
    assert list(response) == [b"xxxx", b"xxxx", b"xx"]
    response.close()
    assert stream.closed and len(tracer.writer.pop()) == 1


def test_a_tracer_turned_off_returns_the_applications_own_body(make_tracer):
    tracer = make_tracer()
    body = [b"plain"]

    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    tracer.enabled = False
    assert wsgi.TraceMiddleware(app, tracer=tracer)(_environ(), _Server().start_response) is body


def test_the_app_attribute_is_the_traced_application(make_tracer):
    def first(environ, start_response):
        start_response("200 OK", [])
        return [b"first"]

    def second(environ, start_response):
        start_response("200 OK", [])
        return [b"second"]

    tracer = make_tracer()
    middleware = wsgi.TraceMiddleware(first, tracer=tracer)
    assert middleware.app is first
    middleware.app = second
    response = middleware(_environ(), _Server().start_response)
    assert list(response) == [b"second"]
    response.close()


def test_the_request_objects_refuse_misuse(make_tracer, spanmod):
    tracer = make_tracer()
    with pytest.raises(TypeError):
        spanmod.TracedWsgiApp(object(), None, lambda environ, start_response: [])
    names = wsgi.TraceMiddleware(lambda environ, start_response: [], tracer=tracer)._names
    with pytest.raises(TypeError):
        spanmod.TracedWsgiApp(tracer.http, object(), lambda environ, start_response: [])
    assert spanmod.TracedWsgiApp(tracer.http, names, list).app is list
    with pytest.raises(TypeError):
        spanmod.WsgiResponse()
    with pytest.raises(TypeError):
        spanmod.WsgiStartResponse()


def test_a_subclass_of_the_middleware_keeps_its_own_methods(make_tracer, spanmod):
    """``TraceMiddleware`` subclasses still override and extend: their ``__call__`` runs, the core's is
    their ``super()``; the class made for the core keeps the subclass's name."""
    tracer = make_tracer()
    calls = []

    class Counting(wsgi.TraceMiddleware):
        def __call__(self, environ, start_response):
            calls.append(environ["PATH_INFO"])
            return super().__call__(environ, start_response)

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    middleware = Counting(app, tracer=tracer, service="svc")
    assert isinstance(middleware, Counting) and type(middleware).__name__ == "Counting"
    assert type(Counting(app, tracer=tracer)) is type(middleware)  # made once
    assert type(type(middleware)(app, tracer=tracer)) is type(middleware)
    response = middleware(_environ("/sub"), _Server().start_response)
    assert list(response) == [b"ok"]
    response.close()
    (span,) = tracer.writer.pop()
    assert calls == ["/sub"] and span.service == "svc" and middleware.service == "svc"
    assert (middleware.app, middleware.annotate, middleware.tracer) == (app, None, tracer)
