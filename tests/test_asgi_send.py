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
