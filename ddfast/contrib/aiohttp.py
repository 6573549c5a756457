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

from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration


def middleware(tracer=None, service=None, distributed_tracing=None):
    """The server middleware (``web.Application(middlewares=[middleware()])``)."""
    from aiohttp import web

    integ = Integration("aiohttp", tracer, service, distributed_tracing)
    http, names = integ.http, integ.http_names

    @web.middleware
    async def ddfast_trace(request, handler):
        if not http.enabled:
            return await handler(request)
        headers = request.headers
        span = http.server_start(
            names, headers, request.method, str(request.url), request.path, headers.get("User-Agent"),
            request.remote if http.on_server_request is not None else None,
        )  # fmt: skip
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
            http.status(span, status, response.headers if response is not None else None)
            route = _route(request)
            http.route(span, request.method, route, None if route is not None else str(status))
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

    integ = Integration("aiohttp_client", tracer, distributed_tracing=distributed_tracing)
    http, names = integ.http, integ.http_names

    async def on_start(session, ctx, params):
        ctx.ddfast_span = http.client_start(names, params.method, str(params.url), params.headers)

    async def on_end(session, ctx, params):
        span = getattr(ctx, "ddfast_span", None)
        if span is not None:
            response = params.response
            http.finish(span, None, response.status, response.headers, True)

    async def on_exception(session, ctx, params):
        span = getattr(ctx, "ddfast_span", None)
        if span is not None:
            http.finish(span, params.exception)

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
