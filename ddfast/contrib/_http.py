"""What every integration does around one HTTP exchange, written once.

A server integration extracts the caller's context from the request headers and starts a server span
under it; a client integration starts a client span under the active span and injects its context into
the outgoing headers. Tags follow ddtrace's HTTP integrations: ``component``, ``span.kind``,
``http.method``, ``http.url`` (without the query string unless asked: ``ddfast.contrib.query_string``),
``http.status_code`` (text), ``http.useragent``, ``out.host``, ``http.route`` where the framework routes;
a status of ``DD_TRACE_HTTP_SERVER_ERROR_STATUSES`` (5xx by default) marks a server or client span as an
error, as in ddtrace (``DD_TRACE_HTTP_CLIENT_ERROR_STATUSES``, ddfast's own, overrides it for client spans).
Span names, components, services and resources are ddtrace's for each integration (``SERVERS``,
``CLIENTS``), under its default naming schema or ``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1``. ``DD_TRACE_HEADER_TAGS`` and
``DD_TRACE_CLIENT_IP_ENABLED`` add tags; every setting is read once, and again only when it changes.

Distributed tracing (continuing the caller's trace, sending ours downstream) is on by default. It is
turned off for every integration by ``DD_TRACE_DISTRIBUTED_TRACING=false`` (``ddfast.config``), for one
by ``DD_<INTEGRATION>_DISTRIBUTED_TRACING=false`` (ddtrace's per-integration names, e.g.
``DD_REQUESTS_DISTRIBUTED_TRACING``), or in code by the integration's ``distributed_tracing``
argument. Each is read once, when the middleware is made or the library patched.
"""

import functools
import os
import re
import sys
import weakref

from ddfast.contrib import client_ip as _client_ip
from ddfast.contrib import query_string as _query_string
from ddfast.settings import asbool
from ddfast.settings import config
from ddfast.tracer import in_client_call

_in_client_call = in_client_call  # the tracer's: set around a carrier's HTTP call with no client span (botocore)


def distributed_tracing(integration, explicit=None):
    """Whether ``integration`` continues and propagates traces (see the module docstring)."""
    if explicit is not None:
        return bool(explicit)
    value = os.environ.get("DD_%s_DISTRIBUTED_TRACING" % integration.upper())
    if value is not None and value.strip():
        return asbool(value, config.distributed_tracing)
    return config.distributed_tracing


# -- what ddtrace names each integration's spans --------------------------------------------------------

#: server integration -> (operation name, component, service when DD_SERVICE is unset, tags http.useragent)
#: under ddtrace's default naming (schema v0)
SERVERS = {
    "wsgi": ("wsgi.request", "wsgi", "wsgi", False),
    "asgi": ("asgi.request", "asgi", "asgi", True),
    "flask": ("flask.request", "flask", "flask", True),
    "django": ("django.request", "django", "django", True),
    "falcon": ("falcon.request", "falcon", "falcon", False),
    "pyramid": ("pyramid.request", "pyramid", "pyramid", True),
    "bottle": ("bottle.request", "bottle", "bottle", True),
    "starlette": ("starlette.request", "starlette", "starlette", True),
    "fastapi": ("fastapi.request", "fastapi", "fastapi", True),
    "aiohttp": ("aiohttp.request", "aiohttp", "aiohttp-web", True),
    "tornado": ("tornado.request", "tornado", "tornado-web", True),
}
#: client integration -> (operation name, component, its own service under v0 or None for the application's,
#: resource or None for "METHOD /path")
CLIENTS = {
    "requests": ("requests.request", "requests", "requests", None),
    "httpx": ("http.request", "httpx", None, "http.request"),
    "urllib3": ("urllib3.request", "urllib3", "urllib3", "urllib3.request"),
    "aiohttp_client": ("aiohttp.request", "aiohttp_client", None, "aiohttp.request"),
}
#: integrations whose server spans take the integration's service rather than the application's (v0)
_OWN_SERVICE = frozenset(["falcon"])


def integration_service_setting(integration):
    """``DD_<INTEGRATION>_SERVICE`` (``DD_FLASK_SERVICE``, ``DD_REQUESTS_SERVICE``...): the service of one
    integration's spans, as in ddtrace; None when unset."""
    if integration not in _SERVICE_SETTINGS:
        return None
    value = os.environ.get("DD_%s_SERVICE" % integration.upper())
    return value.strip() or None if value else None


