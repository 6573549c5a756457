"""``patch()``: every Flask application made afterwards is traced by the WSGI middleware
(``ddfast.contrib.wsgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses."""

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
        self.wsgi_app = wsgi.TraceMiddleware(self.wsgi_app, tracer=tracer, service=service)

    flask.Flask.__init__ = __init__
    return True


def unpatch():
    global _original_init
    if _original_init is not None:
        import flask

        flask.Flask.__init__ = _original_init
        _original_init = None
