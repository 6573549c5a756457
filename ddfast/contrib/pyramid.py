"""``patch()``: every Pyramid application (the router ``Configurator.make_wsgi_app`` returns) is traced
by the WSGI middleware (``ddfast.contrib.wsgi``) without a change to its code: what ``ddfast-run`` uses.
The resource is the matched route's pattern (``GET /users/{id}``, tagged ``http.route``), ``GET 404``
(or the status) when no route matched, as with traversal."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_patches = []


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
    from pyramid.router import Router

    if not _patches:
        _patches.append(AppPatch(Router))
    if not _patches[0].patch(tracer, service):
        return False
    _patch.wrap(Router, "handle_request", _noting_route)
    return True


def unpatch():
    if _patches:
        from pyramid.router import Router

        _patches[0].unpatch()
        _patch.unwrap(Router, "handle_request")
