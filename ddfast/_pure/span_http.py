"""Spans: the HTTP integrations' per-request span work, in one call each: what ``ddfast.contrib``'s
middleware and client patches do around every request.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_http.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.span_object import _STATUS_TEXT
from ddfast._pure.span_object import STATUS_CODE_KEY
from ddfast._pure.span_object import Span
from ddfast._pure.span_tracer import TracerState
from ddfast._pure.span_tracer import _open_ancestor
from ddfast._pure.span_tracer import tracer_start


def url_without_query(url):
    """``url`` without its query string and fragment (ddtrace does not tag them by default)."""
    cut = len(url)
    i = url.find("?")
    if 0 <= i < cut:
        cut = i
    i = url.find("#")
    if 0 <= i < cut:
        cut = i
    return url if cut == len(url) else url[:cut]


def split_url(url):
    """``(host, path, url without query)`` of an absolute URL as ``urllib.parse.urlsplit`` reads them: the
    host lower-case and without an IPv6 literal's brackets (None when empty), the path (may be "")."""
    bare = url_without_query(url)
    start = bare.find("://")
    if start < 0:
        return None, bare, bare
    start += 3
    # the authority runs to the first "/"; the host starts after its last "@"
    n = len(bare)
    slash = bare.find("/", start)
    if slash < 0:
        slash = n
    path = bare[slash:] if slash < n else ""
    first = bare.rfind("@", start, slash) + 1 or start
    # the host: inside an IP literal's brackets, else up to the port's ":"
    bracket = bare.find("[", first, slash)
    if bracket >= 0:
        first = bracket + 1
        end = bare.find("]", first, slash)
    else:
        end = bare.find(":", first, slash)
    if end < 0:
        end = slash
    if end <= first:
        return None, path, bare
    # lower-case up to an IPv6 zone ("%"), which keeps its case
    zone = bare.find("%", first, end)
    if zone >= 0:
        return bare[first:zone].lower() + bare[zone:end], path, bare
    return bare[first:end].lower(), path, bare


def _http_tags(span, component, kind, method, url):
    span.store_tag("component", component)
    span.store_tag("span.kind", kind)
    if type(method) is str:
        span.store_tag("http.method", method)
    else:
        span.set_tag("http.method", method)
    span.store_tag("http.url", url)


def http_server_start(st, var, parent, name, service, component, method, url, path, useragent):
    """The server span of one request, made the active one in ``var``: a child of ``parent`` (the
    Context extracted from the request's headers, or None), service ``service`` (else the tracer's,
    else ``component``), resource ``"METHOD /path"``, type ``web``, with ddtrace's HTTP server tags."""
    if parent is not None and (type(parent) is not Context or parent.trace_id is None):
        parent = None
    if not service:
        service = st.service or component
    span = tracer_start(st, name, parent, service, "%s %s" % (method, path or "/"), "web")
    _http_tags(span, component, "server", method, url_without_query(url))
    if useragent:
        if type(useragent) is str:
            span.store_tag("http.useragent", useragent)
        else:
            span.set_tag("http.useragent", useragent)
    var.set(span)
    return span


def http_client_start(st, var, name, component, method, url, service, resource=None, useragent=None):
    """The client span of one outgoing request, a child of what is active in ``var`` and the active one
    from now on: resource ``resource`` (else ``"METHOD /path"``), type ``http``, ddtrace's HTTP client tags
    (``out.host``, ``http.useragent`` when given)."""
    item = var.get()
    if type(item) is Span and item.duration_ns is not None:
        item = _open_ancestor(item)
    host, path, bare = split_url(url)
    if resource is None:
        resource = "%s %s" % (method, path or "/")
    span = tracer_start(st, name, item, service, resource, "http")
    span._http_client = True
    _http_tags(span, component, "client", method, bare)
    if host is not None:
        span.store_tag("out.host", host)
    if useragent:
        if type(useragent) is str:
            span.store_tag("http.useragent", useragent)
        else:
            span.set_tag("http.useragent", useragent)
    var.set(span)
    return span


def _status_line_code(status):
    """The code of a status line that starts with three digits (100-599) then a space or its end; -1 for
    any other, which ``http_status`` reads the long way (to the same result for these)."""
    if len(status) < 3 or not ("1" <= status[0] <= "5" and "0" <= status[1] <= "9" and "0" <= status[2] <= "9"):
        return -1
    if len(status) > 3 and status[3] != " ":
        return -1
    return int(status[:3])


