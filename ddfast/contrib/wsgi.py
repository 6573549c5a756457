"""``TraceMiddleware(app)``: traces a WSGI application (Django, Flask, Bottle, Falcon, Pyramid,
Pylons-style apps, any PEP 3333 app) as ddtrace's WSGI middleware does.

Each request gets a ``wsgi.request`` server span (``http.server.request`` under
``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``), a child of the caller's trace when the request carries one (any
configured propagation style), tagged as ``ddfast.contrib._http`` describes (as ddtrace's WSGI middleware,
without ``http.useragent``), resource ``"METHOD /path"``. The span ends when the server closes the response
iterable, so streamed bodies are timed whole. ``distributed_tracing``: see ``ddfast.contrib._http``
(``DD_WSGI_DISTRIBUTED_TRACING``).
"""

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


#: where the exception an application passed to ``start_response`` (with an error page) is left in the environ
EXC_INFO_KEY = "ddfast.exc_info"
environ_header = _http.environ_header


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
    or ``"wsgi"``. ``annotate(span, environ, method)``, when a framework hook sets it, runs once the
    application returned (to leave the route at ``_http.ROUTE_KEY`` from what the framework kept); the span
    is then named after the route left in the environ (``tracer.http.annotate``). ``integration`` (a key
    of ``_http.SERVERS``) names the spans."""

    def __init__(self, app, tracer=None, service=None, distributed_tracing=None, span_name=None, integration="wsgi"):
        if not callable(app):
            raise TypeError("TraceMiddleware wraps a WSGI application (a callable), not %s" % type(app).__name__)
        self.app = app
        self.tracer = tracer = _http.global_tracer(tracer)
        self.annotate = None
        # bound once: the tracer's request path and this integration's names
        self._http = http = _http.http_of(tracer)
        self._names = names = _http.server_names(http, integration, service, distributed_tracing, span_name)
        self._start = http.wsgi_start
        self.service = names.service
        self.distributed_tracing = names.distributed
        self.span_name = names.name
        self.component = names.component
        self.useragent = names.useragent

    def __call__(self, environ, start_response):
        span = self._start(self._names, environ)
        if span is None:  # off, or traced by an outer middleware
            return self.app(environ, start_response)
        http = self._http

        def traced_start_response(status, headers, exc_info=None):
            http.status(span, status, headers)
            if exc_info:  # an error page: what caused it, for a framework hook (``annotate``)
                environ[EXC_INFO_KEY] = exc_info
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        try:
            body = self.app(environ, traced_start_response)
        except BaseException as e:
            self._annotate(span, environ)
            http.finish(span, e)
            raise
        self._annotate(span, environ)
        return _Response(body, span)

    def _annotate(self, span, environ):
        annotate = self.annotate
        if annotate is not None:  # a framework hook that reads what served the request after the fact
            annotate(span, environ, environ.get("REQUEST_METHOD", "GET"))
        self._http.annotate(span, environ)
