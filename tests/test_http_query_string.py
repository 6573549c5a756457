"""Query strings in ``http.url``: left out by default; kept and obfuscated as ddtrace obfuscates them
when ``DD_HTTP_SERVER_TAG_QUERY_STRING`` / ``DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING`` ask for them
(``DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP``, ddtrace's default pattern); a bad pattern is warned about
and the default used (refused when assigned in code). Servers (WSGI, ASGI) and clients (httpx), on both
implementations."""

import asyncio
import re

import pytest

import ddfast
from ddfast.contrib import asgi
from ddfast.contrib import query_string
from ddfast.contrib import wsgi
from ddfast.settings import Config

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
QUERIES = [
    "q=shoes&size=42",
    "q=shoes&password=hunter2&api_key=abc123&page=2",
    "token=xyz&Authorization=Basic%20abc",
    "pwd=1&new_password=2&passphrase=three&secret=4&signature=5",
    "next=%2Fhome&jwt=" + JWT,
    'data={"password": "hunter2", "user": "x"}',
    "bearer%20abc.def-ghi&x=1",
    "",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_default_pattern_obfuscates_as_ddtrace_does(query):
    from ddtrace.internal.settings._config import DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP_DEFAULT
    from ddtrace.internal.utils.http import redact_query_string

    assert query_string.DEFAULT_PATTERN == DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP_DEFAULT
    expected = redact_query_string(query, re.compile(query_string.DEFAULT_PATTERN.encode()), preserve_delimiter=True)
    obfuscator = query_string.Obfuscator(query_string.compile_pattern(query_string.DEFAULT_PATTERN))
    assert obfuscator.query(query) == expected.decode()


def test_urls_keep_their_path_and_lose_their_fragment():
    obfuscator = query_string.Obfuscator(query_string.compile_pattern(query_string.DEFAULT_PATTERN))
    assert obfuscator.url("http://h/p?a=1&password=x#frag") == "http://h/p?a=1&<redacted>"
    assert obfuscator.url("http://h/p", "a=1") == "http://h/p?a=1"
    assert obfuscator.url("http://h/p#f") == obfuscator.url("http://h/p", "") == "http://h/p"
    kept = query_string.Obfuscator(query_string.compile_pattern(""))
    assert kept.url("http://h/p?password=x") == "http://h/p?password=x"  # "": nothing obfuscated


def test_settings_are_read_and_a_bad_pattern_warns_and_the_default_is_used(caplog):
    cfg = Config(environ={})
    assert (cfg.http_server_tag_query_string, cfg.http_client_tag_query_string) == (False, False)
    assert cfg.obfuscation_query_string_regexp is None
    cfg = Config(environ={"DD_HTTP_SERVER_TAG_QUERY_STRING": "true", "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING": "1",
                          "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP": "secret=[^&]*"})  # fmt: skip
    assert (cfg.http_server_tag_query_string, cfg.http_client_tag_query_string) == (True, True)
    with caplog.at_level("WARNING", logger="ddfast"):
        cfg = Config(environ={"DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP": "(unclosed"})
    assert cfg.obfuscation_query_string_regexp is None  # ddtrace's default pattern
    (warning,) = caplog.records
    assert "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP='(unclosed'" in warning.getMessage()
    assert "using ddtrace's default pattern" in warning.getMessage()
    with pytest.raises(ValueError, match="obfuscation_query_string_regexp"):
        ddfast.config.obfuscation_query_string_regexp = "(unclosed"


@pytest.fixture
def settings():
    names = ("http_server_tag_query_string", "http_client_tag_query_string", "obfuscation_query_string_regexp")
    saved = [getattr(ddfast.config, n) for n in names]
    yield ddfast.config
    for name, value in zip(names, saved, strict=True):
        setattr(ddfast.config, name, value)


def _wsgi_url(make_tracer, query):
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"x"]

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/search", "QUERY_STRING": query, "HTTP_HOST": "shop"}
    body = wsgi.TraceMiddleware(app, tracer=tracer)(environ, lambda *a: None)
    list(body)
    body.close()
    (span,) = tracer.writer.pop()
    return span.get_tag("http.url")


def _asgi_url(make_tracer, query):
    tracer = make_tracer()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def noop(*_):
        return {"type": "http.request"}

    scope = {"type": "http", "method": "GET", "path": "/search", "query_string": query.encode(),
             "headers": [(b"host", b"shop")]}  # fmt: skip
    asyncio.run(asgi.TraceMiddleware(app, tracer=tracer)(scope, noop, noop))
    (span,) = tracer.writer.pop()
    return span.get_tag("http.url")


@pytest.mark.parametrize("server_url", [_wsgi_url, _asgi_url])
def test_servers_leave_the_query_out_unless_asked(make_tracer, settings, server_url):
    query = "q=shoes&password=hunter2"
    assert server_url(make_tracer, query) == "http://shop/search"
    settings.http_server_tag_query_string = True
    assert server_url(make_tracer, query) == "http://shop/search?q=shoes&<redacted>"
    settings.obfuscation_query_string_regexp = "q=[^&]*"
    assert server_url(make_tracer, query) == "http://shop/search?<redacted>&password=hunter2"
    assert server_url(make_tracer, "") == "http://shop/search"


def test_clients_leave_the_query_out_unless_asked(make_tracer, settings):
    httpx = pytest.importorskip("httpx")
    from ddfast.contrib import httpx as traced_httpx

    tracer = make_tracer()
    traced_httpx.patch(tracer=tracer)
    try:
        client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
        client.get("http://api.test/v1/items?id=3&api_key=abc")
        settings.http_client_tag_query_string = True
        client.get("http://api.test/v1/items?id=3&api_key=abc")
    finally:
        traced_httpx.unpatch()
    first, second = tracer.writer.pop()
    assert first.get_tag("http.url") == "http://api.test/v1/items"
    assert second.get_tag("http.url") == "http://api.test/v1/items?id=3&<redacted>"
    assert second.resource == "http.request"  # httpx's, as in ddtrace
