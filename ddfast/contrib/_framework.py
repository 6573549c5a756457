"""What the framework hooks (``ddfast.contrib.django``, ``.starlette``, ``.bottle``, ``.falcon``,
``.pyramid``) share: running each application behind its own tracing middleware, made on its first
call, by patching the framework's application class (``__call__``), so that an application needs no
change to be traced."""

import functools
import importlib

from ddfast.contrib import _http
from ddfast.contrib import asgi
from ddfast.contrib import wsgi


class AppPatch:
    """Patches ``<module>.<name>.__call__`` (a WSGI or, with ``is_asgi``, an ASGI application class;
    imported when patched) so that every instance runs behind ``wsgi``/``asgi.TraceMiddleware``, its
    spans named as ddtrace names ``integration``'s (``integration_of(app)`` when it depends on the
    application); ``annotate`` names a span after what served the request (WSGI, see
    ``wsgi.TraceMiddleware``)."""

    def __init__(self, module, name, integration, is_asgi=False, annotate=None, integration_of=None):
        self.module = module
        self.name = name
        self.integration = integration
        self.is_asgi = is_asgi
        self.annotate = annotate
        self.integration_of = integration_of
        self.original = None

    @property
    def owner(self):
        return getattr(importlib.import_module(self.module), self.name)

    def patch(self, tracer=None, service=None):
        """Patch the class; False when already patched."""
        if self.original is not None:
            return False
        owner = self.owner
        self.original = original = owner.__call__
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

            async def __call__(app, scope, receive, send):
                await _http.traced_instance(app, middleware_of)(scope, receive, send)

        else:

            def __call__(app, environ, start_response):
                return _http.traced_instance(app, middleware_of)(environ, start_response)

        __call__.__doc__ = original.__doc__
        owner.__call__ = __call__
        return True

    def unpatch(self):
        if self.original is not None:
            self.owner.__call__ = self.original
            self.original = None
