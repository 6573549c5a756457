"""``patch()``: every request a Tornado application serves gets a ``tornado.request`` server span, a
child of the caller's trace, active while the handler runs, tagged with the response status (a
handler's uncaught exception is a 500, an error). ``DD_TORNADO_DISTRIBUTED_TRACING``.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch


def patch(tracer=None, service=None, distributed_tracing=None):
    """Trace ``tornado.web.RequestHandler._execute`` (every handler, every application)."""
    from tornado import web

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
            try:
                return await execute(self, *args, **kwargs)
            except BaseException as e:
                span.set_exc_info(type(e), e, e.__traceback__)
                raise
            finally:
                _http.set_server_status(span, self.get_status())
                span.finish()

        return traced_execute

    return _patch.wrap(web.RequestHandler, "_execute", make)


def unpatch():
    from tornado import web

    _patch.unwrap(web.RequestHandler, "_execute")
