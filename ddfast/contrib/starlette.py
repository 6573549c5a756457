"""``patch()``: every Starlette (and so FastAPI) application is traced by the ASGI middleware
(``ddfast.contrib.asgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses.

``Starlette.__call__`` (which ``FastAPI.__call__`` ends in) runs each application behind its own
middleware instance, made on its first call, as the outermost layer."""

import functools

from ddfast.contrib import _http
from ddfast.contrib import asgi

_original_call = None


def patch(tracer=None, service=None):
    """Trace every Starlette/FastAPI application's requests; False when already patched."""
    global _original_call
    from starlette.applications import Starlette

    if _original_call is not None:
        return False
    _original_call = original = Starlette.__call__

    def middleware_of(app):
        return asgi.TraceMiddleware(functools.partial(original, app), tracer=tracer, service=service)

    async def __call__(self, scope, receive, send):
        await _http.traced_instance(self, middleware_of)(scope, receive, send)

    Starlette.__call__ = __call__
    return True


def unpatch():
    global _original_call
    if _original_call is not None:
        from starlette.applications import Starlette

        Starlette.__call__ = _original_call
        _original_call = None