def http_status(span, status, error_statuses):
    """Tag ``http.status_code`` with a response's status (an int, or WSGI's ``"200 OK"``) as text and mark
    the span an error when the code is one of ``error_statuses`` (ints); returns whether it did."""
    line_code = _status_line_code(status) if type(status) is str else -1
    if type(status) is int and 100 <= status < 600:
        code = _STATUS_TEXT[status - 100]
    elif line_code >= 0:  # WSGI's "200 OK"
        status = line_code
        code = _STATUS_TEXT[line_code - 100]
    else:
        code = status if type(status) is str else str(status)
        space = code.find(" ")
        if space >= 0:
            code = code[:space]
        status = int(code) if code.isascii() and code.isdigit() and len(code) < 6 else None
    span.store_tag(STATUS_CODE_KEY, code)
    if status is not None and status in error_statuses:
        span.error = 1
        return True
    return False


# -- one tracer's HTTP request path -------------------------------------------------------------------

ROUTE_TAG = "http.route"
#: where a framework hook leaves, in the WSGI environ or the ASGI scope, the route template of a request
#: (None: the router matched nothing), the resource when the framework names it otherwise than "METHOD
#: route", and the status of a request that raised (the framework answers 500): the one route channel
ROUTE_KEY = "ddfast.route"
RESOURCE_KEY = "ddfast.resource"
STATUS_KEY = "ddfast.status"
#: set in the environ / scope by the middleware that traces a request: an inner ddfast middleware (an
#: application wrapped by hand and patched by ddfast-run) passes the request through
TRACED_KEY = "ddfast.traced"
_NO_ROUTE = object()


class HttpNames:
    """How one integration names its HTTP spans, chosen once when it is set up: ``name``, ``component``,
    ``service`` (None: the tracer's, and for a server span then ``default_service``), ``useragent``
    (whether a server span is tagged ``http.useragent``), ``resource`` (a client span's; None: ``"METHOD
    /path"``), ``distributed`` (whether its spans continue and propagate traces)."""

    __slots__ = ("name", "component", "service", "default_service", "resource", "useragent", "distributed")

    def __init__(self, name, component, service=None, default_service=None, useragent=True, resource=None,
                 distributed=True):  # fmt: skip
        if type(component) is not str:
            raise TypeError("component must be a str, not %s" % type(component).__name__)
        self.name = name
        self.component = component
        self.service = service or None
        self.default_service = default_service
        self.resource = resource
        self.useragent = bool(useragent)
        self.distributed = bool(distributed)


