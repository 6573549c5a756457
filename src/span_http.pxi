# The HTTP integrations' per-request span work, in one call each: what ddfast.contrib's middleware and
# client patches do around every request. Twin of ddfast/_pure/span_http.py.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

cdef str KIND_KEY = "span.kind"
cdef str COMPONENT_KEY = "component"
cdef str METHOD_KEY = "http.method"
cdef str URL_KEY = "http.url"
cdef str USERAGENT_KEY = "http.useragent"
cdef str HOST_KEY = "out.host"
cdef str SERVER = "server"
cdef str _USER_AGENT = "user-agent"
cdef str CLIENT = "client"


cpdef str url_without_query(str url):
    """``url`` without its query string and fragment (ddtrace does not tag them by default)."""
    cdef Py_ssize_t cut = len(url)
    cdef Py_ssize_t i = url.find("?")
    if 0 <= i < cut:
        cut = i
    i = url.find("#")
    if 0 <= i < cut:
        cut = i
    return url if cut == len(url) else url[:cut]


cpdef tuple split_url(str url):
    """``(host, path, url without query)`` of an absolute URL as ``urllib.parse.urlsplit`` reads them: the
    host lower-case and without an IPv6 literal's brackets (None when empty), the path (may be "")."""
    cdef str bare = url_without_query(url)
    cdef Py_ssize_t start = bare.find("://")
    if start < 0:
        return None, bare, bare
    start += 3
    # one pass over the authority (to the first "/"): where the host starts (after the last "@")
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(bare)
    cdef int kind = PyUnicode_KIND(bare)
    cdef void *data = PyUnicode_DATA(bare)
    cdef Py_ssize_t i, slash = n, first = start
    cdef unsigned int c
    for i in range(start, n):
        c = read_char(kind, data, i)
        if c == 47:  # "/"
            slash = i
            break
        if c == 64:  # "@"
            first = i + 1
    cdef str path = bare[slash:] if slash < n else ""
    # the host: inside an IP literal's brackets, else up to the port's ":"; a "[" after the host's start
    # opens a literal, as the pure twin's find("[") reads it
    cdef Py_ssize_t end = slash, bracket = -1
    for i in range(first, slash):
        c = read_char(kind, data, i)
        if c == 91:  # "["
            bracket = i
            break
    if bracket >= 0:
        first = bracket + 1
        for i in range(first, slash):
            if read_char(kind, data, i) == 93:  # "]"
                end = i
                break
    else:
        for i in range(first, slash):
            if read_char(kind, data, i) == 58:  # ":"
                end = i
                break
    if end <= first:
        return None, path, bare
    # lower-case up to an IPv6 zone ("%"), which keeps its case; ASCII without capitals is lower already
    cdef Py_ssize_t zone = end
    cdef bint lower = False
    for i in range(first, end):
        c = read_char(kind, data, i)
        if c == 37:  # "%"
            zone = i
            break
        if c >= 128 or 65 <= c <= 90:
            lower = True
    cdef str host = bare[first:end]
    if zone < end:
        host = bare[first:zone].lower() + bare[zone:end]
    elif lower:
        host = host.lower()
    return host, path, bare


cdef inline int _http_tags(Span span, str component, str kind, object method, str url) except -1:
    span.store_tag(COMPONENT_KEY, component)
    span.store_tag(KIND_KEY, kind)
    if type(method) is str:
        span.store_tag(METHOD_KEY, <str>method)
    else:
        span.set_tag(METHOD_KEY, method)
    span.store_tag(URL_KEY, url)
    return 0


