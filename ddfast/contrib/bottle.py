"""``patch()``: every Bottle application is traced by the WSGI middleware (``ddfast.contrib.wsgi``)
without a change to its code: what ``ddfast-run`` uses. As in ddtrace, spans are ``bottle.request`` and the
resource is the matched route's rule (``GET /users/<id:int>``, tagged ``http.route``, after the mount's
``SCRIPT_NAME``); a request no route matched (which ddtrace does not trace) is ``GET 404``."""

from ddfast.contrib import _http
from ddfast.contrib import wsgi
from ddfast.contrib._framework import AppPatch


def annotate(span, environ, method):
    """Leave the rule of the route Bottle matched (it keeps it in the environ) where the middleware names
    the span after it (``_http.ROUTE_KEY``), and record the exception of a handler that raised (Bottle
    answers 500 and keeps it in the environ)."""
    if "bottle.app" not in environ:  # not handled by Bottle: it cannot tell
        return
    exc_info = environ.get(wsgi.EXC_INFO_KEY)  # Bottle's, given to start_response
    if exc_info is not None and exc_info[0] is not None:
        span.set_exc_info(*exc_info)
    route = environ.get("bottle.route")
    if route is None:
        environ[_http.ROUTE_KEY] = None
        return
    prefix = environ.get("SCRIPT_NAME", "").rstrip("/")
    environ[_http.ROUTE_KEY] = prefix + "/" + route.rule.lstrip("/") if prefix else route.rule


_app = AppPatch("bottle", "Bottle", "bottle", annotate=annotate)


def patch(tracer=None, service=None):
    """Trace every ``bottle.Bottle`` application's requests; False when already patched."""
    return _app.patch(tracer, service)


def unpatch():
    _app.unpatch()
