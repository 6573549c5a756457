"""``patch()``: every ``httpx`` request, sync (``Client``) and async (``AsyncClient``), gets an
``http.request`` client span (component ``httpx``, resource ``http.request``, as ddtrace's), child of
the active span, whose context is injected into the request headers. ``unpatch()`` undoes it;
``DD_HTTPX_DISTRIBUTED_TRACING=false`` traces without injecting.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration


def patch(tracer=None, distributed_tracing=None):
    """Trace ``httpx.Client.send`` and ``httpx.AsyncClient.send``."""
    import httpx

    integ = Integration("httpx", tracer, distributed_tracing=distributed_tracing)
    # bound once: what runs per request
    http, names = integ.http, integ.http_names
    client_start, finish = http.client_start, http.finish
    distributed = names.distributed
    # httpx.Headers keeps its (name, lower-case name, value) list as ``_list``: read and written directly
    listed_type = httpx.Headers if isinstance(getattr(httpx.Headers(), "_list", None), list) else None
    core = _http.core_of(http)
    url_text = _url_text(httpx, core)
    listed_header = core.listed_header
    cookies_hidden = False

    def start(request):
        nonlocal cookies_hidden
        headers = request.headers
        if type(headers) is listed_type:
            injected = {} if distributed else None
            span = client_start(
                names, request.method, url_text(request.url), injected, listed_header(headers._list, _UA), headers
            )
            if injected:
                if not cookies_hidden:  # the first headers injected: httpx's cookie handling skips them from now on
                    cookies_hidden = True
                    _patch.wrap(httpx.Cookies, "extract_cookies", _hiding_injected)
                _append(headers, injected, request)
            return span
        return client_start(names, request.method, url_text(request.url), headers, headers.get("user-agent"))

    def make_sync(send):
        def traced_send(self, request, *args, **kwargs):
            span = start(request)
            if span is None:
                return send(self, request, *args, **kwargs)
            try:
                response = send(self, request, *args, **kwargs)
            except BaseException as e:
                finish(span, e)
                raise
            finish(span, None, response.status_code, response.headers, True)
            return response

        return traced_send

    def make_async(send):
        async def traced_send(self, request, *args, **kwargs):
            span = start(request)
            if span is None:
                return await send(self, request, *args, **kwargs)
            try:
                response = await send(self, request, *args, **kwargs)
            except BaseException as e:
                finish(span, e)
                raise
            finish(span, None, response.status_code, response.headers, True)
            return response

        return traced_send

    patched = _patch.wrap(httpx.Client, "send", make_sync)
    return _patch.wrap(httpx.AsyncClient, "send", make_async) or patched


def _url_text(httpx, core):
    """``str(url)`` for an ``httpx.URL``: made in one call of the span core ``core`` from the URL's parsed
    parts (scheme, user info, host, port, path, query, fragment) as httpx makes it, without its three
    Python calls; plain ``str(url)`` for a URL of another make (an httpx that keeps its parts otherwise)."""
    try:
        from httpx._urlparse import ParseResult
    except ImportError:
        ParseResult = None
    if getattr(ParseResult, "_fields", None) != ("scheme", "userinfo", "host", "port", "path", "query", "fragment"):
        return str
    return core.UrlText("_uri_reference", ParseResult).of


#: the header a client span's ``http.useragent`` is read from, as httpx's header list names it
_UA = b"user-agent"


#: on a request, ``(index, entries)`` of the headers ddfast appended to its list
_INJECTED = "_ddfast_injected"


def _append(headers, injected, request=None):
    """Put the ``injected`` headers into ``httpx.Headers`` through its list of ``(name, lower-case name,
    value)`` bytes, as its ``__setitem__`` stores them, without a Python call and a scan of the list per
    header; a header the request already has is replaced the usual way. What was appended is noted on
    ``request``."""
    items = headers._list
    present = {item[1] for item in items} if items else ()
    start = len(items)
    for name, value in injected.items():
        raw = name.encode("latin-1")
        lower = raw.lower()
        if lower in present:
            headers[name] = value
        else:
            items.append((raw, lower, value.encode("latin-1")))
    if request is not None and len(items) > start:
        setattr(request, _INJECTED, (start, items[start:]))


def _hiding_injected(extract_cookies):
    """``Cookies.extract_cookies`` that does not see the headers ddfast appended to the request: httpx
    copies every request header into a ``urllib`` request for its cookie jar on each response (a scan of
    the list per header), and propagation headers never matter to cookies."""

    def traced_extract_cookies(self, response):
        request = getattr(response, "_request", None)
        injected = getattr(request, _INJECTED, None) if request is not None else None
        if injected is None:
            return extract_cookies(self, response)
        start, added = injected
        items = request.headers._list
        end = start + len(added)
        if len(items) < end or items[start] is not added[0] or items[end - 1] is not added[-1]:
            return extract_cookies(self, response)  # the list changed since: leave it as it is
        del items[start:end]
        try:
            return extract_cookies(self, response)
        finally:
            items[start:start] = added

    return traced_extract_cookies


def unpatch():
    import httpx

    _patch.unwrap(httpx.Client, "send")
    _patch.unwrap(httpx.AsyncClient, "send")
    _patch.unwrap(httpx.Cookies, "extract_cookies")
