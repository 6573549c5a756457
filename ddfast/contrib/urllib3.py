"""``patch()``: every ``urllib3`` request (``PoolManager``, ``HTTPConnectionPool.urlopen``) gets a
``urllib3.request`` client span, child of the active span, whose context is injected into a copy of
the request headers (the caller's mapping is not changed). A request made through a library that is
itself traced (requests) is traced once, by that library. ``DD_URLLIB3_DISTRIBUTED_TRACING=false``
traces without injecting.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch


def patch(tracer=None, distributed_tracing=None):
    """Trace ``urllib3.connectionpool.HTTPConnectionPool.urlopen``."""
    from urllib3 import connectionpool

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("urllib3", distributed_tracing)

    def make(urlopen):
        def traced_urlopen(self, method, url, *args, **kwargs):
            if not tracer.enabled or _http._in_client_call.get():
                return urlopen(self, method, url, *args, **kwargs)
            full = url if "://" in url else "%s://%s:%s%s" % (self.scheme, self.host, self.port, url)
            span = _http.start_client_span(tracer, "urllib3.request", "urllib3", method, full)
            if _http.header_tags:
                sent = args[1] if len(args) >= 2 else kwargs.get("headers")
                _http.tag_headers(span, _http.pairs_getter((sent or self.headers or {}).items()))
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
