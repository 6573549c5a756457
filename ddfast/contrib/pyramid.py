"""``patch()``: every Pyramid application (the router ``Configurator.make_wsgi_app`` returns) is traced
by the WSGI middleware (``ddfast.contrib.wsgi``) without a change to its code: what ``ddfast-run`` uses.
The resource is the matched route's pattern (``GET /users/{id}``, tagged ``http.route``), ``GET 404``
(or the status) when no route matched, as with traversal."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_app = AppPatch("pyramid.router", "Router")


def _noting_route(handle_request):
    def traced_handle_request(self, request):
        try:
            return handle_request(self, request)
        finally:
            route = request.matched_route
            request.environ[_http.ROUTE_KEY] = route.pattern if route is not None else None

    return traced_handle_request


def patch(tracer=None, service=None):
    """Trace every ``pyramid.router.Router``'s requests; False when already patched."""
    if not _app.patch(tracer, service):
        return False
    _patch.wrap(_app.owner, "handle_request", _noting_route)
    return True


def unpatch():
    if _app.original is not None:
        _patch.unwrap(_app.owner, "handle_request")
    _app.unpatch()
