"""``patch()``: every Flask application, made before or after the patch, is traced by the WSGI middleware
(``ddfast.contrib.wsgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses. As
ddtrace does, the class's ``Flask.wsgi_app`` is patched (not ``__call__``), so a middleware the application
puts around its own ``wsgi_app`` (``app.wsgi_app = ProxyFix(app.wsgi_app)``) runs outside the span, which
sees the environ it left. One put there before the patch holds the unpatched ``wsgi_app``: that
application is not traced (ddtrace makes no ``flask.request`` span for it either), so patch first
(``ddfast-run`` patches when Flask is imported). Spans are ``flask.request`` (component ``flask``), as
ddtrace's; the resource is the matched rule (``GET /users/<int:id>``, tagged ``http.route``), ``GET 404``
when none."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_app = AppPatch("flask", "Flask", "flask", method="wsgi_app")


def patch(tracer=None, service=None):
    """Trace every ``flask.Flask`` application's requests; False when already patched."""
    if not _app.patch(tracer, service):
        return False
    _patch.wrap(_app.owner, "dispatch_request", _noting_route)
    return True


def _noting_route(dispatch_request):
    """``Flask.dispatch_request``, leaving the rule it dispatches to (``/users/<int:id>``, or None for a
    404) in the environ for the middleware's span: one call per request, inside Flask's own handling (a
    ``before_request`` function would cost Flask's per-call checks too)."""
    from flask import globals as flask_globals

    route_key = _http.ROUTE_KEY
    current = getattr(flask_globals, "_cv_request", None)
    if current is None:  # Flask before 2.2: its request proxy

        def noting_route(app, *args, **kwargs):
            request = flask_globals.request
            if request is not None:
                rule = request.url_rule
                request.environ[route_key] = rule.rule if rule is not None else None
            return dispatch_request(app, *args, **kwargs)

        return noting_route

    current_request = current.get  # bound once: the request context of the running request
    code = getattr(dispatch_request, "__code__", None)
    if code is None or (code.co_argcount, code.co_kwonlyargcount, code.co_flags & _PACKED) != (1, 0, 0):
        # not Flask's dispatch_request(self): whatever arguments it is given, passed on

        def noting_route(app, *args, **kwargs):
            ctx = current_request(None)
            if ctx is not None:
                request = ctx.request
                rule = request.url_rule
                request.environ[route_key] = rule.rule if rule is not None else None
            return dispatch_request(app, *args, **kwargs)

        return noting_route

    def noting_route(app):  # Flask's dispatch_request(self): called as it is, no arguments packed
        ctx = current_request(None)
        if ctx is not None:
            request = ctx.request
            rule = request.url_rule
            request.environ[route_key] = rule.rule if rule is not None else None
        return dispatch_request(app)

    return noting_route


# CO_VARARGS | CO_VARKEYWORDS: a function taking *args or **kwargs
_PACKED = 0x04 | 0x08


def unpatch():
    if _app.patched:
        _patch.unwrap(_app.owner, "dispatch_request")
    _app.unpatch()
