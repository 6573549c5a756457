"""``patch()``: every Starlette (and so FastAPI) application is traced by the ASGI middleware
(``ddfast.contrib.asgi.TraceMiddleware``), without a change to its code: what ``ddfast-run`` uses.

``Starlette.__call__`` (which ``FastAPI.__call__`` ends in) traces each application as its own
middleware instance (made on its first call) would, as the outermost layer: the patched ``__call__``
does the middleware's work itself around the application's middleware stack, so a traced request runs
in no more coroutines than an untraced one. As in ddtrace, spans are
``starlette.request`` (``fastapi.request`` for a FastAPI application), named after the matched route
(``GET /users/{id}``), ``"METHOD /path"`` when none matched."""

import sys
import types

from ddfast.contrib._framework import AppPatch


def _integration_of(app):
    fastapi = sys.modules.get("fastapi")
    return "fastapi" if fastapi is not None and isinstance(app, fastapi.FastAPI) else "starlette"


def _stack_call(original):
    """What ``Starlette.__call__`` (``original``) awaits, called without its coroutine: the application's
    middleware stack (built on the first request), the scope's ``app`` set. None when ``original`` is not
    the ``__call__`` this knows (a wrapper of it, or one that reads more than the stack), which then runs
    as it is."""
    if type(original) is not types.FunctionType:  # wrapped by another library (which may proxy __code__)
        return None
    if not set(original.__code__.co_names) <= {"middleware_stack", "build_middleware_stack"}:
        return None

    def call(app, scope, receive, send):
        scope["app"] = app
        stack = app.middleware_stack
        if stack is None:
            stack = app.middleware_stack = app.build_middleware_stack()
        return stack(scope, receive, send)

    return call


_app = AppPatch(
    "starlette.applications", "Starlette", "starlette", is_asgi=True, integration_of=_integration_of, inner=_stack_call
)


def patch(tracer=None, service=None):
    """Trace every Starlette/FastAPI application's requests; False when already patched."""
    return _app.patch(tracer, service)


def unpatch():
    _app.unpatch()
