"""``TraceMiddleware(app)``: traces a WSGI application (Django, Flask, Bottle, Falcon, Pyramid,
Pylons-style apps, any PEP 3333 app) as ddtrace's WSGI middleware does.

Each request gets a ``wsgi.request`` server span (``http.server.request`` under
``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``), a child of the caller's trace when the request carries one (any
configured propagation style), tagged as ``ddfast.contrib._http`` describes (as ddtrace's WSGI middleware,
without ``http.useragent``), resource ``"METHOD /path"``. The span ends when the server closes the response
iterable, so streamed bodies are timed whole. ``distributed_tracing``: see ``ddfast.contrib._http``
(``DD_WSGI_DISTRIBUTED_TRACING``).
"""

from ddfast.contrib import _http
from ddfast.contrib.integration import Integration


def request_url(environ):
    """The request's URL without its query string (PEP 3333's reconstruction)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "")
        port = environ.get("SERVER_PORT", "")
        if port and port != ("443" if scheme == "https" else "80"):
            host += ":" + port
    return "%s://%s%s%s" % (scheme, host, environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))


#: where the exception an application passed to ``start_response`` (with an error page) is left in the environ
#: (the core's ``EXC_INFO_KEY``, in both twins)
EXC_INFO_KEY = "ddfast.exc_info"
environ_header = _http.environ_header


class TraceMiddleware:
    """Wraps a WSGI ``app``. ``tracer`` defaults to ddfast's global one; ``service`` to ``DD_SERVICE``
    or ``"wsgi"``. ``annotate(span, environ, method)``, when a framework hook sets it, runs once the
    application returned (to leave the route at ``_http.ROUTE_KEY`` from what the framework kept); the span
    is then named after the route left in the environ (``tracer.http.annotate``). ``integration`` (a key
    of ``_http.SERVERS``) names the spans.

    A middleware is also its tracer's core ``TracedWsgiApp`` (the class made is a subclass of both, one per
    core: compiled, or the pure twin): calling it, once per request, runs no Python frame of ddfast's. It
    starts the span, calls the application with a ``start_response`` that tags the status, names the span
    after the route, and wraps the response so that the span ends when the server closes it."""

    def __new__(cls, app, tracer=None, *args, **kwargs):
        core = _http.core_of(_http.http_of(_http.global_tracer(tracer))).TracedWsgiApp
        cls = _ON_CORE.get(cls, cls)  # a class made here, asked again: its own
        made = _MADE.get((cls, core))
        if made is None:
            made = type(cls.__name__, (cls, core), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
            _MADE[cls, core] = made
            _ON_CORE[made] = cls
        return core.__new__(made)

    def __init__(self, app, tracer=None, service=None, distributed_tracing=None, span_name=None, integration="wsgi"):
        if not callable(app):
            raise TypeError("TraceMiddleware wraps a WSGI application (a callable), not %s" % type(app).__name__)
        _http.require_server(integration)  # a server's names: an unknown integration is misuse
        integ = Integration(integration, tracer, service, distributed_tracing, span_name=span_name)
        self.tracer = integ.tracer
        # bound once: the tracer's request path and this integration's names
        self._http = http = integ.http
        self._names = names = integ.http_names
        super().__init__(http, names, app)  # the core's: app, annotate, and the call
        self.service = names.service
        self.distributed_tracing = names.distributed
        self.span_name = names.name
        self.component = names.component
        self.useragent = names.useragent


# (class, core TracedWsgiApp) -> the class made of both; and back
_MADE = {}
_ON_CORE = {}
