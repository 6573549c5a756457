"""``patch()``: every Django application is traced without a change to its code (its WSGI and ASGI handlers
run behind ddfast's middleware), with ``django.request`` spans (component ``django``) named after the
URL pattern that matched as ddtrace names them (``GET users/<int:id>/``, tagged ``http.route``), ``GET
404`` when none did: what ``ddfast-run`` uses. An application already wrapped in ``TraceMiddleware`` by
hand gets the route too."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch


def _note_route(request, route):
    """Leave the matched route (or None) where the middleware of the request finds it."""
    carrier = getattr(request, "environ", None)
    if carrier is not None:
        carrier[_http.ROUTE_KEY] = route
    scope = getattr(request, "scope", None)
    if scope is not None:
        scope[_http.ROUTE_KEY] = route


_apps = (AppPatch("django.core.handlers.wsgi", "WSGIHandler", "django"),
         AppPatch("django.core.handlers.asgi", "ASGIHandler", "django", is_asgi=True))  # fmt: skip


def _noting_route(resolve_request):
    from django.urls import Resolver404

    def traced_resolve_request(self, request):
        try:
            match = resolve_request(self, request)
        except Resolver404:
            _note_route(request, None)
            raise
        route = getattr(match, "route", None)
        _note_route(request, route or None)
        return match

    return traced_resolve_request


def patch(tracer=None, service=None):
    """Trace every Django application and name spans after routes; False when already patched."""
    from django.core.handlers.base import BaseHandler

    if not any([app.patch(tracer, service) for app in _apps]):
        return False
    _patch.wrap(BaseHandler, "resolve_request", _noting_route)
    return True


def unpatch():
    if _apps[0].patched:
        from django.core.handlers.base import BaseHandler

        _patch.unwrap(BaseHandler, "resolve_request")
    for app in _apps:
        app.unpatch()