#: the integrations whose service ddtrace reads from DD_<INTEGRATION>_SERVICE
_SERVICE_SETTINGS = frozenset(
    ["flask", "django", "wsgi", "asgi", "starlette", "fastapi", "requests", "httpx", "urllib3", "aiohttp_client"]
)


def schema_v1():
    """Whether ``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1`` (ddtrace's other naming schema) is set; read when an
    integration is set up."""
    return os.environ.get("DD_TRACE_SPAN_ATTRIBUTE_SCHEMA", "").strip().lower() == "v1"


def _integration_services():
    """Whether integrations keep their own service names: under v0 unless
    ``DD_TRACE_REMOVE_INTEGRATION_SERVICE_NAMES_ENABLED``, as in ddtrace."""
    removed = asbool(os.environ.get("DD_TRACE_REMOVE_INTEGRATION_SERVICE_NAMES_ENABLED"), False)
    return not (removed or schema_v1())


def require_server(integration):
    """Refuse (``ValueError``) a name that is not an HTTP server integration's (a key of ``SERVERS``)."""
    if integration not in SERVERS:
        raise ValueError("integration must be one of %s, not %r" % (", ".join(sorted(SERVERS)), integration))


class ServerNames:
    """How ``integration``'s server spans are named, chosen once: ``name``, ``component``, ``service`` (the
    one to pass to the core: None for DD_SERVICE else ``default_service``), ``default_service`` and
    ``useragent`` (whether ``http.useragent`` is tagged)."""

    __slots__ = ("name", "component", "service", "default_service", "useragent")

    def __init__(self, integration, service=None):
        require_server(integration)
        name, self.component, default, self.useragent = SERVERS[integration]
        self.name = "http.server.request" if schema_v1() else name
        self.default_service = default
        if not service:
            service = integration_service_setting(integration)
        if not service and integration in _OWN_SERVICE and _integration_services():
            service = default
        self.service = service or None


class ClientNames:
    """How ``integration``'s client spans are named, chosen once: ``name``, ``component``, ``service``
    (None: the application's), ``resource`` (None: ``"METHOD /path"``)."""

    __slots__ = ("name", "component", "service", "resource")

    def __init__(self, integration):
        name, self.component, service, resource = CLIENTS[integration]
        if schema_v1():
            name = "http.client.request"
            resource = resource and name
        self.name = name
        self.resource = resource
        self.service = integration_service_setting(integration) or (service if _integration_services() else None)


def server_names(http, integration, service=None, distributed=None, span_name=None):
    """The ``HttpNames`` (of the core of ``http``, a ``tracer.http``) of ``integration``'s server spans,
    chosen once: ``ServerNames`` and ``distributed_tracing`` together."""
    names = ServerNames(integration, service)
    return _names_type(http)(
        span_name or names.name,
        names.component,
        names.service,
        names.default_service,
        names.useragent,
        None,
        distributed_tracing(integration, distributed),
    )


def client_names(http, integration, distributed=None):
    """The ``HttpNames`` of ``integration``'s client spans (``ClientNames``), chosen once."""
    names = ClientNames(integration)
    return _names_type(http)(
        names.name,
        names.component,
        names.service,
        None,
        True,
        names.resource,
        distributed_tracing(integration, distributed),
    )


def _names_type(http):
    """``HttpNames`` of the core (compiled or pure twin) that made ``http``: once per integration."""
    return core_of(http).HttpNames


def core_of(http):
    """The span core module (compiled or pure twin) that made ``http``: for an integration's set-up."""
    return sys.modules[type(http).__module__]


def route_resources():
    """``DDFAST_HTTP_ROUTE_RESOURCES=true``: name the server spans of Falcon, Pyramid and Tornado after
    the route template (``GET /users/{id}``) where ddtrace names them after the handler (its class, the
    route's name); off by default. Read when an integration is set up."""
    return asbool(os.environ.get("DDFAST_HTTP_ROUTE_RESOURCES"), False)


def global_tracer(tracer=None):
    """``tracer``, or ddfast's global tracer."""
    if tracer is not None:
        return tracer
    from ddfast.tracer import tracer as global_one

    return global_one


