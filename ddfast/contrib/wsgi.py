"""``TraceMiddleware(app)``: traces a WSGI application (Django, Flask, Bottle, Falcon, Pyramid,
Pylons-style apps, any PEP 3333 app) as ddtrace's WSGI middleware does.

Each request gets a ``wsgi.request`` server span (``http.server.request`` under
``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``), a child of the caller's trace when the request carries one (any
configured propagation style), tagged as ``ddfast.contrib._http`` describes (as ddtrace's WSGI middleware,
without ``http.useragent``), resource ``"METHOD /path"``. The span ends when the server closes the response
iterable, so streamed bodies are timed whole. ``distributed_tracing``: see ``ddfast.contrib._http``
(``DD_WSGI_DISTRIBUTED_TRACING``).
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


#: where the exception an application passed to ``start_response`` (with an error page) is left in the environ
EXC_INFO_KEY = "ddfast.exc_info"
#: the default of the environ's ``ROUTE_KEY``: no framework hook said which route served the request
NOT_ROUTED = object()
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
    or ``"wsgi"``. ``annotate(span, environ, method)``, when a framework hook sets it, names the span
    after what served the request (route, resource); by default a route a hook left in the environ
    (``_http.ROUTE_KEY``) does. ``integration`` (a key of ``_http.SERVERS``) names the spans."""

    def __init__(self, app, tracer=None, service=None, distributed_tracing=None, span_name=None, integration="wsgi"):
        if not callable(app):
            raise TypeError("TraceMiddleware wraps a WSGI application (a callable), not %s" % type(app).__name__)
        self.app = app
        self.tracer = tracer = _http.global_tracer(tracer)
        names = _http.ServerNames(integration, service)
        self.service = names.service
        self.distributed_tracing = _http.distributed_tracing(integration, distributed_tracing)
        self.span_name = span_name or names.name
        self.component = names.component
        self.useragent = names.useragent
        self.annotate = None
        self._state, self._var, self._start, self._status, self._extract = _http.server_bindings(
            tracer, self.distributed_tracing
        )

    def __call__(self, environ, start_response):
        state = self._state
        if not state.enabled or _http.TRACED_KEY in environ:  # off, or traced by an outer middleware
            return self.app(environ, start_response)
        environ[_http.TRACED_KEY] = True
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        host = environ.get("HTTP_HOST")
        url = "%s://%s%s" % (environ.get("wsgi.url_scheme", "http"), host, path) if host else request_url(environ)
        extract = self._extract
        span = self._start(state, self._var, None if extract is None else extract(environ), self.span_name,
                           self.service, self.component, method, url, path,
                           environ.get("HTTP_USER_AGENT") if self.useragent else None)  # fmt: skip
        if _http.server_query is not None:
            _http.tag_query(span, _http.server_query, url, environ.get("QUERY_STRING", ""))
        if _http.header_tags:
            _http.tag_headers(span, functools.partial(environ_header, environ))
        if _http.client_ip:
            _http.tag_client_ip(span, functools.partial(environ_header, environ), environ.get("REMOTE_ADDR"))
        status_of = self._status

        def traced_start_response(status, headers, exc_info=None):
            status_of(span, status, _http.error_statuses["server"])
            if _http.header_tags:
                _http.tag_headers(span, _http.pairs_getter(headers), True)
            if exc_info:  # an error page: what caused it, for a framework hook (``annotate``)
                environ[EXC_INFO_KEY] = exc_info
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        annotate = self.annotate or annotate_from_environ
        try:
            body = self.app(environ, traced_start_response)
        except BaseException as e:
            annotate(span, environ, method)
            _http.finish_with_error(span, e)
            raise
        annotate(span, environ, method)
        return _Response(body, span)


def annotate_from_environ(span, environ, method):
    """Name ``span`` after the route a framework hook left in ``environ`` (``_http.ROUTE_KEY``, with the
    resource at ``_http.RESOURCE_KEY`` when the framework names it otherwise), and tag the status it left at
    ``_http.STATUS_KEY`` (a request that raised) when the response gave none."""
    route = environ.get(_http.ROUTE_KEY, NOT_ROUTED)
    if route is not NOT_ROUTED:
        status = environ.get(_http.STATUS_KEY)
        if status is not None and "http.status_code" not in span.get_tags():
            _http.set_server_status(span, status)
        _http.set_route(span, method, route, environ.get(_http.RESOURCE_KEY))
