"""The HTTP integrations' per-request span work in the core (``span.http_server_start``,
``http_client_start``, ``http_status``, ``split_url``, ``url_without_query``), on both twins: the URL
read as ``urllib.parse`` reads it, the spans tagged as ddtrace's integrations tag them, the status rules."""

import contextvars
import urllib.parse

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

URL_PARTS = st.sampled_from(list("abcXYZ019-._~:/?#[]@!$&'()*+,;=%Ä") + ["[::1]", "://", "user@"])


@given(st.lists(URL_PARTS, max_size=20).map("".join), st.sampled_from(["http://", "https://", "HTTP://", ""]))
@example("user:pw@[::1]:8080/a?b#c", "http://")
@example("Example.COM:80", "https://")
@example("h/p#f?q", "http://")
@example("", "http://")
def test_split_url_reads_host_and_path_as_urllib_does(spanmod, rest, scheme):
    url = scheme + rest
    host, path, bare = spanmod.split_url(url)
    assert bare == spanmod.url_without_query(url) == url.split("#")[0].split("?")[0]
    if scheme and "\\" not in rest:
        try:
            parts = urllib.parse.urlsplit(url)
            expected_host = parts.hostname
        except ValueError:  # urllib refuses some bracketed hosts; ours reads them leniently
            return
        assert path == parts.path
        assert host == expected_host


def test_url_without_query_keeps_the_string_when_there_is_none(spanmod):
    url = "http://h/p"
    assert spanmod.url_without_query(url) is url
    assert spanmod.url_without_query("http://h/p?a=1#f") == "http://h/p"
    assert spanmod.url_without_query("http://h/p#f?a") == "http://h/p"


@pytest.mark.parametrize(
    "status,errors,code,error",
    [
        (200, {500}, "200", False),
        (503, range(500, 600), "503", True),
        ("404 Not Found", {404}, "404", True),
        ("200 OK", {404}, "200", False),
        ("999", {999}, "999", True),
        (42, {42}, "42", True),
        ("nonsense", {500}, "nonsense", False),
        ("²00 OK", {200}, "²00", False),  # not an ASCII number: tagged as sent, never an error
    ],
)
def test_http_status_tags_the_code_as_text_and_marks_errors(make_tracer, spanmod, status, errors, code, error):
    span = make_tracer().start_span("s")
    assert spanmod.http_status(span, status, frozenset(errors)) is error
    assert span.get_tag("http.status_code") == code and span.error == int(error)


def test_a_server_span_continues_the_extracted_context_with_the_server_tags(make_tracer, prop, spanmod):
    tracer = make_tracer()
    parent = prop.http_extract(
        {"x-datadog-trace-id": "12", "x-datadog-parent-id": "34", "x-datadog-sampling-priority": "2"}
    )
    var = tracer.context_provider._var
    span = spanmod.http_server_start(tracer._state, var, parent, "wsgi.request", None, "wsgi", "GET",
                                     "http://h:8/p?q=1", "/p", "ua/1")  # fmt: skip
    assert tracer.current_span() is span
    assert (span.trace_id, span.parent_id, span.service) == (12, 34, "wsgi")
    assert (span.resource, span.span_type) == ("GET /p", "web")
    assert span.get_tags() == {
        "component": "wsgi", "span.kind": "server", "http.method": "GET", "http.url": "http://h:8/p",
        "http.useragent": "ua/1", "language": "python", "runtime-id": span.get_tag("runtime-id"),
    }  # fmt: skip
    span.finish()
    assert tracer.writer.pop()[0].get_metric("_sampling_priority_v1") == 2


def test_a_server_span_without_a_usable_parent_starts_a_trace(make_tracer, prop, spanmod):
    tracer = make_tracer()
    empty = prop.http_extract({})
    for parent in (None, empty):
        span = spanmod.http_server_start(tracer._state, contextvars.ContextVar("v"), parent, "n", "svc", "asgi",
                                         "POST", "http://h/", "", b"bytes-agent")  # fmt: skip
        assert span.parent_id is None and span.service == "svc" and span.resource == "POST /"
        assert span.get_tag("http.useragent") == "b'bytes-agent'"  # as set_tag stores a non-text value
    span = spanmod.http_server_start(tracer._state, contextvars.ContextVar("v"), None, "n", "svc", "wsgi",
                                     "GET", "http://h", None, None)  # fmt: skip
    assert span.resource == "GET /"  # no path: the root, on both twins


