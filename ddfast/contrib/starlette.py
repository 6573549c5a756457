"""``patch()``: every Starlette (and so FastAPI) application is traced by the ASGI middleware
(``ddfast.contrib.asgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses.

``Starlette.__call__`` (which ``FastAPI.__call__`` ends in) runs each application behind its own
middleware instance, made on its first call, as the outermost layer. As in ddtrace, spans are
``starlette.request`` (``fastapi.request`` for a FastAPI application), named after the matched route
(``GET /users/{id}``), ``"METHOD /path"`` when none matched."""

import sys

from ddfast.contrib._framework import AppPatch


def _integration_of(app):
    fastapi = sys.modules.get("fastapi")
    return "fastapi" if fastapi is not None and isinstance(app, fastapi.FastAPI) else "starlette"


_app = AppPatch("starlette.applications", "Starlette", "starlette", is_asgi=True, integration_of=_integration_of)


def patch(tracer=None, service=None):
    """Trace every Starlette/FastAPI application's requests; False when already patched."""
    return _app.patch(tracer, service)


def unpatch():
    _app.unpatch()
