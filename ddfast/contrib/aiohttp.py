"""aiohttp, both sides.

- Server: ``trace_app(app)`` adds a middleware that gives each request an ``aiohttp.request`` server
  span (service ``aiohttp-web`` unless ``DD_SERVICE``), a child of the caller's trace, active while the
  handler runs (``DD_AIOHTTP_DISTRIBUTED_TRACING``), named after the matched resource (``GET /users/{id}``,
  ``http.route``; the status, ``404``, when none), as ddtrace's; an ``HTTPException`` is recorded too.
- Client: ``trace_config()`` is an ``aiohttp.TraceConfig`` giving each request of a ``ClientSession``
  an ``aiohttp.request`` client span (resource ``aiohttp.request``) whose context is injected into the
  request headers; ``patch()``
  adds it to every ``ClientSession`` made afterwards (``DD_AIOHTTP_CLIENT_DISTRIBUTED_TRACING``).
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch


def middleware(tracer=None, service=None, distributed_tracing=None):
    """The server middleware (``web.Application(middlewares=[middleware()])``)."""
    from aiohttp import web

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("aiohttp", distributed_tracing)
    names = _http.ServerNames("aiohttp", service)

    @web.middleware
    async def ddfast_trace(request, handler):
        if not tracer.enabled:
            return await handler(request)
        headers = request.headers
        span = _http.start_server_span(
            tracer, headers, names, request.method, str(request.url), request.path, distributed,
            headers.get("User-Agent"),
        )  # fmt: skip
        if _http.header_tags:
            _http.tag_headers(span, headers.get)
        if _http.client_ip:
            _http.tag_client_ip(span, headers.get, request.remote)
        status, response = 500, None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:  # an error for ddtrace too (a 404 as well)
            status, response = e.status, e
            span.set_exc_info(type(e), e, e.__traceback__)
            raise
        except BaseException as e:
            span.set_exc_info(type(e), e, e.__traceback__)
            raise
        finally:
            _http.set_server_status(span, status)
            if _http.header_tags and response is not None:
                _http.tag_headers(span, response.headers.get, True)
            route = _route(request)
            _http.set_route(span, request.method, route, None if route is not None else str(status))
            span.finish()

    return ddfast_trace


def _route(request):
    """The matched resource's route (``/users/{id}``), or None when the router matched nothing."""
    resource = getattr(getattr(request.match_info, "route", None), "resource", None)
    return getattr(resource, "canonical", None) if resource is not None else None


def trace_app(app, tracer=None, service=None, distributed_tracing=None):
    """Trace every request ``app`` (an ``aiohttp.web.Application`` not yet started) serves."""
    app.middlewares.insert(0, middleware(tracer, service, distributed_tracing))
    return app


def trace_config(tracer=None, distributed_tracing=None):
    """An ``aiohttp.TraceConfig`` tracing each client request and injecting its context."""
    import aiohttp

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("aiohttp_client", distributed_tracing)
    names = _http.ClientNames("aiohttp_client")

    async def on_start(session, ctx, params):
        ctx.ddfast_span = None
        if tracer.enabled:
            span = _http.start_client_span(tracer, names, params.method, str(params.url))
            if span is not None and _http.header_tags:
                _http.tag_headers(span, params.headers.get)
            if span is not None and distributed:
                _http.inject(tracer, span, params.headers)
            ctx.ddfast_span = span

    async def on_end(session, ctx, params):
        span = getattr(ctx, "ddfast_span", None)
        if span is not None:
            _http.set_client_status(span, params.response.status)
            if _http.header_tags:
                _http.tag_headers(span, params.response.headers.get, True)
            span.finish()

    async def on_exception(session, ctx, params):
        span = getattr(ctx, "ddfast_span", None)
        if span is not None:
            _http.finish_with_error(span, params.exception)

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_exception)
    return config


def patch(tracer=None, distributed_tracing=None):
    """Add ``trace_config()`` to every ``aiohttp.ClientSession`` made from now on."""
    import aiohttp

    config = trace_config(tracer, distributed_tracing)

    def make(init):
        def traced_init(self, *args, **kwargs):
            configs = list(kwargs.get("trace_configs") or ())
            configs.append(config)
            kwargs["trace_configs"] = configs
            init(self, *args, **kwargs)

        return traced_init

    return _patch.wrap(aiohttp.ClientSession, "__init__", make)


def unpatch():
    import aiohttp

    _patch.unwrap(aiohttp.ClientSession, "__init__")
