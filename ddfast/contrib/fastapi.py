"""``patch()``: every FastAPI application is traced, with ``fastapi.request`` spans as in ddtrace; the
same hook as ``ddfast.contrib.starlette`` (a FastAPI application is a Starlette one), which
``ddfast-run`` patches as ddtrace-run does."""

from ddfast.contrib import starlette


def patch(tracer=None, service=None):
    """Trace every FastAPI (and Starlette) application's requests; False when already patched."""
    return starlette.patch(tracer, service)


def unpatch():
    starlette.unpatch()
