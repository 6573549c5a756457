"""``TraceMiddleware(app)``: traces a WSGI application (Django, Flask, Bottle, Falcon, Pyramid,
Pylons-style apps, any PEP 3333 app) as ddtrace's WSGI middleware does.

Each request gets a ``wsgi.request`` server span, a child of the caller's trace when the request
carries one (any configured propagation style), tagged as ``ddfast.contrib._http`` describes, resource
``"METHOD /path"``. The span ends when the server closes the response iterable, so streamed bodies
are timed whole. ``distributed_tracing``: see ``ddfast.contrib._http`` (``DD_WSGI_DISTRIBUTED_TRACING``).
"""

import functools

from ddfast.contrib import _http


def request_url(environ):
    """The request's URL without its query string (PEP 3333's reconstruction)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "")
        port = environ.get("SERVER_PORT", "")
        if port and port != ("443" if scheme == "https" else "80"):
            host += ":" + port
    return "%s://%s%s%s" % (scheme, host, environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))


_NOT_ROUTED = object()
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def environ_header(environ, name):
    """The value of request header ``name`` (lower case) in a WSGI ``environ``, or None."""
    key = _UNPREFIXED.get(name) or "HTTP_" + name.upper().replace("-", "_")
    return environ.get(key)


class _Response:
    """The application's response iterable; finishes the span when the server closes it."""

    __slots__ = ("_body", "_span")

    def __init__(self, body, span):
        self._body = body
        self._span = span

    def __iter__(self):
        try:
            yield from self._body
        except BaseException as e:
            self._span.set_exc_info(type(e), e, e.__traceback__)
            raise

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._span.finish()


class TraceMiddleware:
    """Wraps a WSGI ``app``. ``tracer`` defaults to ddfast's global one; ``service`` to ``DD_SERVICE``
    or ``"wsgi"``."""

    def __init__(self, app, tracer=None, service=None, distributed_tracing=None, span_name="wsgi.request"):
        if not callable(app):
            raise TypeError("TraceMiddleware wraps a WSGI application (a callable), not %s" % type(app).__name__)
        self.app = app
        self.tracer = _http.global_tracer(tracer)
        self.service = service
        self.distributed_tracing = _http.distributed_tracing("wsgi", distributed_tracing)
        self.span_name = span_name

    def __call__(self, environ, start_response):
        if not self.tracer.enabled:
            return self.app(environ, start_response)
        span = _http.start_server_span(
            self.tracer,
            environ,
            self.span_name,
            "wsgi",
            self.service,
            environ.get("REQUEST_METHOD", "GET"),
            request_url(environ),
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            self.distributed_tracing,
            environ.get("HTTP_USER_AGENT"),
        )

        if _http.header_tags:
            _http.tag_headers(span, functools.partial(environ_header, environ))

        def traced_start_response(status, headers, exc_info=None):
            _http.set_server_status(span, status)
            if _http.header_tags:
                _http.tag_headers(span, _http.pairs_getter(headers), True)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            body = self.app(environ, traced_start_response)
        except BaseException as e:
            _http.finish_with_error(span, e)
            raise
        route = environ.get(_http.ROUTE_KEY, _NOT_ROUTED)
        if route is not _NOT_ROUTED:  # a framework hook said which route served the request
            _http.set_route(span, environ.get("REQUEST_METHOD", "GET"), route)
        return _Response(body, span)
