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
        if STATUS_CODE_KEY not in self.span.get_tags():
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
