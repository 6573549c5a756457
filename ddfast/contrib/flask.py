"""``patch()``: every Flask application made afterwards is traced by the WSGI middleware
(``ddfast.contrib.wsgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses. Spans
are ``flask.request`` (component ``flask``), as ddtrace's; the resource is the matched rule (``GET
/users/<int:id>``, tagged ``http.route``), ``GET 404`` when none."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib import wsgi


def patch(tracer=None, service=None):
    """Wrap each new ``flask.Flask``'s ``wsgi_app``; False when already patched."""
    import flask

    def make(original):
        def __init__(self, *args, **kwargs):
            original(self, *args, **kwargs)
            self.wsgi_app = wsgi.TraceMiddleware(self.wsgi_app, tracer=tracer, service=service, integration="flask")
            self.dispatch_request = _noting_route(self.dispatch_request)

        return __init__

    return _patch.wrap(flask.Flask, "__init__", make)


def _noting_route(dispatch_request):
    """``Flask.dispatch_request`` of one application, leaving the rule it dispatches to (``/users/<int:id>``,
    or None for a 404) in the environ for the middleware's span: one call per request, inside Flask's own
    handling (a ``before_request`` function would cost Flask's per-call checks too)."""
    from flask import globals as flask_globals

    route_key = _http.ROUTE_KEY
    current = getattr(flask_globals, "_cv_request", None)
    if current is None:  # Flask before 2.2: its request proxy

        def dispatch(*args, **kwargs):
            request = flask_globals.request
            if request is not None:
                rule = request.url_rule
                request.environ[route_key] = rule.rule if rule is not None else None
            return dispatch_request(*args, **kwargs)

        return dispatch

    current_request = current.get  # bound once: the request context of the running request

    def dispatch(*args, **kwargs):
        ctx = current_request(None)
        if ctx is not None:
            request = ctx.request
            rule = request.url_rule
            request.environ[route_key] = rule.rule if rule is not None else None
        return dispatch_request(*args, **kwargs)

    return dispatch


def unpatch():
    import flask

    _patch.unwrap(flask.Flask, "__init__")
