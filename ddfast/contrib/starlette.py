"""``patch()``: every Starlette (and so FastAPI) application is traced by the ASGI middleware
(``ddfast.contrib.asgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses.

``Starlette.__call__`` (which ``FastAPI.__call__`` ends in) runs each application behind its own
middleware instance, made on its first call, as the outermost layer."""

from ddfast.contrib._framework import AppPatch

_app = AppPatch("starlette.applications", "Starlette", is_asgi=True)


def patch(tracer=None, service=None):
    """Trace every Starlette/FastAPI application's requests; False when already patched."""
    return _app.patch(tracer, service)


def unpatch():
    _app.unpatch()
