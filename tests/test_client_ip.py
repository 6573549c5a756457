"""``DD_TRACE_CLIENT_IP_ENABLED``: server spans carry ``http.client_ip`` (from the proxy headers, ddtrace's
rules, compared with ddtrace's own resolver) and ``network.client.ip`` (the peer); nothing when off.
Through the WSGI and ASGI middleware, on both implementations."""

import asyncio

import pytest

import ddfast
from ddfast.contrib import asgi
from ddfast.contrib import client_ip
from ddfast.contrib import wsgi

CASES = [
    ({}, "8.8.8.8"),
    ({}, "10.0.0.1"),
    ({"x-forwarded-for": "1.2.3.4"}, "10.0.0.1"),
    ({"x-forwarded-for": "10.1.1.1, 192.168.0.1, 93.184.216.34"}, "10.0.0.1"),
    ({"x-forwarded-for": "10.1.1.1, 192.168.0.1"}, "10.0.0.1"),
    ({"x-forwarded-for": "10.1.1.1"}, "8.8.4.4"),
    ({"x-forwarded-for": "not an ip, 2001:4860:4860::8888"}, "127.0.0.1"),
    ({"x-forwarded-for": "1.2.3.4 "}, "127.0.0.1"),
    ({"forwarded": 'for="[2001:db8:cafe::17]";proto=https, for=93.184.216.34'}, "127.0.0.1"),
    ({"forwarded": "proto=https;for=93.184.216.34:4711"}, "127.0.0.1"),
    ({"x-real-ip": "93.184.216.34", "x-forwarded-for": "10.0.0.9"}, "127.0.0.1"),
    ({"cf-connecting-ipv6": "2001:4860:4860::8844"}, None),
    ({"x-forwarded-for": "999.1.1.1"}, None),
    ({"true-client-ip": "172.16.5.5"}, "not-an-address"),
    ({"x-client-ip": ""}, "8.8.8.8"),
]


@pytest.mark.parametrize("headers,peer", CASES)
def test_the_address_is_resolved_as_ddtrace_resolves_it(headers, peer):
    from ddtrace.contrib.internal.trace_utils import _get_request_header_client_ip

    expected = _get_request_header_client_ip(headers, peer) or peer
    assert (client_ip.resolve(headers.get, peer) or peer) == expected


def test_a_configured_header_is_the_only_one_read():
    headers = {"x-forwarded-for": "93.184.216.34", "x-my-ip": "8.8.8.8"}
    assert client_ip.resolve(headers.get, "10.0.0.1", "x-my-ip") == "8.8.8.8"
    assert client_ip.resolve(headers.get, "10.0.0.1", "x-absent") == ""
    assert client_ip.resolve({"x-my-ip": "8.8.8.8, 1.1.1.1"}.get, "10.0.0.1", "x-my-ip") == ""  # one address only


@pytest.fixture
def enabled():
    saved = (ddfast.config.client_ip_enabled, ddfast.config.client_ip_header)
    ddfast.config.client_ip_enabled = True
    yield
    ddfast.config.client_ip_enabled, ddfast.config.client_ip_header = saved


def _wsgi_span(make_tracer, headers, peer="10.0.0.1"):
    tracer = make_tracer()

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"x"]

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/p", "SERVER_NAME": "h", "SERVER_PORT": "80", "REMOTE_ADDR": peer}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    body = wsgi.TraceMiddleware(app, tracer=tracer)(environ, lambda *a: None)
    list(body)
    body.close()
    (span,) = tracer.writer.pop()
    return span


def test_wsgi_server_spans_carry_the_client_address(make_tracer, enabled):
    span = _wsgi_span(make_tracer, {"X-Forwarded-For": "10.1.1.1, 93.184.216.34"})
    assert span.get_tag("http.client_ip") == "93.184.216.34" and span.get_tag("network.client.ip") == "10.0.0.1"
    span = _wsgi_span(make_tracer, {})
    assert span.get_tag("http.client_ip") == "10.0.0.1" == span.get_tag("network.client.ip")


def test_asgi_server_spans_carry_the_client_address(make_tracer, enabled):
    tracer = make_tracer()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def noop(*_):
        return {"type": "http.request"}

    scope = {"type": "http", "method": "GET", "path": "/p", "headers": [(b"x-real-ip", b"8.8.8.8")],
             "client": ("192.168.1.2", 5000), "server": ("h", 80)}  # fmt: skip
    asyncio.run(asgi.TraceMiddleware(app, tracer=tracer)(scope, noop, noop))
    (span,) = tracer.writer.pop()
    assert span.get_tag("http.client_ip") == "8.8.8.8" and span.get_tag("network.client.ip") == "192.168.1.2"


def test_off_by_default_no_address_is_recorded(make_tracer):
    assert ddfast.config.client_ip_enabled is False
    span = _wsgi_span(make_tracer, {"X-Forwarded-For": "93.184.216.34"})
    assert span.get_tag("http.client_ip") is None and span.get_tag("network.client.ip") is None


def test_the_settings_are_read_from_the_environment():
    from ddfast.settings import Config

    cfg = Config(environ={"DD_TRACE_CLIENT_IP_ENABLED": "true", "DD_TRACE_CLIENT_IP_HEADER": " X-My-IP "})
    assert (cfg.client_ip_enabled, cfg.client_ip_header) == (True, "x-my-ip")
    assert (Config(environ={}).client_ip_enabled, Config(environ={}).client_ip_header) == (False, None)
