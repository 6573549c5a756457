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


URLS = ["http://a.b/c?d=1#f", "https://u:p@h:8443/x", "http://[::1]:8080/", "http://[::1]:80/", "http://h/p?",
        "http://h/p#", "http://h", "https://EXAMPLE.com/a%20b?x=%20", "http://bücher.ch/ü?ü=1", "http://h:80/p",
        "/relative?x", "mailto:x@y", "file:///x", "http://u@h/"]  # fmt: skip


@pytest.mark.parametrize("url", URLS)
def test_the_span_url_is_httpxs_own_text(url, spanmod):
    url_text = traced_httpx._url_text(httpx, spanmod)
    assert url_text is not str  # this httpx keeps the parts the text is made of
    assert url_text(httpx.URL(url)) == str(httpx.URL(url))


def test_a_url_of_another_make_is_read_as_text(spanmod):
    class Url:
        def __str__(self):
            return "http://other/x"

    assert traced_httpx._url_text(httpx, spanmod)(Url()) == "http://other/x"

    class Parts(tuple):
        pass

    url = Url()
    url._uri_reference = Parts(("http", "", "h", None, "/", None, None))  # not httpx's parts type
    assert traced_httpx._url_text(httpx, spanmod)(url) == "http://other/x"


@pytest.mark.parametrize("async_client", [False, True])
def test_the_client_span_url_has_no_query(patched, async_client):
    def handler(request):
        return httpx.Response(204)

    url = "http://shop:8080/items/1?secret=yes"
    if async_client:
        import asyncio

        async def get():
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
                return await client.get(url)

        response = asyncio.run(get())
    else:
        response = httpx.Client(transport=httpx.MockTransport(handler)).get(url)
    assert response.status_code == 204
    (span,) = patched.writer.pop()
    assert span.get_tag("http.url") == "http://shop:8080/items/1" and span.get_tag("http.status_code") == "204"


def test_cookie_handling_is_wrapped_only_once_headers_are_injected(make_tracer, prop):
    saved = prop.active_settings()
    prop.configure(prop.Settings(extract_styles=saved.extract_styles, inject_styles=()))
    traced_httpx.patch(tracer=make_tracer())
    try:
        seen = []
        with _client(seen) as client:
            client.get("http://shop.test/cart")
            assert "x-datadog-trace-id" not in seen[0].headers and dict(client.cookies) == {"session": "abc", "n": "1"}
            # nothing injected: httpx's cookie handling runs as it is, no wrapper per response
            assert not hasattr(httpx.Cookies.extract_cookies, "__ddfast_original__")
            prop.configure(saved)
            client.get("http://shop.test/cart")
            assert "x-datadog-trace-id" in seen[1].headers
            assert hasattr(httpx.Cookies.extract_cookies, "__ddfast_original__")
    finally:
        prop.configure(saved)
        traced_httpx.unpatch()
    assert not hasattr(httpx.Cookies.extract_cookies, "__ddfast_original__")


@pytest.mark.parametrize(
    "parts, text",
    [
        (("http", "", "h", None, "/p", None, None), "http://h/p"),
        (("http", "u:p", "::1", 8080, "", "", ""), "http://u:p@[::1]:8080?#"),
        (("", "", "", None, "/rel", "q", None), "/rel?q"),
        (("mailto", "", "", None, "x@y", None, None), "mailto:x@y"),
        (("", "", "h", 81, "/p", None, "f"), "//h:81/p#f"),
    ],
)
def test_a_url_made_from_its_parts(spanmod, parts, text):
    from httpx._urlparse import ParseResult

    class Url:
        _uri_reference = ParseResult(*parts)

    assert spanmod.UrlText("_uri_reference", ParseResult).of(Url()) == text


def test_url_text_and_listed_header_misuse(spanmod):
    with pytest.raises(TypeError):
        spanmod.UrlText("_uri_reference", str)  # not a tuple type
    with pytest.raises(TypeError):
        spanmod.UrlText(None, tuple)
    with pytest.raises(TypeError):
        spanmod.listed_header({}, b"user-agent")
    with pytest.raises(TypeError):
        spanmod.listed_header([], "user-agent")


def test_listed_header(spanmod):
    items = httpx.Headers([(b"Accept", b"*/*"), (b"User-Agent", b"caf\xe9/1"), (b"user-agent", b"second")])._list
    assert spanmod.listed_header(items, b"user-agent") == "caf\xe9/1"  # the first, latin-1
    assert spanmod.listed_header(items, b"x-absent") is None
    assert spanmod.listed_header([], b"user-agent") is None
