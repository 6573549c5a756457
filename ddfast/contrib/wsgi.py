"""``TraceMiddleware(app)``: traces a WSGI application (Django, Flask, Bottle, Falcon, Pyramid, any
PEP 3333 app) as ddtrace's WSGI middleware does.

Each request gets a ``wsgi.request`` server span, a child of the caller's trace when the request
carries one (any configured propagation style), with ddtrace's tags: ``component``, ``span.kind``,
``http.method``, ``http.url`` (no query string), ``http.useragent``, ``http.status_code``, resource
``"METHOD /path"``. A 5xx status or an exception marks the span as an error. The span ends when the
server closes the response iterable, so streamed bodies are timed whole.
"""

from ddfast.propagation import HTTPPropagator

_extract = HTTPPropagator.extract


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
    or ``"wsgi"``; ``distributed_tracing=False`` ignores the caller's headers (a new trace per request).
    """

    def __init__(self, app, tracer=None, service=None, distributed_tracing=True, span_name="wsgi.request"):
        if not callable(app):
            raise TypeError("TraceMiddleware wraps a WSGI application (a callable), not %s" % type(app).__name__)
        if tracer is None:
            from ddfast.tracer import tracer
        self.app = app
        self.tracer = tracer
        self.service = service
        self.distributed_tracing = bool(distributed_tracing)
        self.span_name = span_name

    def __call__(self, environ, start_response):
        tracer = self.tracer
        if not tracer.enabled:
            return self.app(environ, start_response)
        parent = _extract(environ) if self.distributed_tracing else None
        if parent is not None and parent.trace_id is None:
            parent = None
        method = environ.get("REQUEST_METHOD", "GET")
        span = tracer.start_span(
            self.span_name,
            child_of=parent,
            service=self.service or tracer._service or "wsgi",
            resource="%s %s" % (method, environ.get("PATH_INFO") or "/"),
            span_type="web",
            activate=True,
        )
        span.set_tag("component", "wsgi")
        span.set_tag("span.kind", "server")
        span.set_tag("http.method", method)
        span.set_tag("http.url", request_url(environ))
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            span.set_tag("http.useragent", agent)

        def traced_start_response(status, headers, exc_info=None):
            code = status.split(" ", 1)[0]
            span.set_tag("http.status_code", code)
            if code[:1] == "5":
                span.error = 1
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            body = self.app(environ, traced_start_response)
        except BaseException as e:
            span.set_exc_info(type(e), e, e.__traceback__)
            span.finish()
            raise
        return _Response(body, span)