cpdef Span http_server_start(TracerState st, object var, object parent, object name, object service, str component,
                             object method, str url, object path, object useragent):
    """The server span of one request, made the active one in ``var``: a child of ``parent`` (the
    Context extracted from the request's headers, or None), service ``service`` (else the tracer's,
    else ``component``), resource ``"METHOD /path"``, type ``web``, with ddtrace's HTTP server tags."""
    if parent is not None and (type(parent) is not Context or (<Context>parent).trace_id is None):
        parent = None
    if not service:
        service = st.service or component
    cdef Span span = tracer_start(st, name, parent, service, "%s %s" % (method, path or "/"), "web")
    _http_tags(span, component, SERVER, method, url_without_query(url))
    if useragent:
        if type(useragent) is str:
            span.store_tag(USERAGENT_KEY, <str>useragent)
        else:
            span.set_tag(USERAGENT_KEY, useragent)
    PyContextVar_Set(var, span)
    return span


cpdef Span http_client_start(TracerState st, object var, object name, str component, object method, str url,
                             object service, object resource=None, object useragent=None):
    """The client span of one outgoing request, a child of what is active in ``var`` and the active one
    from now on: resource ``resource`` (else ``"METHOD /path"``), type ``http``, ddtrace's HTTP client tags
    (``out.host``, ``http.useragent`` when given)."""
    item = get_value(var)
    if type(item) is Span and (<Span>item)._finished:
        item = _open_ancestor(<Span>item)
    host, path, bare = split_url(url)
    if resource is None:
        resource = "%s %s" % (method, path or "/")
    cdef Span span = tracer_start(st, name, item, service, resource, "http")
    span._http_client = True
    _http_tags(span, component, CLIENT, method, bare)
    if host is not None:
        span.store_tag(HOST_KEY, host)
    if useragent:
        if type(useragent) is str:
            span.store_tag(USERAGENT_KEY, <str>useragent)
        else:
            span.set_tag(USERAGENT_KEY, useragent)
    PyContextVar_Set(var, span)
    return span


cdef inline int _asgi_header(object name) noexcept:
    """Which header an ASGI header name (lower-case bytes) is: 1 ``host``, 2 ``user-agent``, 0 another;
    -1 for a name that is not bytes, compared the long way."""
    if type(name) is not bytes:
        return -1
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
    cdef const char *s = PyBytes_AS_STRING(name)
    if n == 4 and memcmp(s, b"host", 4) == 0:
        return 1
    if n == 10 and memcmp(s, b"user-agent", 10) == 0:
        return 2
    return 0


