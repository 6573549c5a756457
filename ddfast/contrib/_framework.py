"""What the framework hooks (``ddfast.contrib.django``, ``.flask``, ``.starlette``, ``.bottle``,
``.falcon``, ``.pyramid``) share: running each application behind its own tracing middleware, made on its
first call, by patching the framework's application class (its ``__call__``; Flask's ``wsgi_app``), so
that an application needs no change to be traced, whether it was made before or after the patch.

Unpatching puts the class's method back: an application's next request runs untraced (its middleware,
kept on it, is no longer called). A reference to the patched method taken while patched (a bound
``app.wsgi_app`` that the application wrapped in another middleware, say) is the patched method still,
and keeps tracing, for every framework alike."""

import functools
import importlib
import types

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib import wsgi


class AppPatch:
    """Patches ``<module>.<name>.<method>`` (``__call__`` unless named; a WSGI or, with ``is_asgi``, an
    ASGI application class, imported when patched) so that every instance runs behind
    ``wsgi``/``asgi.TraceMiddleware``, its spans named as ddtrace names ``integration``'s
    (``integration_of(app)`` when it depends on the application); ``annotate`` names a span after what
    served the request (WSGI, see ``wsgi.TraceMiddleware``). The method is the application's WSGI or ASGI
    call: ``(environ, start_response)`` or ``(scope, receive, send)``, self apart.

    An ASGI class's HTTP requests do not pass through the middleware's own coroutine: the patched
    ``__call__`` does its work (as ``asgi.TraceMiddleware`` does) around the original ``__call__``, or, with
    ``inner``, around what the original awaits, so that a request runs in as many coroutines as untraced
    (each coroutine layer is resumed and left again at every suspension of the request)."""

    def __init__(self, module, name, integration, is_asgi=False, annotate=None, integration_of=None, inner=None,
                 method="__call__"):  # fmt: skip
        self.module = module
        self.name = name
        #: the patched method, as ddtrace patches the class (Flask: ``wsgi_app``, so that a middleware the
        #: application puts around its own ``wsgi_app``, such as ``ProxyFix``, stays outside the span)
        self.method = method
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
        return _patch.is_wrapped(self.owner, self.method)

    def patch(self, tracer=None, service=None):
        """Patch the class; False when already patched."""
        owner = self.owner
        return _patch.wrap(owner, self.method, functools.partial(self._traced_call, owner, tracer, service))

    def _traced_call(self, owner, tracer, service, original):
        """The class's method running each application behind its own middleware."""
        if self.is_asgi:  # imported for an ASGI class only: it imports asyncio, which a WSGI server may not
            from ddfast.contrib import asgi
        annotate = self.annotate

        def middleware_of(app):
            integration = self.integration if self.integration_of is None else self.integration_of(app)
            if self.is_asgi:
                return asgi.TraceMiddleware(
                    functools.partial(original, app), tracer=tracer, service=service, integration=integration
                )
            # the original bound to the application: called as the application's own method is
            middleware = wsgi.TraceMiddleware(
                types.MethodType(original, app), tracer=tracer, service=service, integration=integration
            )
            middleware.annotate = annotate
            return middleware

        if self.is_asgi:
            call = (self.inner(original) if self.inner is not None else None) or original
            key = _http.TRACED_APP_KEY

            async def __call__(app, scope, receive, send):
                try:
                    middleware = app.__dict__[key]
                except (AttributeError, KeyError):
                    middleware = _http.traced_instance(app, middleware_of)
                traced = middleware._begin(scope, send)
                if traced is None:
                    if scope.get("type") != "http":  # lifespan (flushed at shutdown), websocket: the middleware's way
                        return await middleware(scope, receive, send)
                    return await call(app, scope, receive, send)  # off, or traced by an outer middleware
                try:
                    await call(app, scope, receive, traced)
                except BaseException as e:
                    traced.failed(e)
                    raise
                traced.done()

        elif owner.__dictoffset__:  # instances have a __dict__: the middleware read from it, no frame more
            key, traced_instance = _http.TRACED_APP_KEY, _http.traced_instance

            def __call__(app, environ, start_response):
                try:
                    middleware = app.__dict__[key]
                except KeyError:  # the first request
                    middleware = traced_instance(app, middleware_of)
                return middleware(environ, start_response)

        else:  # __slots__ (Falcon's App): kept aside, by _http

            def __call__(app, environ, start_response):
                return _http.traced_instance(app, middleware_of)(environ, start_response)

        return __call__

    def unpatch(self):
        _patch.unwrap(self.owner, self.method)
