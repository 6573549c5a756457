"""Hostile request headers never reach the application as an exception: the WSGI and ASGI middleware
always serve the request and make one server span, whatever the headers hold."""

import asyncio
import string

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ddfast.contrib.asgi import TraceMiddleware as ASGIMiddleware
from ddfast.contrib.wsgi import TraceMiddleware as WSGIMiddleware

NAMES = ["x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority", "x-datadog-origin",
         "x-datadog-tags", "traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "baggage", "host",
         "user-agent"]  # fmt: skip
values = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=string.hexdigits + "-,;=:_. %", max_size=80),
    st.sampled_from(["", "0", "-1", "18446744073709551616", "00-" + "f" * 32 + "-" + "0" * 16 + "-01", "dd=s:2;t.dm:"]),
)
headers = st.dictionaries(st.sampled_from(NAMES), values, max_size=8)


@settings(max_examples=150)
@given(h=headers)
def test_wsgi_middleware_serves_any_headers(make_tracer, h):
    tracer = make_tracer()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.url_scheme": "http", "SERVER_NAME": "s",
               "SERVER_PORT": "80"}  # fmt: skip
    for name, value in h.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    body = WSGIMiddleware(app, tracer=tracer)(environ, lambda status, headers, exc_info=None: None)
    assert b"".join(body) == b"ok"
    body.close()
    spans = tracer.writer.pop()
    assert [s.name for s in spans] == ["wsgi.request"] and spans[0].get_tag("http.status_code") == "200"


@settings(max_examples=150)
@given(h=headers, raw=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=60)), max_size=3))
def test_asgi_middleware_serves_any_headers(make_tracer, h, raw):
    tracer = make_tracer()
    scope_headers = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in h.items()] + raw
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": scope_headers, "scheme": "http"}
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    asyncio.run(ASGIMiddleware(app, tracer=tracer)(scope, None, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    spans = tracer.writer.pop()
    assert [s.name for s in spans] == ["asgi.request"] and spans[0].get_tag("http.status_code") == "200"