class HttpTracer:
    """One tracer's HTTP request path (``tracer.http``): the per-request work of every HTTP integration,
    one call each, bound to the tracer's state, its active-span variable and its propagation. The HTTP
    settings are pushed in when they change (``ddfast.contrib._http``), never read per request; the
    optional parts (header tags, client IP, query strings) are Python callables, None when off."""

    __slots__ = ("state", "var", "extract", "inject", "inject_pairs", "in_client_call", "server_errors",
                 "client_errors", "on_server_request", "on_client_request", "on_response", "server_query",
                 "client_query", "__weakref__")  # fmt: skip

    def __init__(self, state, var, extract, inject, inject_pairs, in_client_call):
        if type(state) is not TracerState:
            raise TypeError("HttpTracer needs a TracerState, not %s" % type(state).__name__)
        self.state = state
        self.var = var
        #: the propagation core's ``http_extract`` / ``http_inject`` / ``http_inject_pairs``
        self.extract = extract
        self.inject = inject
        self.inject_pairs = inject_pairs
        #: the ContextVar set while a client integration sends (a library below it does not trace again)
        self.in_client_call = in_client_call
        self.server_errors = self.client_errors = frozenset()
        self.on_server_request = self.on_client_request = self.on_response = None
        self.server_query = self.client_query = None

    @property
    def enabled(self):
        """Whether the tracer traces now."""
        return self.state.enabled

    def start_span(self, name, child_of, service, resource, span_type, activate=True):
        """A span of the tracer, child of ``child_of`` (a Span, a Context, None for a new trace), the
        active one unless not ``activate``."""
        span = tracer_start(self.state, name, child_of, service, resource, span_type)
        if activate:
            self.var.set(span)
        return span

    def server_start(self, names, carrier, method, url, path, useragent=None, peer_ip=None, query=None):
        """The server span of one request, the active one from now on: a child of the context the
        request's headers (``carrier``: a WSGI environ, an ASGI header list, a mapping) carry when the
        integration is distributed, named as ``names``, with ddtrace's HTTP server tags (``query``: the
        query string, tagged only when asked)."""
        parent = None
        if names.distributed and carrier is not None:
            parent = self.extract(carrier)
        st = self.state
        service = names.service or st.service or names.default_service
        span = http_server_start(st, self.var, parent, names.name, service, names.component, method, url, path,
                                 useragent if names.useragent else None)  # fmt: skip
        if self.server_query is not None:
            self.server_query(span, url, query, carrier)
        if self.on_server_request is not None:
            self.on_server_request(span, carrier, peer_ip)
        return span

    def wsgi_start(self, names, environ):
        """``server_start`` for a WSGI ``environ``, read here; None when the tracer is off or an outer
        ddfast middleware traces the request already."""
        if not self.state.enabled or TRACED_KEY in environ:
            return None
        environ[TRACED_KEY] = True
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        host = environ.get("HTTP_HOST")
        scheme = environ.get("wsgi.url_scheme", "http")
        if not host:
            host = environ.get("SERVER_NAME", "")
            port = environ.get("SERVER_PORT", "")
            if port and port != ("443" if scheme == "https" else "80"):
                host += ":" + port
        url = "%s://%s%s" % (scheme, host, path)
        useragent = environ.get("HTTP_USER_AGENT") if names.useragent else None
        peer = environ.get("REMOTE_ADDR") if self.on_server_request is not None else None
        query = environ.get("QUERY_STRING", "") if self.server_query is not None else None
        return self.server_start(names, environ, method, url, path, useragent, peer, query)

    def asgi_start(self, names, scope):
        """``server_start`` for an ASGI HTTP ``scope``, read here; None when the tracer is off or an outer
        ddfast middleware traces the request already."""
        if not self.state.enabled or TRACED_KEY in scope:
            return None
        scope[TRACED_KEY] = True
        headers = scope.get("headers", ())
        host = useragent = None
        for item in headers:  # one pass for the two headers the span needs
            name = item[0]
            if name == b"host":
                host = item[1].decode("latin-1") if type(item[1]) is bytes else item[1]
                if useragent is not None:
                    break
            elif name == b"user-agent":
                useragent = item[1].decode("latin-1") if type(item[1]) is bytes else item[1]
                if host is not None:
                    break
        if host is None:
            server = scope.get("server")
            host = "%s:%s" % tuple(server) if server else ""
        path = scope.get("root_path", "") + scope.get("path", "")
        url = "%s://%s%s" % (scope.get("scheme", "http"), host, path)
        query = peer = None
        if self.server_query is not None:
            query = scope.get("query_string", b"")
            if type(query) is bytes:
                query = query.decode("latin-1")
        if self.on_server_request is not None:
            client = scope.get("client")
            peer = client[0] if client else None
        return self.server_start(names, headers, scope.get("method", "GET"), url, path, useragent, peer, query)

    def in_client_exchange(self):
        """Whether a client integration traces the exchange under way: the active span is an open HTTP
        client span (requests -> urllib3, a redirect's second urlopen), or ``in_client_call`` is set (a
        carrier's call over HTTP: botocore). A client integration below it does not trace it again."""
        active = self.var.get()
        if type(active) is Span and active._http_client and active.duration_ns is None:
            return True
        return bool(self.in_client_call.get(False))

    def client_start(self, names, method, url, headers=None, useragent=None, request_headers=None):
        """The client span of one outgoing request, a child of the active span and the active one from
        now on, its context injected into ``headers`` (a mapping; the caller's own store when it keeps one)
        when the integration is distributed; ``request_headers`` (default ``headers``) are read for header
        tags. None when the tracer is off or a client integration already traces this exchange: the active
        span is an open client span of one (requests -> urllib3), or ``in_client_call`` is set (botocore)."""
        if not self.state.enabled or self.in_client_exchange():
            return None
        if type(url) is not str:
            url = url.decode("latin-1") if type(url) is bytes else str(url)
        span = http_client_start(self.state, self.var, names.name, names.component, method, url,
                                 names.service, names.resource, useragent)  # fmt: skip
        if self.client_query is not None:
            self.client_query(span, url, None, None)
        if self.on_client_request is not None:
            self.on_client_request(span, headers if request_headers is None else request_headers)
        if names.distributed and headers is not None:
            self.inject(span, headers)
        return span

    def requests_send(self, names, send, headers_type):
        """``requests.Session.send`` traced (a ``RequestsSend``), to put in the class's dict in its place."""
        return RequestsSend(self, names, send, headers_type)

    def status(self, span, status, headers=None, client=False):
        """The response of ``span``'s exchange: ``http.status_code`` (an error status, per the server or
        client statuses, marks the span an error) and the response header tags (``headers``: pairs or a
        mapping)."""
        http_status(span, status, self.client_errors if client else self.server_errors)
        if headers is not None and self.on_response is not None:
            self.on_response(span, headers)
        return 0

    def route(self, span, method, route, resource=None):
        """A routed request's server span: resource ``resource`` or ``"METHOD <route template>"`` and
        ``http.route``; a request the router matched to nothing (``route`` None) gets ``"METHOD <status>"``
        (``"METHOD 404"``), so that unknown URLs make no new resources either."""
        if resource is not None:
            span.resource = resource
        elif route is None:
            span.resource = "%s %s" % (method, span._meta.get(STATUS_CODE_KEY) or "404")
        else:
            span.resource = "%s %s" % (method, route)
        if route is not None:
            span.set_tag(ROUTE_TAG, route)
        return 0

    def annotate(self, span, carrier):
        """The one route channel: name ``span`` after the route a framework hook left in ``carrier`` (the
        WSGI environ or the ASGI scope: ``ROUTE_KEY``, ``RESOURCE_KEY``, ``STATUS_KEY``) or Starlette's
        router did (the scope's ``route``); nothing when neither did."""
        if type(carrier) is not dict:
            return 0
        method = span._meta.get("http.method")
        route = carrier.get(ROUTE_KEY, _NO_ROUTE)
        if route is not _NO_ROUTE:
            status = carrier.get(STATUS_KEY)
            if status is not None and STATUS_CODE_KEY not in span._meta:
                http_status(span, status, self.server_errors)
            return self.route(span, method, route, carrier.get(RESOURCE_KEY))
        if "router" in carrier:  # Starlette's router (FastAPI's too) leaves the matched route in the scope
            route = getattr(carrier.get("route"), "path", None)
            if route is not None:  # else ddtrace's resource stays: "METHOD /path"
                return self.route(span, method, route, None)
        return 0

    def finish(self, span, exc=None, status=None, headers=None, client=False):
        """End ``span``: ``exc`` (the exception that ended the exchange) recorded, the response's
        ``status`` and ``headers`` tagged when given (see ``status``)."""
        if status is not None:
            self.status(span, status, headers, client)
        if exc is not None:
            span.set_exc_info(type(exc), exc, exc.__traceback__)
        span.finish()
        return 0


