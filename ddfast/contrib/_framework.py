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
    ``wsgi.TraceMiddleware``)."""

    def __init__(self, module, name, integration, is_asgi=False, annotate=None, integration_of=None):
        self.module = module
        self.name = name
        self.integration = integration
        self.is_asgi = is_asgi
        self.annotate = annotate
        self.integration_of = integration_of

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

            async def __call__(app, scope, receive, send):
                await _http.traced_instance(app, middleware_of)(scope, receive, send)

        else:

            def __call__(app, environ, start_response):
                return _http.traced_instance(app, middleware_of)(environ, start_response)

        return __call__

    def unpatch(self):
        _patch.unwrap(self.owner, "__call__")
