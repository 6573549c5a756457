"""``patch()``: every Django application is traced without a change to its code (its WSGI and ASGI
handlers run behind ddfast's middleware), and a request's span is named after the URL pattern that
matched (``GET /users/<int:id>/``, tagged ``http.route``), ``GET 404`` when none did: what
``ddfast-run`` uses. An application already wrapped in ``TraceMiddleware`` by hand gets the route too."""

import functools

from ddfast.contrib import _http
from ddfast.contrib import asgi
from ddfast.contrib import wsgi

_originals = {}


def _note_route(request, route):
    """Leave the matched route (or None) where the middleware of the request finds it."""
    carrier = getattr(request, "environ", None)
    if carrier is not None:
        carrier[_http.ROUTE_KEY] = route
    scope = getattr(request, "scope", None)
    if scope is not None:
        scope[_http.ROUTE_KEY] = route


def patch(tracer=None, service=None):
    """Trace every Django application and name spans after routes; False when already patched."""
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.base import BaseHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import Resolver404

    if _originals:
        return False
    _originals.update(resolve=BaseHandler.resolve_request, wsgi=WSGIHandler.__call__, asgi=ASGIHandler.__call__)

    def resolve_request(self, request):
        try:
            match = _originals["resolve"](self, request)
        except Resolver404:
            _note_route(request, None)
            raise
        route = getattr(match, "route", None)
        _note_route(request, "/" + route.lstrip("/") if route else None)
        return match

    def wsgi_of(app):
        return wsgi.TraceMiddleware(functools.partial(_originals["wsgi"], app), tracer=tracer, service=service)

    def asgi_of(app):
        return asgi.TraceMiddleware(functools.partial(_originals["asgi"], app), tracer=tracer, service=service)

    def wsgi_call(self, environ, start_response):
        return _http.traced_instance(self, wsgi_of)(environ, start_response)

    async def asgi_call(self, scope, receive, send):
        await _http.traced_instance(self, asgi_of)(scope, receive, send)

    BaseHandler.resolve_request = resolve_request
    WSGIHandler.__call__ = wsgi_call
    ASGIHandler.__call__ = asgi_call
    return True


def unpatch():
    if _originals:
        from django.core.handlers.asgi import ASGIHandler
        from django.core.handlers.base import BaseHandler
        from django.core.handlers.wsgi import WSGIHandler

        BaseHandler.resolve_request = _originals["resolve"]
        WSGIHandler.__call__ = _originals["wsgi"]
        ASGIHandler.__call__ = _originals["asgi"]
        _originals.clear()
