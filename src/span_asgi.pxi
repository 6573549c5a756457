# Spans: the ASGI ``send`` of a traced request, compiled (no coroutine per message).
# Included by src/span.pyx (one extension module); pure twin: ddfast/_pure/span_asgi.py.

cdef str _RESPONSE_START = "http.response.start"


@cython.final
cdef class AsgiSend:
    """The ``send`` an ASGI middleware hands its application for one traced request: when the response
    starts, its status and header tags go on the request's span (``HttpTracer.status``); every message
    is passed on to the server's ``send``, whose awaitable it returns for the application to await (no
    coroutine of its own per message)."""

    cdef readonly HttpTracer http
    cdef readonly Span span
    cdef readonly object send

    def __init__(self, HttpTracer http not None, Span span not None, send):
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        self.http = http
        self.span = span
        self.send = send

    def __call__(self, message):
        if type(message) is dict and (<dict>message).get("type") == _RESPONSE_START:
            self.http.status(self.span, (<dict>message).get("status", 200), (<dict>message).get("headers", ()))
        return self.send(message)
