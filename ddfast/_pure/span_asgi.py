"""Spans: the ASGI ``send`` of a traced request (no coroutine per message).

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_asgi.pxi``.
"""

from ddfast._pure.span_http import HttpTracer
from ddfast._pure.span_object import Span

_RESPONSE_START = "http.response.start"


class AsgiSend:
    """The ``send`` an ASGI middleware hands its application for one traced request: when the response
    starts, its status and header tags go on the request's span (``HttpTracer.status``); every message
    is passed on to the server's ``send``, whose awaitable it returns for the application to await (no
    coroutine of its own per message)."""

    __slots__ = ("http", "span", "send")

    def __init__(self, http, span, send):
        if type(http) is not HttpTracer:
            raise TypeError("AsgiSend needs the tracer's HttpTracer, not %s" % type(http).__name__)
        if type(span) is not Span:
            raise TypeError("AsgiSend needs a Span, not %s" % type(span).__name__)
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        self.http = http
        self.span = span
        self.send = send

    def __call__(self, message):
        if type(message) is dict and message.get("type") == _RESPONSE_START:
            self.http.status(self.span, message.get("status", 200), message.get("headers", ()))
        return self.send(message)
