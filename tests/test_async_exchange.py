"""The core's ``AsyncExchange``, on both twins: an async HTTP client's send coroutine awaited as a traced
exchange without a coroutine of its own. The span starts when the exchange is first awaited, ends with the
response's status, or with the exception thrown in or raised (a cancellation, a close mid-way), and the
exchange is a coroutine to asyncio (``create_task``)."""

import asyncio
import collections.abc

import pytest

from ddfast.contrib import _http


class Response:
    def __init__(self, status_code):
        self.status_code = status_code
        self.headers = {}


def _exchange(tracer, spanmod, send, started=None):
    http = _http.http_of(tracer)
    names = _http.client_names(http, "httpx")

    def start(request):
        if started is not None:
            started.append(request)
        return http.client_start(names, "GET", request)

    return spanmod.AsyncExchange(http, start, "http://down.test/x", send)


def test_the_response_ends_the_span(make_tracer, spanmod):
    tracer = make_tracer()
    started = []

    async def send():
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return Response(503)

    async def main():
        with tracer.trace("parent") as parent:
            exchange = _exchange(tracer, spanmod, send(), started)
            assert started == []  # nothing runs before it is awaited
            response = await exchange
            assert tracer.current_span() is parent  # the client span ended, its parent is active again
        return parent, exchange, response

    parent, exchange, response = asyncio.run(main())
    assert response.status_code == 503 and started == ["http://down.test/x"]
    client = exchange.span
    assert client.finished and client.parent_id == parent.span_id
    assert client.get_tag("http.status_code") == "503" and client.error == 1  # a client error status
    with pytest.raises(RuntimeError):  # awaited once, as a coroutine
        exchange.send(None)


def test_an_exception_of_the_send_ends_the_span(make_tracer, spanmod):
    tracer = make_tracer()

    async def send():
        await asyncio.sleep(0)
        raise ConnectionError("refused")

    async def main():
        exchange = _exchange(tracer, spanmod, send())
        with pytest.raises(ConnectionError):
            await exchange
        return exchange

    span = asyncio.run(main()).span
    assert span.finished and span.error == 1 and span.get_tag("error.type").endswith("ConnectionError")


def test_a_task_of_it_cancelled(make_tracer, spanmod):
    tracer = make_tracer()

    async def send():
        await asyncio.sleep(10)
        return Response(200)

    async def main():
        exchange = _exchange(tracer, spanmod, send())
        assert asyncio.iscoroutine(exchange) and isinstance(exchange, collections.abc.Coroutine)
        task = asyncio.create_task(exchange)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return exchange

    span = asyncio.run(main()).span
    assert span.finished and span.get_tag("error.type").endswith("CancelledError")


def test_a_thrown_exception_the_send_handles(make_tracer, spanmod):
    tracer = make_tracer()

    async def send():
        try:
            await asyncio.sleep(10)
        except KeyError:
            return Response(204)

    async def main():
        exchange = _exchange(tracer, spanmod, send())
        assert exchange.send(None) is not None  # suspended in the sleep
        with pytest.raises(StopIteration) as stop:
            exchange.throw(KeyError("x"))
        return exchange, stop.value.value

    exchange, response = asyncio.run(main())
    assert response.status_code == 204 and exchange.span.get_tag("http.status_code") == "204"


def test_closed_mid_way_and_never_started(make_tracer, spanmod):
    tracer = make_tracer()

    async def send():
        await asyncio.sleep(10)
        return Response(200)

    async def main():
        exchange = _exchange(tracer, spanmod, send())
        exchange.send(None)
        exchange.close()
        assert exchange.span.finished and exchange.span.get_tag("error.type").endswith("GeneratorExit")
        untouched = _exchange(tracer, spanmod, send())
        with pytest.raises(ValueError):
            untouched.throw(ValueError("before"))  # raised as by the send's coroutine: nothing traced
        assert untouched.span is None
        never = _exchange(tracer, spanmod, send())
        never.close()
        assert never.span is None
        return exchange

    asyncio.run(main())
    assert [s.name for s in tracer.writer.pop()] == ["http.request"]


def test_not_traced(make_tracer, spanmod):
    tracer = make_tracer()
    http = _http.http_of(tracer)

    async def send():
        await asyncio.sleep(0)
        return Response(200)

    async def main():
        return await spanmod.AsyncExchange(http, lambda request: None, "r", send())

    assert asyncio.run(main()).status_code == 200 and tracer.writer.pop() == []


def test_misuse(make_tracer, spanmod):
    tracer = make_tracer()
    http = _http.http_of(tracer)

    async def send():
        return Response(200)

    coroutine = send()
    with pytest.raises(TypeError):
        spanmod.AsyncExchange(http, "not callable", "r", coroutine)
    with pytest.raises(TypeError):
        spanmod.AsyncExchange(object(), print, "r", coroutine)
    with pytest.raises(TypeError):
        spanmod.AsyncExchange(http, print, "r", asyncio.sleep)  # not a coroutine
    coroutine.close()
