"""``patch()``: every request a Tornado application serves gets a ``tornado.request`` server span, a
child of the caller's trace, active while the handler runs, tagged with the response status (a
handler's uncaught exception is a 500, an error). ``DD_TORNADO_DISTRIBUTED_TRACING``.

The resource is the matched URL spec as Tornado reverses it (``GET /users/%s``, tagged ``http.route``:
its pattern's groups become ``%s``, as in ddtrace), ``GET 404`` when no spec matched.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch

#: where the matched URL spec's route is left on the request (HTTPServerRequest) for the span
_ROUTE_ATTR = "_ddfast_route"


def _noting_route(match):
    def traced_match(self, request):
        found = match(self, request)
        if found is not None:
            setattr(request, _ROUTE_ATTR, self._path if getattr(self, "_path", None) else self.regex.pattern)
        return found

    return traced_match


def patch(tracer=None, service=None, distributed_tracing=None):
    """Trace ``tornado.web.RequestHandler._execute`` (every handler, every application)."""
    from tornado import routing
    from tornado import web

    _patch.wrap(routing.PathMatches, "match", _noting_route)

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("tornado", distributed_tracing)

    def make(execute):
        async def traced_execute(self, *args, **kwargs):
            if not tracer.enabled:
                return await execute(self, *args, **kwargs)
            request = self.request
            span = _http.start_server_span(
                tracer,
                request.headers,
                "tornado.request",
                "tornado",
                service,
                request.method,
                request.full_url(),
                request.path,
                distributed,
                request.headers.get("User-Agent"),
            )
            span.set_tag("tornado.handler", "%s.%s" % (type(self).__module__, type(self).__qualname__))
            if _http.header_tags:
                _http.tag_headers(span, request.headers.get)
            if _http.client_ip:
                _http.tag_client_ip(span, request.headers.get, request.remote_ip)
            try:
                return await execute(self, *args, **kwargs)
            except BaseException as e:
                span.set_exc_info(type(e), e, e.__traceback__)
                raise
            finally:
                _http.set_server_status(span, self.get_status())
                if _http.header_tags and getattr(self, "_headers", None) is not None:
                    _http.tag_headers(span, self._headers.get, True)
                _http.set_route(span, request.method, getattr(request, _ROUTE_ATTR, None))
                span.finish()

        return traced_execute

    return _patch.wrap(web.RequestHandler, "_execute", make)


def unpatch():
    from tornado import routing
    from tornado import web

    _patch.unwrap(web.RequestHandler, "_execute")
    _patch.unwrap(routing.PathMatches, "match")
