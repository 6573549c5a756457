"""What the framework hooks (``ddfast.contrib.django``, ``.starlette``, ``.bottle``, ``.falcon``,
``.pyramid``) share: running each application behind its own tracing middleware, made on its first
call, by patching the framework's application class (``__call__``), so that an application needs no
change to be traced."""

import functools
import importlib

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib import asgi
from ddfast.contrib import wsgi


class AppPatch:
    """Patches ``<module>.<name>.__call__`` (a WSGI or, with ``is_asgi``, an ASGI application class;
    imported when patched) so that every instance runs behind ``wsgi``/``asgi.TraceMiddleware``, its
    spans named as ddtrace names ``integration``'s (``integration_of(app)`` when it depends on the
    application); ``annotate`` names a span after what served the request (WSGI, see
    ``wsgi.TraceMiddleware``).

    An ASGI class's HTTP requests do not pass through the middleware's own coroutine: the patched
    ``__call__`` does its work (as ``asgi.TraceMiddleware`` does) around the original ``__call__``, or, with
    ``inner``, around what the original awaits, so that a request runs in as many coroutines as untraced
    (each coroutine layer is resumed and left again at every suspension of the request)."""

    def __init__(self, module, name, integration, is_asgi=False, annotate=None, integration_of=None, inner=None):
        self.module = module
        self.name = name
        self.integration = integration
        self.is_asgi = is_asgi
        self.annotate = annotate
        self.integration_of = integration_of
        #: ASGI: ``inner(original)`` -> a plain function ``(app, scope, receive, send)`` returning what the
        #: class's own ``__call__`` would await, or None when that ``__call__`` is not the one it knows
        self.inner = inner

    @property
    def owner(self):
        return getattr(importlib.import_module(self.module), self.name)

    @property
    def patched(self):
        """Whether the class is patched now."""
        return _patch.is_wrapped(self.owner, "__call__")

    def patch(self, tracer=None, service=None):
        """Patch the class; False when already patched."""
        return _patch.wrap(self.owner, "__call__", functools.partial(self._traced_call, tracer, service))

    def _traced_call(self, tracer, service, original):
        """The class's ``__call__`` running each application behind its own middleware."""
        annotate = self.annotate

        def middleware_of(app):
            integration = self.integration if self.integration_of is None else self.integration_of(app)
            if self.is_asgi:
                return asgi.TraceMiddleware(
                    functools.partial(original, app), tracer=tracer, service=service, integration=integration
                )
            middleware = wsgi.TraceMiddleware(
                functools.partial(original, app), tracer=tracer, service=service, integration=integration
            )
            middleware.annotate = annotate
            return middleware

        if self.is_asgi:
            call = (self.inner(original) if self.inner is not None else None) or original
            failed, key = asgi.TraceMiddleware.failed, _http.TRACED_APP_KEY

            async def __call__(app, scope, receive, send):
                try:
                    middleware = app.__dict__[key]
                except (AttributeError, KeyError):
                    middleware = _http.traced_instance(app, middleware_of)
                if scope.get("type") != "http":  # lifespan (flushed at shutdown), websocket: the middleware's way
                    return await middleware(scope, receive, send)
                span = middleware._start(middleware._names, scope)
                if span is None:  # off, or traced by an outer middleware
                    return await call(app, scope, receive, send)
                http = middleware._http
                try:
                    await call(app, scope, receive, middleware._send_type(http, span, send))
                except BaseException as e:
                    failed(http, span, scope, e)
                    raise
                http.annotate(span, scope)
                span.finish()

        else:

            def __call__(app, environ, start_response):
                return _http.traced_instance(app, middleware_of)(environ, start_response)

        return __call__

    def unpatch(self):
        _patch.unwrap(self.owner, "__call__")
