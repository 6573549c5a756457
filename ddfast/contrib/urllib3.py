"""``patch()``: every ``urllib3`` request (``PoolManager``, ``HTTPConnectionPool.urlopen``) gets a
``urllib3.request`` client span (service ``urllib3``, resource ``urllib3.request``, as ddtrace's), child
of the active span, whose context is injected into a copy of the request headers (the caller's mapping
is not changed). A request made through a library that is itself traced (requests) is traced once, by
that library. ``DD_URLLIB3_DISTRIBUTED_TRACING=false`` traces without injecting.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch


def patch(tracer=None, distributed_tracing=None):
    """Trace ``urllib3.connectionpool.HTTPConnectionPool.urlopen``."""
    from urllib3 import connectionpool

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("urllib3", distributed_tracing)
    names = _http.ClientNames("urllib3")

    def make(urlopen):
        def traced_urlopen(self, method, url, *args, **kwargs):
            if not tracer.enabled or _http._in_client_call.get():
                return urlopen(self, method, url, *args, **kwargs)
            full = url if "://" in url else "%s://%s:%s%s" % (self.scheme, self.host, self.port, url)
            sent = (args[1] if len(args) >= 2 else kwargs.get("headers")) or self.headers
            useragent = sent.get("User-Agent") or sent.get("user-agent") if sent else None
            span = _http.start_client_span(tracer, names, method, full, useragent)
            if _http.header_tags:
                _http.tag_headers(span, _http.pairs_getter((sent or {}).items()))
            if distributed:
                if len(args) >= 2:  # urlopen(method, url, body, headers, ...)
                    args = list(args)
                    args[1] = headers = dict(args[1] or self.headers)
                else:
                    kwargs["headers"] = headers = dict(kwargs.get("headers") or self.headers)
                _http.inject(tracer, span, headers)
            return _http.traced_send(span, _status, urlopen, self, method, url, *args, **kwargs)

        return traced_urlopen

    return _patch.wrap(connectionpool.HTTPConnectionPool, "urlopen", make)


def _status(response):
    return response.status


def unpatch():
    from urllib3 import connectionpool

    _patch.unwrap(connectionpool.HTTPConnectionPool, "urlopen")
