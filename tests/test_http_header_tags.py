"""``DD_TRACE_HEADER_TAGS``: request and response headers recorded as span tags, with ddtrace's default
tag names (``http.request.headers.<name>`` / ``http.response.headers.<name>``) or the configured ones,
on servers (the WSGI and ASGI middleware) and clients (requests, httpx, urllib3); both implementations."""

import asyncio

import pytest

import ddfast
from ddfast.contrib import asgi
from ddfast.contrib import httpx as traced_httpx
from ddfast.contrib import requests as traced_requests
from ddfast.contrib import urllib3 as traced_urllib3
from ddfast.contrib import wsgi
from ddfast.settings import Config


@pytest.fixture
def header_tags():
    saved = ddfast.config.trace_header_tags
    ddfast.config.trace_header_tags = Config(
        environ={"DD_TRACE_HEADER_TAGS": "X-Request-Id,Content-Type:req.ctype,X-Served-By"}
    ).trace_header_tags
    yield
    ddfast.config.trace_header_tags = saved


def test_the_setting_reads_as_ddtrace_writes_it():
    tags = Config(environ={"DD_TRACE_HEADER_TAGS": "X-Request-Id, User-Agent:ua.tag"}).trace_header_tags
    assert tags == {"x-request-id": "", "user-agent": "ua.tag"}
    assert Config(environ={}).trace_header_tags == {}


def test_wsgi_server_tags_request_and_response_headers(make_tracer, header_tags):
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Served-By", "node-7")])
        return [b"ok"]

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "h", "SERVER_PORT": "80",
               "HTTP_X_REQUEST_ID": "r-1", "CONTENT_TYPE": "application/json"}  # fmt: skip
    body = wsgi.TraceMiddleware(app, tracer=tracer)(environ, lambda *a: None)
    body.close()
    (span,) = tracer.writer.pop()
    assert span.get_tag("http.request.headers.x-request-id") == "r-1"
    assert span.get_tag("req.ctype") == "text/plain"  # a configured name serves both directions; last wins
    assert span.get_tag("http.response.headers.x-served-by") == "node-7"


def test_asgi_server_tags_request_and_response_headers(make_tracer, header_tags):
    tracer = make_tracer()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-served-by", b"node-8")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run():
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-request-id", b"r-2")]}

        async def send(message):
            pass

        await asgi.TraceMiddleware(app, tracer=tracer)(scope, None, send)

    asyncio.run(run())
    (span,) = tracer.writer.pop()
    assert span.get_tag("http.request.headers.x-request-id") == "r-2"
    assert span.get_tag("http.response.headers.x-served-by") == "node-8"


@pytest.mark.parametrize("client", ["requests", "httpx", "urllib3"])
def test_clients_tag_request_and_response_headers(traced, header_tags, client):
    module = pytest.importorskip(client)
    {"requests": traced_requests, "httpx": traced_httpx, "urllib3": traced_urllib3}[client].patch(tracer=traced)
    url = traced.downstream.url + "/a"
    with traced.trace("job"):
        if client == "urllib3":
            module.PoolManager().request("GET", url, headers={"X-Request-Id": "r-3"})
        else:
            module.get(url, headers={"X-Request-Id": "r-3"})
    (span,) = [s for s in traced.writer.pop() if s.name != "job"]
    assert span.get_tag("http.request.headers.x-request-id") == "r-3"
    assert span.get_tag("http.response.headers.x-served-by") is None  # the downstream sends none


def test_nothing_is_tagged_when_the_setting_is_empty(make_tracer):
    assert ddfast.config.trace_header_tags == {}
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [("X-Served-By", "node-7")])
        return [b"ok"]

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "h", "SERVER_PORT": "80",
               "HTTP_X_REQUEST_ID": "r-1"}  # fmt: skip
    wsgi.TraceMiddleware(app, tracer=tracer)(environ, lambda *a: None).close()
    (span,) = tracer.writer.pop()
    assert not [k for k in span.get_tags() if "headers" in k]
