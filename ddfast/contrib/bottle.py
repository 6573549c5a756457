"""``patch()``: every Bottle application is traced by the WSGI middleware (``ddfast.contrib.wsgi``)
without a change to its code: what ``ddfast-run`` uses. The resource is the matched route's rule
(``GET /users/<id:int>``, tagged ``http.route``, after the mount's ``SCRIPT_NAME``), ``GET 404`` when no
route matched."""

from ddfast.contrib import wsgi
from ddfast.contrib._framework import AppPatch


def route_of(environ):
    """The rule of the route Bottle matched (it leaves it in the environ), or None."""
    if "bottle.app" not in environ:  # not handled by Bottle: it cannot tell
        return wsgi.NOT_ROUTED
    route = environ.get("bottle.route")
    if route is None:
        return None
    prefix = environ.get("SCRIPT_NAME", "").rstrip("/")
    return prefix + "/" + route.rule.lstrip("/") if prefix else route.rule


_app = AppPatch("bottle", "Bottle", route_of=route_of)


def patch(tracer=None, service=None):
    """Trace every ``bottle.Bottle`` application's requests; False when already patched."""
    return _app.patch(tracer, service)


def unpatch():
    _app.unpatch()
