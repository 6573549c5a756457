# Spans: an ASGI integration's per-request work, compiled: the server span started and the ``send`` of a
# traced request (no coroutine per message), the span ended when the application returns or raises.
# Included by src/span.pyx (one extension module); pure twin: ddfast/_pure/span_asgi.py.

cdef str _RESPONSE_START = "http.response.start"
cdef str _HTTP_SCOPE = "http"


@cython.final
cdef class AsgiSend:
    """The ``send`` an ASGI middleware hands its application for one traced request: when the response
    starts, its status and header tags go on the request's span (``HttpTracer.status``); every message
    is passed on to the server's ``send``, whose awaitable it returns for the application to await (no
    coroutine of its own per message). ``done()`` and ``failed(exc)`` end the span when the application
    returns or raises, named after the route left in ``scope`` (the request's, when given)."""

    cdef readonly HttpTracer http
    cdef readonly Span span
    cdef readonly object send
    cdef readonly object scope

    def __init__(self, HttpTracer http not None, Span span not None, send, scope=None):
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        self.http = http
        self.span = span
        self.send = send
        self.scope = scope

    def __call__(self, message):
        if type(message) is dict and (<dict>message).get("type") == _RESPONSE_START:
            self.http.status(self.span, (<dict>message).get("status", 200), (<dict>message).get("headers", ()))
        return self.send(message)

    cpdef int done(self) except -1:
        """The application returned: the span named after the request's route (``HttpTracer.annotate``)
        and finished."""
        self.http.annotate(self.span, self.scope)
        return finish_now(self.span)

    cpdef int failed(self, exc) except -1:
        """The application raised ``exc``: recorded, with the status 500 when no response started, the span
        named after the request's route and finished."""
        if STATUS_CODE_KEY not in self.span._meta:  # the status is a stored tag, never a derived one
            self.http.status(self.span, 500)
        self.http.annotate(self.span, self.scope)
        return self.http.finish(self.span, exc)


@cython.final
cdef class AsgiTracing:
    """One ASGI integration's request path, made once when its middleware is (``asgi.TraceMiddleware``,
    the patched ASGI application classes): ``start(scope, send)`` is the whole per-request start in one
    call."""

    cdef readonly HttpTracer http
    cdef readonly HttpNames names

    def __init__(self, HttpTracer http not None, HttpNames names not None):
        self.http = http
        self.names = names

    cpdef AsgiSend start(self, object scope, object send):
        """The server span of an HTTP ``scope``'s request, started (``HttpTracer.asgi_start``), and the
        ``send`` to hand the application: an ``AsgiSend`` over the server's ``send``, which ends the span
        (``done`` / ``failed``). None when the request is not traced: not an HTTP scope (a dict whose
        ``type`` is ``"http"``), the tracer off, or an outer ddfast middleware traces it."""
        if type(scope) is not dict or (<dict>scope).get("type") != _HTTP_SCOPE:
            return None
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        span = self.http.asgi_start(self.names, <dict>scope)
        if span is None:
            return None
        cdef AsgiSend traced = AsgiSend.__new__(AsgiSend)
        traced.http = self.http
        traced.span = span
        traced.send = send
        traced.scope = scope
        return traced


# -- an HTTP client's request, read in C ----------------------------------------------------------------

cdef str _url_of_parts(tuple parts):
    """The text of a URL of parts ``(scheme, userinfo, host, port, path, query, fragment)``, composed as
    RFC 3986 (5.3) does: an IPv6 host in brackets, ``userinfo@``, ``:port``; an absent query or fragment is
    None (an empty one is "")."""
    scheme, userinfo, host, port, path, query, fragment = parts
    if type(host) is str and ":" in <str>host:
        host = f"[{host}]"
    if userinfo:
        host = f"{userinfo}@{host}"
    if port is not None:
        host = f"{host}:{port}"
    if scheme and host:
        text = f"{scheme}://{host}{path}"
    else:
        text = f"{scheme + ':' if scheme else ''}{'//' + host if host else ''}{path}"
    if query is not None:
        text = f"{text}?{query}"
    if fragment is not None:
        text = f"{text}#{fragment}"
    return text


@cython.final
cdef class UrlText:
    """``str(url)`` for a client library's URL object that keeps its parsed parts as a ``parts_type``
    tuple ``(scheme, userinfo, host, port, path, query, fragment)`` in its attribute ``attr`` (httpx's
    ``URL._uri_reference``): the text made from those parts at once, as the library makes it; ``str(url)``
    for a URL that keeps no such tuple."""

    cdef readonly str attr
    cdef readonly type parts_type

    def __init__(self, str attr not None, type parts_type not None):
        if not issubclass(parts_type, tuple):
            raise TypeError("parts_type is a tuple type (a named tuple), not %s" % parts_type.__name__)
        self.attr = attr
        self.parts_type = parts_type

    cpdef str of(self, url):
        """The text of ``url``."""
        parts = getattr(url, self.attr, None)
        if type(parts) is not self.parts_type or PyTuple_GET_SIZE(parts) != 7:
            return str(url)
        return _url_of_parts(<tuple>parts)


cpdef object listed_header(list items, bytes name):
    """The value, as text (latin-1), of the first header named ``name`` (lower-case bytes) in ``items``, a
    list of ``(name, lower-case name, value)`` bytes as httpx's ``Headers`` keeps them; None when absent."""
    for item in items:
        _, key, value = item
        if key == name:
            return value.decode("latin-1")
    return None