cdef inline long _status_line_code(str status) noexcept:
    """The code of a status line that starts with three digits (100-599) then a space or its end; -1 for
    any other, which ``http_status`` reads the long way (to the same result for these)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(status)
    if n < 3:
        return -1
    cdef int kind = PyUnicode_KIND(status)
    cdef void *data = PyUnicode_DATA(status)
    cdef unsigned int a = read_char(kind, data, 0), b = read_char(kind, data, 1), c = read_char(kind, data, 2)
    if not (49 <= a <= 53 and 48 <= b <= 57 and 48 <= c <= 57):  # "1".."5", then two of "0".."9"
        return -1
    if n > 3 and read_char(kind, data, 3) != 32:  # " "
        return -1
    return (a - 48) * 100 + (b - 48) * 10 + (c - 48)


cpdef bint http_status(Span span, object status, object error_statuses) except -1:
    """Tag ``http.status_code`` with a response's status (an int, or WSGI's ``"200 OK"``) as text and mark
    the span an error when the code is one of ``error_statuses`` (ints); returns whether it did."""
    cdef str code
    cdef Py_ssize_t space
    cdef long line_code = _status_line_code(<str>status) if type(status) is str else -1
    if type(status) is int and 100 <= status < 600:
        code = <str>_STATUS_TEXT[<long>status - 100]
    elif line_code >= 0:  # WSGI's "200 OK": no slice, no int()
        status = line_code
        code = <str>_STATUS_TEXT[line_code - 100]
    else:
        code = status if type(status) is str else str(status)
        space = code.find(" ")
        if space >= 0:
            code = code[:space]
        if code.isascii() and code.isdigit() and len(code) < 6:
            status = int(code)
        else:
            status = None
    span.store_tag(STATUS_CODE_KEY, code)
    if status is not None and status in error_statuses:
        span.error = 1
        return True
    return False


cdef inline int finish_now(Span span) except -1:
    """``span.finish()``, without a Python call for a plain Span."""
    if type(span) is not Span:
        span.finish()  # a subclass may have its own
    elif not span._finished:
        span._finish_at(now_ns())
    return 0


# -- one tracer's HTTP request path -------------------------------------------------------------------

cdef str ROUTE_TAG = "http.route"
#: where a framework hook leaves, in the WSGI environ or the ASGI scope, the route template of a request
#: (None: the router matched nothing), the resource when the framework names it otherwise than "METHOD
#: route", and the status of a request that raised (the framework answers 500): the one route channel
ROUTE_KEY = "ddfast.route"
RESOURCE_KEY = "ddfast.resource"
STATUS_KEY = "ddfast.status"
#: set in the environ / scope by the middleware that traces a request: an inner ddfast middleware (an
#: application wrapped by hand and patched by ddfast-run) passes the request through
TRACED_KEY = "ddfast.traced"
cdef str _ROUTE_KEY = ROUTE_KEY
cdef str _RESOURCE_KEY = RESOURCE_KEY
cdef str _STATUS_KEY = STATUS_KEY
cdef str _TRACED_KEY = TRACED_KEY
cdef object _NO_ROUTE = object()


cdef class HttpNames:
    """How one integration names its HTTP spans, chosen once when it is set up: ``name``, ``component``,
    ``service`` (None: the tracer's, and for a server span then ``default_service``), ``useragent``
    (whether a server span is tagged ``http.useragent``), ``resource`` (a client span's; None: ``"METHOD
    /path"``), ``distributed`` (whether its spans continue and propagate traces)."""

    cdef readonly object name
    cdef readonly str component
    cdef readonly object service
    cdef readonly object default_service
    cdef readonly object resource
    cdef readonly bint useragent
    cdef readonly bint distributed

    def __init__(self, name, str component, service=None, default_service=None, bint useragent=True,
                 resource=None, bint distributed=True):
        self.name = name
        self.component = component
        self.service = service or None
        self.default_service = default_service
        self.resource = resource
        self.useragent = useragent
        self.distributed = distributed


cdef object _prop_extract = None, _prop_inject = None, _prop_inject_pairs = None
cdef extract_fn _c_extract = NULL
cdef inject_fn _c_inject = NULL
cdef inject_pairs_fn _c_inject_pairs = NULL


cdef void register_propagation(object extract, extract_fn c_extract, object inject, inject_fn c_inject,
                               object inject_pairs, inject_pairs_fn c_inject_pairs) noexcept:
    """The compiled propagation module's entry points and their C functions: an ``HttpTracer`` given
    those very functions calls them in C (no Python call per request or message); any other (the pure
    twin's, a test's) is called as given."""
    global _prop_extract, _prop_inject, _prop_inject_pairs, _c_extract, _c_inject, _c_inject_pairs
    _prop_extract, _prop_inject, _prop_inject_pairs = extract, inject, inject_pairs
    _c_extract, _c_inject, _c_inject_pairs = c_extract, c_inject, c_inject_pairs


cdef class HttpTracer:
    """One tracer's HTTP request path (``tracer.http``): the per-request work of every HTTP integration,
    one call each, bound to the tracer's state, its active-span variable and its propagation. The HTTP
    settings are pushed in when they change (``ddfast.contrib._http``), never read per request; the
    optional parts (header tags, client IP, query strings) are Python callables, None when off."""

    cdef readonly TracerState state
    cdef readonly object var
    #: the propagation core's ``http_extract`` / ``http_inject`` / ``http_inject_pairs``
    cdef readonly object extract
    cdef readonly object inject
    cdef readonly object inject_pairs
    #: the ContextVar set while a client integration sends (a library below it does not trace again)
    cdef readonly object in_client_call
    cdef public object server_errors
    cdef public object client_errors
    #: (span, carrier, peer_ip): request header tags and client IP of a server span; None when off
    cdef public object on_server_request
    #: (span, headers): request header tags of a client span; None when off
    cdef public object on_client_request
    #: (span, headers): response header tags; None when off
    cdef public object on_response
    #: (span, url, query, carrier): ``http.url`` with the obfuscated query string; None when off
    cdef public object server_query
    cdef public object client_query
    # the C functions of extract / inject / inject_pairs when they are the compiled propagation's, else NULL
    cdef extract_fn _extract
    cdef inject_fn _inject
    cdef inject_pairs_fn _inject_pairs
    cdef object __weakref__

    def __init__(self, TracerState state, var, extract, inject, inject_pairs, in_client_call):
        self.state = state
        self.var = var
        self.extract = extract
        self.inject = inject
        self.inject_pairs = inject_pairs
        self._extract = _c_extract if extract is _prop_extract else NULL
        self._inject = _c_inject if inject is _prop_inject else NULL
        self._inject_pairs = _c_inject_pairs if inject_pairs is _prop_inject_pairs else NULL
        self.in_client_call = in_client_call
        self.server_errors = self.client_errors = frozenset()

    @property
    def enabled(self):
        """Whether the tracer traces now."""
        return self.state.enabled

    cdef inline object _extracted(self, object carrier):
        """``self.extract(carrier)``, in C when it is the compiled propagation's."""
        return self._extract(carrier) if self._extract != NULL else self.extract(carrier)

    cpdef Span start_span(self, object name, object child_of, object service, object resource, object span_type,
                          bint activate=True):
        """A span of the tracer, child of ``child_of`` (a Span, a Context, None for a new trace), the
        active one unless not ``activate``."""
        cdef Span span = tracer_start(self.state, name, child_of, service, resource, span_type)
        if activate:
            PyContextVar_Set(self.var, span)
        return span

    cpdef Span server_start(self, HttpNames names, object carrier, object method, str url, object path,
                            object useragent=None, object peer_ip=None, object query=None):
        """The server span of one request, the active one from now on: a child of the context the
        request's headers (``carrier``: a WSGI environ, an ASGI header list, a mapping) carry when the
        integration is distributed, named as ``names``, with ddtrace's HTTP server tags (``query``: the
        query string, tagged only when asked)."""
        parent = None
        if names.distributed and carrier is not None:
            parent = self._extracted(carrier)
        cdef TracerState st = self.state
        service = names.service or st.service or names.default_service
        span = http_server_start(st, self.var, parent, names.name, service, names.component, method, url, path,
                                 useragent if names.useragent else None)
        if self.server_query is not None:
            self.server_query(span, url, query, carrier)
        if self.on_server_request is not None:
            self.on_server_request(span, carrier, peer_ip)
        return span

    cpdef Span wsgi_start(self, HttpNames names, dict environ):
        """``server_start`` for a WSGI ``environ``, read here; None when the tracer is off or an outer
        ddfast middleware traces the request already."""
        if not self.state.enabled or _TRACED_KEY in environ:
            return None
        environ[_TRACED_KEY] = True
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

    cpdef Span asgi_start(self, HttpNames names, dict scope):
        """``server_start`` for an ASGI HTTP ``scope``, read here; None when the tracer is off or an outer
        ddfast middleware traces the request already."""
        if not self.state.enabled or _TRACED_KEY in scope:
            return None
        scope[_TRACED_KEY] = True
        headers = scope.get("headers", ())
        host = useragent = None
        cdef int which
        for item in headers:  # one pass for the two headers the span needs
            name = item[0]
            which = _asgi_header(name)
            if which == 1 or (which < 0 and name == b"host"):
                host = (<bytes>item[1]).decode("latin-1") if type(item[1]) is bytes else item[1]
                if useragent is not None:
                    break
            elif which == 2 or (which < 0 and name == b"user-agent"):
                useragent = (<bytes>item[1]).decode("latin-1") if type(item[1]) is bytes else item[1]
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
                query = (<bytes>query).decode("latin-1")
        if self.on_server_request is not None:
            client = scope.get("client")
            peer = client[0] if client else None
        return self.server_start(names, headers, scope.get("method", "GET"), url, path, useragent, peer, query)

    cpdef bint in_client_exchange(self) except -1:
        """Whether a client integration traces the exchange under way: the active span is an open HTTP
        client span (requests -> urllib3, a redirect's second urlopen), or ``in_client_call`` is set (a
        carrier's call over HTTP: botocore). A client integration below it does not trace it again."""
        active = get_value(self.var)
        if type(active) is Span and (<Span>active)._http_client and not (<Span>active)._finished:
            return True
        return get_value(self.in_client_call, False)

    cpdef Span client_start(self, HttpNames names, object method, object url, object headers=None,
                            object useragent=None, object request_headers=None):
        """The client span of one outgoing request, a child of the active span and the active one from
        now on, its context injected into ``headers`` (a mapping; the caller's own store when it keeps one)
        when the integration is distributed; ``request_headers`` (default ``headers``) are read for header
        tags. None when the tracer is off or a client integration already traces this exchange: the active
        span is an open client span of one (requests -> urllib3), or ``in_client_call`` is set (botocore)."""
        if not self.state.enabled or self.in_client_exchange():
            return None
        if type(url) is not str:
            url = (<bytes>url).decode("latin-1") if type(url) is bytes else str(url)
        span = http_client_start(self.state, self.var, names.name, names.component, method, <str>url,
                                 names.service, names.resource, useragent)
        if self.client_query is not None:
            self.client_query(span, url, None, None)
        if self.on_client_request is not None:
            self.on_client_request(span, headers if request_headers is None else request_headers)
        if names.distributed and headers is not None:
            if self._inject != NULL:
                self._inject(span, headers)
            else:
                self.inject(span, headers)
        return span

    def requests_send(self, HttpNames names not None, send, headers_type):
        """``requests.Session.send`` traced (a ``RequestsSend``), to put in the class's dict in its place."""
        return RequestsSend(self, names, send, headers_type)

    cpdef int status(self, Span span, object status, object headers=None, bint client=False) except -1:
        """The response of ``span``'s exchange: ``http.status_code`` (an error status, per the server or
        client statuses, marks the span an error) and the response header tags (``headers``: pairs or a
        mapping)."""
        http_status(span, status, self.client_errors if client else self.server_errors)
        if headers is not None and self.on_response is not None:
            self.on_response(span, headers)
        return 0

    cpdef int route(self, Span span, object method, object route, object resource=None) except -1:
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
            if type(route) is str and type(span) is Span:
                span.store_tag(ROUTE_TAG, <str>route)  # what set_tag does with text, without a Python call
            else:
                span.set_tag(ROUTE_TAG, route)
        return 0

    cpdef int annotate(self, Span span, object carrier) except -1:
        """The one route channel: name ``span`` after the route a framework hook left in ``carrier`` (the
        WSGI environ or the ASGI scope: ``ROUTE_KEY``, ``RESOURCE_KEY``, ``STATUS_KEY``) or Starlette's
        router did (the scope's ``route``); nothing when neither did."""
        cdef dict d = <dict>carrier if type(carrier) is dict else None
        if d is None:
            return 0
        method = span._meta.get(METHOD_KEY)
        route = d.get(_ROUTE_KEY, _NO_ROUTE)
        if route is not _NO_ROUTE:
            status = d.get(_STATUS_KEY)
            if status is not None and STATUS_CODE_KEY not in span._meta:
                http_status(span, status, self.server_errors)
            return self.route(span, method, route, d.get(_RESOURCE_KEY))
        if "router" in d:  # Starlette's router (FastAPI's too) leaves the matched route in the scope
            route = getattr(d.get("route"), "path", None)
            if route is not None:  # else ddtrace's resource stays: "METHOD /path"
                return self.route(span, method, route, None)
        return 0

    cpdef int finish(self, Span span, object exc=None, object status=None, object headers=None,
                     bint client=False) except -1:
        """End ``span``: ``exc`` (the exception that ended the exchange) recorded, the response's
        ``status`` and ``headers`` tagged when given (see ``status``)."""
        if status is not None:
            self.status(span, status, headers, client)
        if exc is not None:
            span.set_exc_info(type(exc), exc, exc.__traceback__)
        return finish_now(span)


@cython.final
cdef class RequestsSend:
    """``requests.Session.send`` traced: ``send(session, request, **kwargs)`` (the original) called inside
    a client span (``HttpTracer.client_start``), the context injected into the request's headers (a
    ``headers_type``, requests' ``CaseInsensitiveDict``: put in its store as its ``__setitem__`` would, read
    for the user agent there; any other mapping through its own methods), the span ended with the
    response's status and headers or the exception.

    A method descriptor, as the function it replaces is: ``session.send`` is a ``RequestsSendCall`` bound
    to the session. Called with requests' keyword arguments, the bound call gets them as one dict and
    passes that dict on, where a function taking ``**kwargs`` would unpack and pack them again."""

    cdef readonly HttpTracer http
    cdef readonly HttpNames names
    #: the original ``Session.send``
    cdef readonly object send
    cdef readonly object headers_type
    # what a function has: its name, docstring, and what ``ddfast.contrib._patch`` keeps on it
    cdef dict __dict__

    def __init__(self, HttpTracer http not None, HttpNames names not None, send, headers_type):
        if not callable(send):
            raise TypeError("send is requests' Session.send (a callable), not %s" % type(send).__name__)
        if not isinstance(headers_type, type):
            raise TypeError("headers_type is a type (requests' CaseInsensitiveDict), not %r" % (headers_type,))
        self.http = http
        self.names = names
        self.send = send
        self.headers_type = headers_type

    def __get__(self, instance, owner):
        if instance is None:
            return self
        cdef RequestsSendCall bound = RequestsSendCall.__new__(RequestsSendCall)
        bound.traced = self
        bound.session = instance
        return bound

    def __call__(self, session, request, **kwargs):
        return self.call(session, request, kwargs)

    cdef object call(self, object session, object request, dict kwargs):
        cdef Span span
        cdef HttpTracer http = self.http
        headers = request.headers
        if type(headers) is self.headers_type:
            store = headers._store  # lower-case name -> (name, value)
            entry = store.get(_USER_AGENT)
            injected = {} if self.names.distributed else None
            span = http.client_start(self.names, request.method, request.url, injected,
                                     entry[1] if entry is not None else None, headers)
            if span is None:  # off, or traced already
                return self.send(session, request, **kwargs)
            if injected:
                for header, value in (<dict>injected).items():
                    store[header.lower()] = (header, value)
        else:
            span = http.client_start(self.names, request.method, request.url, headers, headers.get("User-Agent"))
            if span is None:
                return self.send(session, request, **kwargs)
        try:
            response = self.send(session, request, **kwargs)
        except BaseException as e:
            http.finish(span, e)
            raise
        http.finish(span, None, response.status_code, response.headers, True)
        return response


@cython.final
@cython.freelist(4)
cdef class RequestsSendCall:
    """``session.send``: a ``RequestsSend`` bound to a session."""

    cdef readonly RequestsSend traced
    cdef readonly object session

    def __init__(self, RequestsSend traced not None, session):
        self.traced = traced
        self.session = session

    def __call__(self, request, **kwargs):
        return self.traced.call(self.session, request, kwargs)
