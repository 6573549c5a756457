"""``patch()``: every Flask application made afterwards is traced by the WSGI middleware
(``ddfast.contrib.wsgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses. The
resource is the matched rule (``GET /users/<int:id>``, tagged ``http.route``), ``GET 404`` when none."""

from ddfast.contrib import _http
from ddfast.contrib import wsgi

_original_init = None


def patch(tracer=None, service=None):
    """Wrap each new ``flask.Flask``'s ``wsgi_app``; False when already patched."""
    global _original_init
    import flask

    if _original_init is not None:
        return False
    _original_init = original = flask.Flask.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.before_request(_note_route)
        self.wsgi_app = wsgi.TraceMiddleware(self.wsgi_app, tracer=tracer, service=service)

    flask.Flask.__init__ = __init__
    return True


def _note_route():
    """Leave the matched rule (``/users/<int:id>``, or None for a 404) for the middleware's span."""
    from flask import request

    rule = request.url_rule
    request.environ[_http.ROUTE_KEY] = rule.rule if rule is not None else None


def unpatch():
    global _original_init
    if _original_init is not None:
        import flask

        flask.Flask.__init__ = _original_init
        _original_init = None
