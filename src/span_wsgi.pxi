# The WSGI middleware's per-request work in one compiled call: the span started, the application called
# with a start_response that records the status, the route annotated, and a response iterable that
# finishes the span when the server closes it. Twin of ddfast/_pure/span_wsgi.py.

#: where the exception an application passed to ``start_response`` (with an error page) is left in the
#: environ, for a framework hook (``TracedWsgiApp.annotate``) to name the span after
EXC_INFO_KEY = "ddfast.exc_info"
cdef str _EXC_INFO_KEY = EXC_INFO_KEY
cdef str _REQUEST_METHOD = "REQUEST_METHOD"
cdef str _GET = "GET"
cdef object _END = object()


cdef inline int _record(Span span, BaseException exc) except -1:
    span.set_exc_info(type(exc), exc, exc.__traceback__)
    return 0


cdef class TracedWsgiApp:
    """A WSGI application ``app`` traced by ``http`` (a tracer's ``HttpTracer``), its server spans named
    as ``names``: called as the application is, ``(environ, start_response)``, once per request. The span
    starts with the call (``HttpTracer.wsgi_start``; a request an outer middleware traces already, or a
    tracer turned off, goes straight to ``app``); ``start_response`` tags the status and the response
    headers; once the application returned, ``annotate(span, environ, method)`` (a framework hook, when
    set) and ``HttpTracer.annotate`` name the span after the route; it ends when the server closes the
    response (``WsgiResponse``), or with the exception the application raised. ``ddfast.contrib.wsgi``'s
    ``TraceMiddleware`` is a subclass: calling a middleware is this call, without a Python frame."""

    cdef readonly HttpTracer http
    cdef readonly HttpNames names
    cdef public object app
    cdef public object annotate

    def __init__(self, HttpTracer http not None, HttpNames names not None, app, annotate=None):
        self.http = http
        self.names = names
        self.app = app
        self.annotate = annotate

    def __call__(self, environ, start_response):
        cdef HttpTracer http = self.http
        cdef Span span = http.wsgi_start(self.names, environ)
        if span is None:  # off, or traced by an outer middleware
            return self.app(environ, start_response)
        cdef WsgiStartResponse traced = WsgiStartResponse.__new__(WsgiStartResponse)
        traced.http = http
        traced.span = span
        traced.environ = <dict>environ
        traced.start_response = start_response
        try:
            body = self.app(environ, traced)
        except BaseException as e:
            self._annotate(span, <dict>environ)
            http.finish(span, e)
            raise
        self._annotate(span, <dict>environ)
        cdef WsgiResponse response = WsgiResponse.__new__(WsgiResponse)
        response.body = body
        response.span = span
        return response

    cdef int _annotate(self, Span span, dict environ) except -1:
        if self.annotate is not None:  # a framework hook that reads what served the request after the fact
            self.annotate(span, environ, environ.get(_REQUEST_METHOD, _GET))
        self.http.annotate(span, environ)
        return 0


@cython.freelist(4)
cdef class WsgiStartResponse:
    """The ``start_response`` a traced application is given: tags the status and the response headers on
    the request's span, leaves the ``exc_info`` of an error page in the environ (``EXC_INFO_KEY``), and
    calls the server's ``start_response``, returning its ``write``."""

    cdef HttpTracer http
    cdef Span span
    cdef dict environ
    cdef object start_response

    def __init__(self):
        raise TypeError("WsgiStartResponse is made by TracedWsgiApp, per request")

    def __call__(self, status, headers, exc_info=None):
        self.http.status(self.span, status, headers)
        if exc_info:  # an error page: what caused it, for a framework hook (``annotate``)
            self.environ[_EXC_INFO_KEY] = exc_info
            return self.start_response(status, headers, exc_info)
        return self.start_response(status, headers)


@cython.freelist(4)
cdef class WsgiResponse:
    """The application's response iterable as the server sees it: iterates the body (an exception raised
    while iterating is recorded on the span, then raised), and ``close()`` closes the body (PEP 3333) and
    finishes the span."""

    cdef object body
    cdef object iterator
    cdef Span span

    def __init__(self):
        raise TypeError("WsgiResponse is made by TracedWsgiApp, per request")

    def __iter__(self):
        try:
            self.iterator = iter(self.body)
        except BaseException as e:
            _record(self.span, e)
            raise
        return self

    def __next__(self):
        if self.iterator is None:  # next() without iter() first
            self.__iter__()
        try:
            item = next(self.iterator, _END)
        except BaseException as e:
            _record(self.span, e)
            raise
        if item is _END:
            raise StopIteration  # the end, without an exception object (Cython 3.3)
        return item

    def close(self):
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            finish_now(self.span)
