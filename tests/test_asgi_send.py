"""The core's ASGI ``send`` wrapper, on both twins: the response's status and header tags go on the
request's span when the response starts, every message reaches the server's ``send`` unchanged, and what
that returns (the awaitable the application awaits) is handed back as it is."""

import asyncio

import pytest

from ddfast.contrib import _http


def test_status_and_messages(make_tracer, spanmod):
    tracer = make_tracer()
    http = _http.http_of(tracer)
    span = tracer.trace("asgi.request")
    sent = []

    async def server_send(message):
        sent.append(message)
        return "done"

    send = spanmod.AsgiSend(http, span, server_send)
    start = {"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]}
    body = {"type": "http.response.body", "body": b"down"}

    async def app():
        results = [await send(start), await send(body)]
        return results

    assert asyncio.run(app()) == ["done", "done"]
    assert sent == [start, body]  # the messages themselves, unchanged
    assert span.get_tag("http.status_code") == "503" and span.error == 1  # a server error status
    span.finish()


def test_the_servers_awaitable_is_returned_as_it_is(make_tracer, spanmod):
    tracer = make_tracer()
    span = tracer.trace("asgi.request")
    marker = object()
    send = spanmod.AsgiSend(_http.http_of(tracer), span, lambda message: marker)
    assert send({"type": "http.response.body"}) is marker
    assert send("not a dict") is marker  # not read: the server decides what to make of it
    assert span.get_tag("http.status_code") is None
    span.finish()


def test_misuse(make_tracer, spanmod):
    tracer = make_tracer()
    span = tracer.trace("x")
    with pytest.raises(TypeError):
        spanmod.AsgiSend(_http.http_of(tracer), span, "not callable")
    with pytest.raises(TypeError):
        spanmod.AsgiSend(object(), span, print)
    with pytest.raises(TypeError):
        spanmod.AsgiSend(_http.http_of(tracer), "not a span", print)
    span.finish()


def _scope(**extra):
    scope = {"type": "http", "method": "GET", "scheme": "http", "server": ("shop", 80), "root_path": "",
             "path": "/cart/7", "query_string": b"", "headers": [(b"host", b"shop.test")]}  # fmt: skip
    scope.update(extra)
    return scope


def test_one_call_starts_the_request(make_tracer, spanmod):
    tracer = make_tracer()
    http = _http.http_of(tracer)
    tracing = spanmod.AsgiTracing(http, _http.server_names(http, "asgi"))
    server_send = print
    scope = _scope()
    traced = tracing.start(scope, server_send)
    assert type(traced) is spanmod.AsgiSend
    assert traced.http is http and traced.send is server_send and traced.scope is scope
    assert tracer.current_span() is traced.span and traced.span.name == "asgi.request"
    assert traced.span.get_tag("http.url") == "http://shop.test/cart/7" and not traced.span.finished
    # the route a framework left in the scope names the span when the application returns
    scope[spanmod.ROUTE_KEY] = "/cart/{id}"
    traced({"type": "http.response.start", "status": 200})
    assert traced.done() == 0
    (span,) = tracer.writer.pop()
    assert span is traced.span and span.finished and span.error == 0
    assert span.resource == "GET /cart/{id}" and span.get_tag("http.route") == "/cart/{id}"
    assert span.get_tag("http.status_code") == "200"


@pytest.mark.parametrize("started", [False, True])
def test_a_request_whose_application_raised(make_tracer, spanmod, started):
    tracer = make_tracer()
    http = _http.http_of(tracer)
    traced = spanmod.AsgiTracing(http, _http.server_names(http, "asgi")).start(_scope(), print)
    if started:  # the response had started: its status stays
        traced({"type": "http.response.start", "status": 404})
    try:
        raise ValueError("boom")
    except ValueError as e:
        traced.failed(e)
    (span,) = tracer.writer.pop()
    assert span.get_tag("http.status_code") == ("404" if started else "500")
    assert span.error == 1 and span.get_tag("error.type").endswith("ValueError")
    assert span.resource == "GET /cart/7"  # no route in the scope: ddtrace's "METHOD /path"


def test_requests_it_does_not_trace(make_tracer, spanmod):
    tracer = make_tracer()
    http = _http.http_of(tracer)
    tracing = spanmod.AsgiTracing(http, _http.server_names(http, "asgi"))
    assert tracing.start({"type": "lifespan"}, print) is None
    assert tracing.start({"type": "websocket", "headers": []}, print) is None
    assert tracing.start([("type", "http")], print) is None  # not a scope
    assert tracing.start(_scope(**{spanmod.TRACED_KEY: True}), print) is None  # an outer middleware traces it
    tracer.enabled = False
    try:
        assert tracing.start(_scope(), print) is None
    finally:
        tracer.enabled = True
    assert tracer.writer.pop() == [] and tracer.current_span() is None
    with pytest.raises(TypeError):
        tracing.start(_scope(), "not callable")
    with pytest.raises(TypeError):
        spanmod.AsgiTracing(object(), _http.server_names(http, "asgi"))
    with pytest.raises(TypeError):
        spanmod.AsgiTracing(http, "not names")