def test_a_client_span_is_a_child_of_the_active_span_with_the_client_tags(make_tracer, spanmod):
    tracer = make_tracer()
    var = tracer.context_provider._var
    with tracer.trace("parent") as parent:
        span = spanmod.http_client_start(tracer._state, var, "requests.request", "requests", "GET",
                                         "http://User@Example.COM:8080/a/b?x=1#f", None)  # fmt: skip
        assert tracer.current_span() is span and span.parent_id == parent.span_id
        assert (span.resource, span.span_type) == ("GET /a/b", "http")
        tags = span.get_tags()
        assert tags["http.url"] == "http://User@Example.COM:8080/a/b" and tags["out.host"] == "example.com"
        assert (tags["component"], tags["span.kind"], tags["http.method"]) == ("requests", "client", "GET")
        span.finish()
        assert tracer.current_span() is parent
    span = spanmod.http_client_start(tracer._state, var, "c", "httpx", "GET", "no-scheme", "svc")
    assert span.parent_id is None and "out.host" not in span.get_tags() and span.resource == "GET no-scheme"


def test_a_client_span_takes_a_fixed_resource_and_the_user_agent(make_tracer, spanmod):
    """What ddtrace names some client spans: one resource for every URL (``http.request``), and the
    request's ``User-Agent`` as ``http.useragent``; on both twins."""
    tracer = make_tracer()
    var = tracer.context_provider._var
    span = spanmod.http_client_start(tracer._state, var, "http.request", "httpx", "GET", "http://h/a/1", None,
                                     "http.request", "agent/1")  # fmt: skip
    assert (span.name, span.resource, span.get_tag("http.useragent")) == ("http.request", "http.request", "agent/1")
    span.finish()
    span = spanmod.http_client_start(tracer._state, var, "n", "c", "GET", "http://h/a/1", None, None, "")
    assert span.resource == "GET /a/1" and "http.useragent" not in span.get_tags()
    span.finish()
    span = spanmod.http_client_start(tracer._state, var, "n", "c", "GET", "http://h/a", None, None, b"agent/2")
    assert span.get_tag("http.useragent") == "b'agent/2'"  # as set_tag stores a non-text value, as the server
    span.finish()


def test_the_twins_agree_on_urls(twins):
    compiled, pure = twins("span")
    urls = ["http://[::1]:80/x", "http://a@b@c/d", "https://h?q", "ftp://h#f/x", "http://h:99999/p"]
    urls += ["http://Ex.COM:8/P", "http://[FE80::1%25Eth0]:8/x", "http://ÄB.de/x", "http://u@[/x", "http://:80/"]
    for url in urls:
        assert compiled.split_url(url) == pure.split_url(url)


@given(st.lists(URL_PARTS | st.sampled_from(["A", "%", "ß", "İ", "[", "]"]), max_size=24).map("".join),
       st.sampled_from(["http://", "https://", ""]))  # fmt: skip
def test_the_twins_split_any_url_alike(twins, rest, scheme):
    """The compiled twin reads the authority in one pass over its characters: to the pure twin's result."""
    compiled, pure = twins("span")
    assert compiled.split_url(scheme + rest) == pure.split_url(scheme + rest)


STATUS_TEXT = st.one_of(
    st.text(alphabet="0123456789 OK\t²５-", max_size=8),
    st.sampled_from(["200 OK", "404 Not Found", "500", "099 Low", "600 High", "2000 X", "200\tOK", "20", "503 "]),
)


@given(STATUS_TEXT, st.sampled_from([frozenset(), frozenset(range(500, 600)), frozenset([200, 404])]))
def test_http_status_reads_a_status_line_alike_in_both_twins(twins, status, errors):
    """The compiled twin reads a status line that starts with a code without slicing it: to the same tag
    and error as the pure twin's reading."""
    compiled, pure = twins("span")
    results = []
    for module in (compiled, pure):
        span = module.Span("s")
        marked = module.http_status(span, status, errors)
        results.append((marked, span.get_tag("http.status_code"), span.error))
    assert results[0] == results[1]
    code = status.split(" ")[0]
    assert results[1][1] == code
