"""Spans: the WSGI middleware's per-request work in one call: the span started, the application called
with a start_response that records the status, the route annotated, and a response iterable that
finishes the span when the server closes it.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_wsgi.pxi``.
"""

from ddfast._pure.span_http import HttpNames
from ddfast._pure.span_http import HttpTracer

#: where the exception an application passed to ``start_response`` (with an error page) is left in the
#: environ, for a framework hook (``TracedWsgiApp.annotate``) to name the span after
EXC_INFO_KEY = "ddfast.exc_info"
_END = object()


def _record(span, exc):
    span.set_exc_info(type(exc), exc, exc.__traceback__)


class TracedWsgiApp:
    """A WSGI application ``app`` traced by ``http`` (a tracer's ``HttpTracer``), its server spans named
    as ``names``: called as the application is, ``(environ, start_response)``, once per request. The span
    starts with the call (``HttpTracer.wsgi_start``; a request an outer middleware traces already, or a
    tracer turned off, goes straight to ``app``); ``start_response`` tags the status and the response
    headers; once the application returned, ``annotate(span, environ, method)`` (a framework hook, when
    set) and ``HttpTracer.annotate`` name the span after the route; it ends when the server closes the
    response (``WsgiResponse``), or with the exception the application raised. ``ddfast.contrib.wsgi``'s
    ``TraceMiddleware`` is a subclass: calling a middleware is this call, without a Python frame."""

    __slots__ = ("http", "names", "app", "annotate")

    def __init__(self, http, names, app, annotate=None):
        if type(http) is not HttpTracer:
            raise TypeError("TracedWsgiApp needs an HttpTracer, not %s" % type(http).__name__)
        if type(names) is not HttpNames:
            raise TypeError("TracedWsgiApp needs HttpNames, not %s" % type(names).__name__)
        self.http = http
        self.names = names
        self.app = app
        self.annotate = annotate

    def __call__(self, environ, start_response):
        http = self.http
        span = http.wsgi_start(self.names, environ)
        if span is None:  # off, or traced by an outer middleware
            return self.app(environ, start_response)
        traced = WsgiStartResponse._make(http, span, environ, start_response)
        try:
            body = self.app(environ, traced)
        except BaseException as e:
            self._annotate(span, environ)
            http.finish(span, e)
            raise
        self._annotate(span, environ)
        return WsgiResponse._make(body, span)

    def _annotate(self, span, environ):
        if self.annotate is not None:  # a framework hook that reads what served the request after the fact
            self.annotate(span, environ, environ.get("REQUEST_METHOD", "GET"))
        self.http.annotate(span, environ)


class WsgiStartResponse:
    """The ``start_response`` a traced application is given: tags the status and the response headers on
    the request's span, leaves the ``exc_info`` of an error page in the environ (``EXC_INFO_KEY``), and
    calls the server's ``start_response``, returning its ``write``."""

    __slots__ = ("_http", "_span", "_environ", "_start_response")

    def __init__(self):
        raise TypeError("WsgiStartResponse is made by TracedWsgiApp, per request")

    @classmethod
    def _make(cls, http, span, environ, start_response):
        self = object.__new__(cls)
        self._http = http
        self._span = span
        self._environ = environ
        self._start_response = start_response
        return self

    def __call__(self, status, headers, exc_info=None):
        self._http.status(self._span, status, headers)
        if exc_info:  # an error page: what caused it, for a framework hook (``annotate``)
            self._environ[EXC_INFO_KEY] = exc_info
            return self._start_response(status, headers, exc_info)
        return self._start_response(status, headers)


class WsgiResponse:
    """The application's response iterable as the server sees it: iterates the body (an exception raised
    while iterating is recorded on the span, then raised), and ``close()`` closes the body (PEP 3333) and
    finishes the span."""

    __slots__ = ("_body", "_iterator", "_span")

    def __init__(self):
        raise TypeError("WsgiResponse is made by TracedWsgiApp, per request")

    @classmethod
    def _make(cls, body, span):
        self = object.__new__(cls)
        self._body = body
        self._iterator = None
        self._span = span
        return self

    def __iter__(self):
        try:
            self._iterator = iter(self._body)
        except BaseException as e:
            _record(self._span, e)
            raise
        return self

    def __next__(self):
        if self._iterator is None:  # next() without iter() first
            self.__iter__()
        try:
            item = next(self._iterator, _END)
        except BaseException as e:
            _record(self._span, e)
            raise
        if item is _END:
            raise StopIteration
        return item

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._span.finish()
