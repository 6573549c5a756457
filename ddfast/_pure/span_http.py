"""Spans: the HTTP integrations' per-request span work, in one call each: what ``ddfast.contrib``'s
middleware and client patches do around every request.

Part of the pure twin ``ddfast._pure.span``; twin of ``src/span_http.pxi``.
"""

from ddfast._pure.context import Context
from ddfast._pure.span_object import _STATUS_TEXT
from ddfast._pure.span_object import STATUS_CODE_KEY
from ddfast._pure.span_object import Span
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
    slash = bare.find("/", start)
    netloc = bare[start:slash] if slash >= 0 else bare[start:]
    path = bare[slash:] if slash >= 0 else ""
    at = netloc.rfind("@")
    if at >= 0:
        netloc = netloc[at + 1 :]
    bracket = netloc.find("[")
    if bracket >= 0:  # an IP literal: what is inside the brackets
        end = netloc.find("]", bracket)
        host = netloc[bracket + 1 : end] if end >= 0 else netloc[bracket + 1 :]
    else:
        end = netloc.find(":")
        host = netloc[:end] if end >= 0 else netloc
    end = host.find("%")  # an IPv6 zone keeps its case
    host = host.lower() if end < 0 else host[:end].lower() + host[end:]
    return (host or None), path, bare


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


def http_status(span, status, error_statuses):
    """Tag ``http.status_code`` with a response's status (an int, or WSGI's ``"200 OK"``) as text and mark
    the span an error when the code is one of ``error_statuses`` (ints); returns whether it did."""
    if type(status) is int and 100 <= status < 600:
        code = _STATUS_TEXT[status - 100]
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
