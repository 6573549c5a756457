"""``ddfast.contrib.httpx`` writes the propagation headers straight into the request's header list and
keeps them out of httpx's cookie handling: the server receives them, the request still shows them,
cookies are extracted as without tracing, and a header the caller set is replaced, not repeated."""

import pytest

httpx = pytest.importorskip("httpx")

from ddfast.contrib import httpx as traced_httpx  # noqa: E402


@pytest.fixture
def patched(make_tracer):
    tracer = make_tracer()
    traced_httpx.patch(tracer=tracer)
    try:
        yield tracer
    finally:
        traced_httpx.unpatch()


def _client(seen):
    def handler(request):
        seen.append(request)
        return httpx.Response(200, headers=[("set-cookie", "session=abc; Path=/"), ("set-cookie", "n=1; Path=/")])

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_headers_reach_the_server_and_cookies_are_kept(patched):
    seen = []
    with _client(seen) as client, patched.trace("parent") as parent:
        response = client.get("http://shop.test/cart", headers={"X-Mine": "1", "traceparent": "caller's"})
    (sent,) = seen
    (client_span,) = [s for s in patched.writer.pop() if s.name == "http.request"]
    assert client_span.parent_id == parent.span_id
    assert sent.headers["x-datadog-parent-id"] == str(client_span.span_id)
    assert sent.headers.get_list("traceparent") == [sent.headers["traceparent"]] != ["caller's"]  # replaced once
    assert sent.headers["x-mine"] == "1"
    # httpx's cookie jar took the response's cookies, and the request still carries what was sent
    assert dict(client.cookies) == {"session": "abc", "n": "1"}
    assert int(response.request.headers["x-datadog-trace-id"]) == client_span.trace_id & (2**64 - 1)
    assert [k for k, _ in response.request.headers.multi_items()].count("traceparent") == 1


def test_cookies_and_headers_without_distributed_tracing(make_tracer):
    tracer = make_tracer()
    traced_httpx.patch(tracer=tracer, distributed_tracing=False)
    try:
        seen = []
        with _client(seen) as client:
            client.get("http://shop.test/cart")
        assert "x-datadog-trace-id" not in seen[0].headers and dict(client.cookies) == {"session": "abc", "n": "1"}
    finally:
        traced_httpx.unpatch()
    assert not hasattr(httpx.Cookies.extract_cookies, "__ddfast_original__")  # unpatched