# the status codes that make a span an error, kept current with ddfast.config (read once a change)
error_statuses = {"server": frozenset(), "client": frozenset()}


def _read_error_statuses(cfg):
    error_statuses["server"] = server = cfg.http_server_error_statuses
    client = cfg.http_client_error_statuses  # None: ddtrace's rule, the server statuses
    error_statuses["client"] = server if client is None else client


_read_error_statuses(config)
config.on_change(_read_error_statuses)


# DD_TRACE_HEADER_TAGS: lower-case header name -> (tag for a request header, tag for a response header)
header_tags = {}
_NOT_TAG_CHAR = re.compile(r"[^a-z0-9_\-:/]")


def _read_header_tags(cfg):
    global header_tags
    tags = {}
    for name, tag in cfg.trace_header_tags.items():
        normalized = _NOT_TAG_CHAR.sub("_", name)
        tags[name] = (tag or "http.request.headers." + normalized, tag or "http.response.headers." + normalized)
    header_tags = tags


_read_header_tags(config)
config.on_change(_read_header_tags)


# DD_TRACE_CLIENT_IP_ENABLED / _HEADER: (header or None,) when on, None when off
client_ip = None


def _read_client_ip(cfg):
    global client_ip
    client_ip = (cfg.client_ip_header,) if cfg.client_ip_enabled else None


_read_client_ip(config)
config.on_change(_read_client_ip)


# DD_HTTP_SERVER_TAG_QUERY_STRING / DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING: an Obfuscator when on, else None
server_query = client_query = None


def _read_query(cfg):
    global server_query, client_query
    obfuscator = None
    if cfg.http_server_tag_query_string or cfg.http_client_tag_query_string:
        regexp = cfg.obfuscation_query_string_regexp
        pattern = _query_string.DEFAULT_PATTERN if regexp is None else regexp
        obfuscator = _query_string.Obfuscator(_query_string.compile_pattern(pattern))
    server_query = obfuscator if cfg.http_server_tag_query_string else None
    client_query = obfuscator if cfg.http_client_tag_query_string else None


_read_query(config)
config.on_change(_read_query)


# -- the settings of each tracer's HTTP request path (tracer.http), pushed in when they change --------

_bound = weakref.WeakSet()


def http_of(tracer):
    """``tracer.http`` with the HTTP settings given to it (once; kept current as ``ddfast.config``
    changes): what an integration takes when it is set up."""
    http = tracer.http
    if http not in _bound:
        bind(http)
    return http


def bind(http):
    """Give ``http`` (a tracer's ``HttpTracer``) the HTTP settings now and whenever ``ddfast.config``
    changes: error statuses, and the optional parts as callables (None when off, so that a request pays
    nothing for them)."""
    _push(http)
    _bound.add(http)


def _push(http):
    http.server_errors = error_statuses["server"]
    http.client_errors = error_statuses["client"]
    http.on_server_request = _on_server_request if header_tags or client_ip else None
    http.on_client_request = _on_client_request if header_tags else None
    http.on_response = _on_response if header_tags else None
    http.server_query = _tag_server_query if server_query is not None else None
    http.client_query = _tag_client_query if client_query is not None else None


def _push_all(cfg):
    for http in list(_bound):
        _push(http)


def _on_server_request(span, carrier, peer_ip):
    get = _getter(carrier)
    if header_tags:
        tag_headers(span, get)
    if client_ip:
        tag_client_ip(span, get, peer_ip)


def _on_client_request(span, headers):
    if headers is not None:
        tag_headers(span, _getter(headers))


def _on_response(span, headers):
    tag_headers(span, _getter(headers), True)


def _tag_server_query(span, url, query, carrier):
    tag_query(span, server_query, url, query)


def _tag_client_query(span, url, query, carrier):
    tag_query(span, client_query, url, query)


def _getter(carrier):
    """``get(lower-case header name)`` over a carrier: a WSGI environ, pairs, or a mapping."""
    if type(carrier) is dict and "REQUEST_METHOD" in carrier:
        return functools.partial(environ_header, carrier)
    if isinstance(carrier, (list, tuple)):
        return pairs_getter(carrier)
    get = getattr(carrier, "get", None)
    return get if get is not None else _nothing


def _nothing(name):
    return None


