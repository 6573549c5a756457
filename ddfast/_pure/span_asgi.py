"""Spans: an ASGI integration's per-request work: the server span started and the ``send`` of a traced
request (no coroutine per message), the span ended when the application returns or raises.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_asgi.pxi``.
"""

from ddfast._pure.span_http import HttpNames
from ddfast._pure.span_http import HttpTracer
from ddfast._pure.span_object import STATUS_CODE_KEY
from ddfast._pure.span_object import Span

_RESPONSE_START = "http.response.start"
_HTTP_SCOPE = "http"


class AsgiSend:
    """The ``send`` an ASGI middleware hands its application for one traced request: when the response
    starts, its status and header tags go on the request's span (``HttpTracer.status``); every message
    is passed on to the server's ``send``, whose awaitable it returns for the application to await (no
    coroutine of its own per message). ``done()`` and ``failed(exc)`` end the span when the application
    returns or raises, named after the route left in ``scope`` (the request's, when given)."""

    __slots__ = ("http", "span", "send", "scope")

    def __init__(self, http, span, send, scope=None):
        if type(http) is not HttpTracer:
            raise TypeError("AsgiSend needs the tracer's HttpTracer, not %s" % type(http).__name__)
        if type(span) is not Span:
            raise TypeError("AsgiSend needs a Span, not %s" % type(span).__name__)
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        self.http = http
        self.span = span
        self.send = send
        self.scope = scope

    def __call__(self, message):
        if type(message) is dict and message.get("type") == _RESPONSE_START:
            self.http.status(self.span, message.get("status", 200), message.get("headers", ()))
        return self.send(message)

    def done(self):
        """The application returned: the span named after the request's route (``HttpTracer.annotate``)
        and finished."""
        self.http.annotate(self.span, self.scope)
        self.span.finish()
        return 0

    def failed(self, exc):
        """The application raised ``exc``: recorded, with the status 500 when no response started, the span
        named after the request's route and finished."""
        if STATUS_CODE_KEY not in self.span._meta:  # the status is a stored tag, never a derived one
            self.http.status(self.span, 500)
        self.http.annotate(self.span, self.scope)
        return self.http.finish(self.span, exc)


class AsgiTracing:
    """One ASGI integration's request path, made once when its middleware is (``asgi.TraceMiddleware``,
    the patched ASGI application classes): ``start(scope, send)`` is the whole per-request start in one
    call."""

    __slots__ = ("http", "names")

    def __init__(self, http, names):
        if type(http) is not HttpTracer:
            raise TypeError("AsgiTracing needs the tracer's HttpTracer, not %s" % type(http).__name__)
        if type(names) is not HttpNames:
            raise TypeError("AsgiTracing needs the integration's HttpNames, not %s" % type(names).__name__)
        self.http = http
        self.names = names

    def start(self, scope, send):
        """The server span of an HTTP ``scope``'s request, started (``HttpTracer.asgi_start``), and the
        ``send`` to hand the application: an ``AsgiSend`` over the server's ``send``, which ends the span
        (``done`` / ``failed``). None when the request is not traced: not an HTTP scope (a dict whose
        ``type`` is ``"http"``), the tracer off, or an outer ddfast middleware traces it."""
        if type(scope) is not dict or scope.get("type") != _HTTP_SCOPE:
            return None
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        span = self.http.asgi_start(self.names, scope)
        if span is None:
            return None
        traced = AsgiSend.__new__(AsgiSend)
        traced.http = self.http
        traced.span = span
        traced.send = send
        traced.scope = scope
        return traced


# -- an HTTP client's request, read in C ----------------------------------------------------------------


def _url_of_parts(parts):
    """The text of a URL of parts ``(scheme, userinfo, host, port, path, query, fragment)``, composed as
    RFC 3986 (5.3) does: an IPv6 host in brackets, ``userinfo@``, ``:port``; an absent query or fragment is
    None (an empty one is "")."""
    scheme, userinfo, host, port, path, query, fragment = parts
    if type(host) is str and ":" in host:
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


class UrlText:
    """``str(url)`` for a client library's URL object that keeps its parsed parts as a ``parts_type``
    tuple ``(scheme, userinfo, host, port, path, query, fragment)`` in its attribute ``attr`` (httpx's
    ``URL._uri_reference``): the text made from those parts at once, as the library makes it; ``str(url)``
    for a URL that keeps no such tuple."""

    __slots__ = ("attr", "parts_type")

    def __init__(self, attr, parts_type):
        if type(attr) is not str:
            raise TypeError("attr is an attribute name (a str), not %s" % type(attr).__name__)
        if not isinstance(parts_type, type):
            raise TypeError("parts_type is a tuple type (a named tuple), not %s" % type(parts_type).__name__)
        if not issubclass(parts_type, tuple):
            raise TypeError("parts_type is a tuple type (a named tuple), not %s" % parts_type.__name__)
        self.attr = attr
        self.parts_type = parts_type

    def of(self, url):
        """The text of ``url``."""
        parts = getattr(url, self.attr, None)
        if type(parts) is not self.parts_type or len(parts) != 7:
            return str(url)
        return _url_of_parts(parts)


def listed_header(items, name):
    """The value, as text (latin-1), of the first header named ``name`` (lower-case bytes) in ``items``, a
    list of ``(name, lower-case name, value)`` bytes as httpx's ``Headers`` keeps them; None when absent."""
    if type(items) is not list:
        raise TypeError("items is a list, not %s" % type(items).__name__)
    if type(name) is not bytes:
        raise TypeError("name is bytes, not %s" % type(name).__name__)
    for _, key, value in items:
        if key == name:
            return value.decode("latin-1")
    return None