class RequestsSend:
    """``requests.Session.send`` traced: ``send(session, request, **kwargs)`` (the original) called inside
    a client span (``HttpTracer.client_start``), the context injected into the request's headers (a
    ``headers_type``, requests' ``CaseInsensitiveDict``: put in its store as its ``__setitem__`` would, read
    for the user agent there; any other mapping through its own methods), the span ended with the
    response's status and headers or the exception.

    A method descriptor, as the function it replaces is: ``session.send`` is a ``RequestsSendCall`` bound
    to the session."""

    # and a __dict__, as a function has: its name, docstring, and what ``ddfast.contrib._patch`` keeps on it
    __slots__ = ("http", "names", "send", "headers_type", "__dict__")

    def __init__(self, http, names, send, headers_type):
        if not isinstance(http, HttpTracer):
            raise TypeError("http must be an HttpTracer, not %s" % type(http).__name__)
        if not isinstance(names, HttpNames):
            raise TypeError("names must be an HttpNames, not %s" % type(names).__name__)
        if not callable(send):
            raise TypeError("send is requests' Session.send (a callable), not %s" % type(send).__name__)
        if not isinstance(headers_type, type):
            raise TypeError("headers_type is a type (requests' CaseInsensitiveDict), not %r" % (headers_type,))
        self.http, self.names, self.send, self.headers_type = http, names, send, headers_type

    def __get__(self, instance, owner):
        if instance is None:
            return self
        bound = RequestsSendCall.__new__(RequestsSendCall)
        bound.traced, bound.session = self, instance
        return bound

    def __call__(self, session, request, **kwargs):
        return self.call(session, request, kwargs)

    def call(self, session, request, kwargs):
        http, names = self.http, self.names
        headers = request.headers
        if type(headers) is self.headers_type:
            store = headers._store  # lower-case name -> (name, value)
            entry = store.get("user-agent")
            injected = {} if names.distributed else None
            span = http.client_start(names, request.method, request.url, injected,
                                     entry[1] if entry is not None else None, headers)  # fmt: skip
            if span is None:  # off, or traced already
                return self.send(session, request, **kwargs)
            if injected:
                for header, value in injected.items():
                    store[header.lower()] = (header, value)
        else:
            span = http.client_start(names, request.method, request.url, headers, headers.get("User-Agent"))
            if span is None:
                return self.send(session, request, **kwargs)
        try:
            response = self.send(session, request, **kwargs)
        except BaseException as e:
            http.finish(span, e)
            raise
        http.finish(span, None, response.status_code, response.headers, True)
        return response


class RequestsSendCall:
    """``session.send``: a ``RequestsSend`` bound to a session."""

    __slots__ = ("traced", "session")

    def __init__(self, traced, session):
        if not isinstance(traced, RequestsSend):
            raise TypeError("traced must be a RequestsSend, not %s" % type(traced).__name__)
        self.traced, self.session = traced, session

    def __call__(self, request, **kwargs):
        return self.traced.call(self.session, request, kwargs)
