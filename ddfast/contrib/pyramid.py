"""``patch()``: every Pyramid application (the router ``Configurator.make_wsgi_app`` returns) is traced
by the WSGI middleware (``ddfast.contrib.wsgi``) without a change to its code: what ``ddfast-run`` uses.
As in ddtrace, spans are ``pyramid.request``, the resource is the matched route's name (``GET user``; its
pattern, ``GET /users/{id}``, with ``DDFAST_HTTP_ROUTE_RESOURCES=true``), ``404`` when no route matched
(as with traversal); ``http.route`` is the pattern. A view that raises makes a 500."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_app = AppPatch("pyramid.router", "Router", "pyramid")


def _noting_route(handle_request):
    from pyramid.httpexceptions import HTTPException

    route_resources = _http.route_resources()

    def traced_handle_request(self, request):
        try:
            return handle_request(self, request)
        except HTTPException:
            raise
        except BaseException:  # ddtrace's: a 500, named after the route all the same
            request.environ[_http.STATUS_KEY] = 500
            raise
        finally:
            route = request.matched_route
            environ = request.environ
            if route is None:
                environ[_http.ROUTE_KEY] = None
                environ[_http.RESOURCE_KEY] = "404"
            else:
                environ[_http.ROUTE_KEY] = route.pattern
                if not route_resources:  # ddtrace's: the route's name
                    environ[_http.RESOURCE_KEY] = "%s %s" % (request.method, route.name)

    return traced_handle_request


def patch(tracer=None, service=None):
    """Trace every ``pyramid.router.Router``'s requests; False when already patched."""
    if not _app.patch(tracer, service):
        return False
    _patch.wrap(_app.owner, "handle_request", _noting_route)
    return True


def unpatch():
    if _app.patched:
        _patch.unwrap(_app.owner, "handle_request")
    _app.unpatch()
