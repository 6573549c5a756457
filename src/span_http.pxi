# The HTTP integrations' per-request span work, in one call each: what ddfast.contrib's middleware and
# client patches do around every request. Twin of ddfast/_pure/span_http.py.

cdef str KIND_KEY = "span.kind"
cdef str COMPONENT_KEY = "component"
cdef str METHOD_KEY = "http.method"
cdef str URL_KEY = "http.url"
cdef str USERAGENT_KEY = "http.useragent"
cdef str HOST_KEY = "out.host"
cdef str SERVER = "server"
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
    cdef Py_ssize_t slash = bare.find("/", start)
    cdef str netloc = bare[start:slash] if slash >= 0 else bare[start:]
    cdef str path = bare[slash:] if slash >= 0 else ""
    cdef Py_ssize_t at = netloc.rfind("@")
    if at >= 0:
        netloc = netloc[at + 1:]
    cdef Py_ssize_t end, bracket = netloc.find("[")
    if bracket >= 0:  # an IP literal: what is inside the brackets
        end = netloc.find("]", bracket)
        host = netloc[bracket + 1:end] if end >= 0 else netloc[bracket + 1:]
    else:
        end = netloc.find(":")
        host = netloc[:end] if end >= 0 else netloc
    end = host.find("%")  # an IPv6 zone keeps its case
    host = host.lower() if end < 0 else host[:end].lower() + host[end:]
    return (host or None), path, bare


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


cpdef bint http_status(Span span, object status, object error_statuses) except -1:
    """Tag ``http.status_code`` with a response's status (an int, or WSGI's ``"200 OK"``) as text and mark
    the span an error when the code is one of ``error_statuses`` (ints); returns whether it did."""
    cdef str code
    cdef Py_ssize_t space
    if type(status) is int and 100 <= status < 600:
        code = <str>_STATUS_TEXT[<long>status - 100]
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
