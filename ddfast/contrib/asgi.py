"""``TraceMiddleware(app)``: traces an ASGI application (Starlette, FastAPI, Django's ASGI handler,
Falcon's ASGI app, any ASGI 3 app) as ddtrace's ASGI middleware does.

Each HTTP request gets an ``asgi.request`` server span (``http.server.request`` under
``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``), a child of the caller's trace when the request
carries one (the scope's header list is read directly), tagged as ``ddfast.contrib._http`` describes.
The span is the active one while the application runs, so spans and outgoing calls made by the
handler join the trace. It ends when the application returns (after the response and any background
work it does), recording an exception that escapes it, as ddtrace's does. Lifespan and websocket scopes pass
through untraced; at the lifespan's shutdown the tracer's buffered traces are sent.
``distributed_tracing``: ``DD_ASGI_DISTRIBUTED_TRACING``.
"""

import asyncio

from ddfast.contrib import _http
from ddfast.contrib.integration import Integration


def request_url(scope):
    """The request's URL without its query string."""
    scheme = scope.get("scheme", "http")
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None:
        server = scope.get("server")
        host = "%s:%s" % server if server else ""
    return "%s://%s%s%s" % (scheme, host, scope.get("root_path", ""), scope.get("path", ""))


class TraceMiddleware:
    """Wraps an ASGI 3 ``app``. ``tracer`` defaults to ddfast's global one; ``service`` to
    ``DD_SERVICE`` or ``"asgi"``."""

    def __init__(self, app, tracer=None, service=None, distributed_tracing=None, span_name=None, integration="asgi"):
        if not callable(app):
            raise TypeError("TraceMiddleware wraps an ASGI application (a callable), not %s" % type(app).__name__)
        self.app = app
        _http.require_server(integration)  # a server's names: an unknown integration is misuse
        integ = Integration(integration, tracer, service, distributed_tracing, span_name=span_name)
        self.tracer = integ.tracer
        # bound once: the tracer's request path and this integration's names
        self._http = http = integ.http
        self._names = names = integ.http_names
        # the core's per-request start, bound once: the span and the send wrapper (no coroutine per message)
        self._begin = _http.core_of(http).AsgiTracing(http, names).start
        self.service = names.service
        self.distributed_tracing = names.distributed
        self.span_name = names.name
        self.component = names.component

    async def __call__(self, scope, receive, send):
        traced = self._begin(scope, send)
        if traced is None:  # not an HTTP request, the tracer off, or traced by an outer middleware
            if scope.get("type") == "lifespan":
                receive = self._flushing_at_shutdown(receive)
            return await self.app(scope, receive, send)
        try:
            await self.app(scope, receive, traced)
        except BaseException as e:
            traced.failed(e)
            raise
        traced.done()

    def _flushing_at_shutdown(self, receive):
        """``receive`` of the lifespan scope, sending the tracer's buffered traces when the server
        announces its shutdown: servers may end the process without running ``atexit`` (uvicorn ends by
        re-raising the SIGTERM it handled), which would lose the traces of the last second."""
        tracer = self.tracer

        async def traced_receive():
            message = await receive()
            if message.get("type") == "lifespan.shutdown" and callable(getattr(tracer, "flush", None)):
                await asyncio.get_running_loop().run_in_executor(None, tracer.flush)
            return message

        return traced_receive