_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def environ_header(environ, name):
    """The value of request header ``name`` (lower case) in a WSGI ``environ``, or None."""
    key = _UNPREFIXED.get(name) or "HTTP_" + name.upper().replace("-", "_")
    return environ.get(key)


def tag_query(span, obfuscator, url, query=None):
    """``http.url`` with the query string (of ``url``, or ``query``) obfuscated, when there is one."""
    if query or (query is None and "?" in url):
        span.set_tag("http.url", obfuscator.url(url, query))


def tag_client_ip(span, get, peer_ip):
    """``http.client_ip`` and ``network.client.ip`` on a server span (``ddfast.contrib.client_ip``), when on."""
    _client_ip.tag(span, get, peer_ip, client_ip[0])


def tag_headers(span, get, response=False):
    """Tag ``span`` with the headers ``DD_TRACE_HEADER_TAGS`` names; ``get(lower-case name)`` gives a
    header's value or None (a case-insensitive mapping's ``get``, or ``environ_header``)."""
    for name, tags in header_tags.items():
        value = get(name)
        if value is not None:
            span.set_tag(tags[response], value if isinstance(value, str) else bytes(value).decode("latin-1"))


def pairs_getter(pairs):
    """``get`` for ``tag_headers`` over ``(name, value)`` pairs (str or bytes, as WSGI and ASGI give)."""
    found = {}
    for name, value in pairs:
        name = name.decode("latin-1") if isinstance(name, bytes) else name
        found.setdefault(name.lower(), value)
    return found.get


def traced_instance(app, middleware_of):
    """The tracing middleware of framework application ``app`` (made once, by ``middleware_of(app)``,
    and kept on it), for hooks that patch the framework's ``__call__`` (``contrib.django``, ``.starlette``)."""
    store = getattr(app, "__dict__", None)
    if store is None:  # an application class with __slots__ (Falcon's): kept here, with the application
        store = _slotted.get(id(app))
        if store is None or store["app"] is not app:
            store = _slotted[id(app)] = {"app": app}
    traced = store.get(TRACED_APP_KEY)
    if traced is None:
        traced = store[TRACED_APP_KEY] = middleware_of(app)
    return traced


#: where ``traced_instance`` keeps an application's middleware (in its ``__dict__``)
TRACED_APP_KEY = "_ddfast_traced"


# the middleware of applications that cannot hold an attribute, by id (applications live as long as
# the process; the application is kept with it, so an id is never reused while in here)
_slotted = {}


#: set in the WSGI environ / ASGI scope by the middleware that traces a request: a second ddfast
#: middleware on the way in (an app wrapped by hand and patched by ddfast-run) passes it through, so a
#: request gets one server span
TRACED_KEY = "ddfast.traced"

#: where a framework hook leaves the route template of a request (in the WSGI environ or the ASGI scope:
#: ``ddfast.contrib.flask``, ``.django``); None there means the framework routed nothing (a 404)
ROUTE_KEY = "ddfast.route"


#: where a framework hook leaves the resource when ddtrace names it otherwise than ``"METHOD <route>"``
RESOURCE_KEY = "ddfast.resource"
#: where a framework hook leaves the status of a request that raised (the framework would answer 500)
STATUS_KEY = "ddfast.status"


def text(url):
    """A URL as ``str`` (bytes decoded as latin-1, anything else by ``str``)."""
    if type(url) is str:
        return url
    return url.decode("latin-1") if isinstance(url, bytes) else str(url)


def set_server_status(span, status):
    """Tag a server span (of any tracer) with the response's status code (int or text such as ``"200
    OK"``); one of ``DD_TRACE_HTTP_SERVER_ERROR_STATUSES`` (5xx by default) marks it as an error.
    Integrations use their tracer's ``http.status``; this is for code that holds a span only."""
    _status_of(span)(span, status, error_statuses["server"])


def set_client_status(span, status):
    """``set_server_status`` for a client span (``DD_TRACE_HTTP_CLIENT_ERROR_STATUSES``)."""
    _status_of(span)(span, status, error_statuses["client"])


def _status_of(span):
    """The core's ``http_status`` for ``span``'s type (compiled or pure twin)."""
    return sys.modules[type(span).__module__].http_status


# after the readers above, which it pushes on from
config.on_change(_push_all)
