"""``DD_TRACE_HTTP_SERVER_ERROR_STATUSES`` / ``DD_TRACE_HTTP_CLIENT_ERROR_STATUSES``: which response
statuses make an HTTP span an error (ddtrace's settings and defaults), on both implementations."""

import pytest

import ddfast
from ddfast.contrib import _http
from ddfast.contrib.wsgi import TraceMiddleware
from ddfast.settings import Config
from ddfast.settings import parse_statuses


def _serve(make_tracer, status):
    """One in-process WSGI request answered with ``status``: the server span."""
    tracer = make_tracer()

    def app(environ, start_response):
        start_response(status, [("Content-Type", "text/plain")])
        return [b"x"]

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/p", "SERVER_NAME": "h", "SERVER_PORT": "80"}
    body = TraceMiddleware(app, tracer=tracer)(environ, lambda *a: None)
    list(body)
    body.close()
    (span,) = tracer.writer.pop()
    return span


@pytest.fixture
def statuses():
    saved = (ddfast.config.http_server_error_statuses, ddfast.config.http_client_error_statuses)
    yield
    ddfast.config.http_server_error_statuses, ddfast.config.http_client_error_statuses = saved


@pytest.mark.parametrize("status,error", [("200 OK", 0), ("404 Not Found", 0), ("500 Error", 1), ("503 X", 1)])
def test_by_default_5xx_makes_a_server_span_an_error(make_tracer, status, error):
    assert _serve(make_tracer, status).error == error


def test_the_server_statuses_setting_is_honoured(make_tracer, statuses):
    ddfast.config.http_server_error_statuses = parse_statuses("404,500-502", "", "test")
    assert [_serve(make_tracer, s).error for s in ("404 A", "500 B", "503 C")] == [1, 1, 0]


def test_client_statuses(spanmod, statuses):
    """As in ddtrace, a client span is an error for the server error statuses (5xx by default); ddfast's
    own ``DD_TRACE_HTTP_CLIENT_ERROR_STATUSES``, when set, overrides them for client spans."""
    marked = []
    for status in (404, 503):
        span = spanmod.Span("http.request")
        _http.set_client_status(span, status)
        marked.append(span.error)
    assert marked == [0, 1]
    ddfast.config.http_server_error_statuses = parse_statuses("404,500-599", "", "test")
    span = spanmod.Span("http.request")
    _http.set_client_status(span, 404)
    assert span.error == 1  # the server setting applies to client spans too
    ddfast.config.http_client_error_statuses = parse_statuses("400-499", "", "test")
    for status, error in ((404, 1), (503, 0)):
        span = spanmod.Span("http.request")
        _http.set_client_status(span, status)
        assert span.error == error and span.get_tag("http.status_code") == str(status)


@pytest.mark.parametrize(
    "text,codes",
    [(None, set(range(500, 600))), ("", set(range(500, 600))), ("404", {404}), ("400-402, 500", {400, 401, 402, 500})],
)
def test_statuses_parse_as_ddtrace_writes_them(text, codes):
    env = {} if text is None else {"DD_TRACE_HTTP_SERVER_ERROR_STATUSES": text}
    assert Config(environ=env).http_server_error_statuses == codes
    assert Config(environ={}).http_client_error_statuses is None  # unset: the server statuses apply


@pytest.mark.parametrize("text", ["abc", "500-", "600", "599-500", "50x"])
def test_a_bad_client_value_warns_naming_it_and_the_server_statuses_apply(text, caplog):
    with caplog.at_level("WARNING", logger="ddfast"):
        cfg = Config(environ={"DD_TRACE_HTTP_CLIENT_ERROR_STATUSES": text})
    assert cfg.http_client_error_statuses is None  # as if unset: the server statuses apply
    (warning,) = caplog.records
    assert "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES=%r" % text in warning.getMessage()
    assert "using the server's statuses" in warning.getMessage()
    with pytest.raises(ValueError, match="DD_TRACE_HTTP_CLIENT_ERROR_STATUSES"):
        parse_statuses(text, "400-499", "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES")
