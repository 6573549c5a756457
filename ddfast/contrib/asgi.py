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
        self.tracer = tracer = _http.global_tracer(tracer)
        names = _http.ServerNames(integration, service)
        self.service = names.service
        self.distributed_tracing = _http.distributed_tracing(integration, distributed_tracing)
        self.span_name = span_name or names.name
        self.component = names.component
        self._state, self._var, self._start, self._status, self._extract = _http.server_bindings(
            tracer, self.distributed_tracing
        )

    async def __call__(self, scope, receive, send):
        state = self._state
        if scope.get("type") != "http" or not state.enabled or _http.TRACED_KEY in scope:
            if scope.get("type") == "lifespan":
                receive = self._flushing_at_shutdown(receive)
            return await self.app(scope, receive, send)
        scope[_http.TRACED_KEY] = True  # an inner ddfast middleware passes the request through
        headers = scope.get("headers", ())
        host = useragent = None
        for name, value in headers:  # one pass for the two headers the span needs
            if name == b"host":
                host = value.decode("latin-1")
                if useragent is not None:
                    break
            elif name == b"user-agent":
                useragent = value.decode("latin-1")
                if host is not None:
                    break
        if host is None:
            server = scope.get("server")
            host = "%s:%s" % server if server else ""
        method = scope.get("method", "GET")
        path = scope.get("root_path", "") + scope.get("path", "")
        extract = self._extract
        url = "%s://%s%s" % (scope.get("scheme", "http"), host, path)
        span = self._start(state, self._var, None if extract is None else extract(headers), self.span_name,
                           self.service, self.component, method, url, path, useragent)  # fmt: skip

        if _http.server_query is not None:
            query = scope.get("query_string", b"")
            _http.tag_query(
                span, _http.server_query, url, query.decode("latin-1") if isinstance(query, bytes) else query
            )
        if _http.header_tags:
            _http.tag_headers(span, _http.pairs_getter(headers))
        if _http.client_ip:
            client = scope.get("client")
            _http.tag_client_ip(span, _http.pairs_getter(headers), client[0] if client else None)
        status_of = self._status

        async def traced_send(message):
            if message["type"] == "http.response.start":
                status_of(span, message.get("status", 200), _http.error_statuses["server"])
                if _http.header_tags:
                    _http.tag_headers(span, _http.pairs_getter(message.get("headers", ())), True)
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        except BaseException as e:
            if "http.status_code" not in span.get_tags():
                status_of(span, 500, _http.error_statuses["server"])
            span.set_exc_info(type(e), e, e.__traceback__)
            raise
        finally:
            if "router" in scope:  # Starlette's router (FastAPI's too) leaves the matched route in the scope
                route = getattr(scope.get("route"), "path", None)
                if route is not None:  # else ddtrace's resource stays: "METHOD /path"
                    _http.set_route(span, method, route)
            elif _http.ROUTE_KEY in scope:  # a framework hook's (ddfast.contrib.django)
                _http.set_route(span, method, scope[_http.ROUTE_KEY], scope.get(_http.RESOURCE_KEY))
            span.finish()

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
