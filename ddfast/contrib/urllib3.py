"""``patch()``: every ``urllib3`` request (``PoolManager``, ``HTTPConnectionPool.urlopen``) gets a
``urllib3.request`` client span (service ``urllib3``, resource ``urllib3.request``, as ddtrace's), child
of the active span, whose context is injected into a copy of the request headers (the caller's mapping
is not changed). A request made through a library that is itself traced (requests) is traced once, by
that library. ``DD_URLLIB3_DISTRIBUTED_TRACING=false`` traces without injecting.
"""

from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration


def patch(tracer=None, distributed_tracing=None):
    """Trace ``urllib3.connectionpool.HTTPConnectionPool.urlopen``."""
    from urllib3 import connectionpool

    integ = Integration("urllib3", tracer, distributed_tracing=distributed_tracing)
    http, names = integ.http, integ.http_names
    in_exchange = http.in_client_exchange

    def make(urlopen):
        def traced_urlopen(self, method, url, *args, **kwargs):
            if not http.enabled or in_exchange():  # off, or requests (say) traces this exchange
                return urlopen(self, method, url, *args, **kwargs)
            full = url if "://" in url else "%s://%s:%s%s" % (self.scheme, self.host, self.port, url)
            sent = (args[1] if len(args) >= 2 else kwargs.get("headers")) or self.headers
            useragent = sent.get("User-Agent") or sent.get("user-agent") if sent else None
            headers = None
            if names.distributed:
                if len(args) >= 2:  # urlopen(method, url, body, headers, ...)
                    args = list(args)
                    args[1] = headers = dict(args[1] or self.headers)
                else:
                    kwargs["headers"] = headers = dict(kwargs.get("headers") or self.headers)
            tagged = list((sent or {}).items()) if http.on_client_request is not None else None
            span = http.client_start(names, method, full, headers, useragent, tagged)
            if span is None:
                return urlopen(self, method, url, *args, **kwargs)
            try:  # its span the active one: a redirect's or retry's urlopen is not traced again
                response = urlopen(self, method, url, *args, **kwargs)
            except BaseException as e:
                http.finish(span, e)
                raise
            http.finish(span, None, response.status, response.headers, True)
            return response

        return traced_urlopen

    return _patch.wrap(connectionpool.HTTPConnectionPool, "urlopen", make)


def unpatch():
    from urllib3 import connectionpool

    _patch.unwrap(connectionpool.HTTPConnectionPool, "urlopen")
