"""``patch()``: every ``urllib3`` request (``PoolManager``, ``HTTPConnectionPool.urlopen``) gets a
``urllib3.request`` client span (service ``urllib3``, resource ``urllib3.request``, as ddtrace's), child
of the active span, whose context is injected into a copy of the request headers (the caller's mapping
is not changed). A request made through a library that is itself traced (requests) is traced once, by
that library. ``DD_URLLIB3_DISTRIBUTED_TRACING=false`` traces without injecting.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration


def patch(tracer=None, distributed_tracing=None):
    """Trace ``urllib3.connectionpool.HTTPConnectionPool.urlopen``."""
    from urllib3 import connectionpool

    integ = Integration("urllib3", tracer, distributed_tracing=distributed_tracing)
    http, names = integ.http, integ.http_names
    in_client_call = _http.in_client_call

    def make(urlopen):
        def traced_urlopen(self, method, url, *args, **kwargs):
            if not http.enabled or in_client_call.get():
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
            token = in_client_call.set(True)
            try:
                response = urlopen(self, method, url, *args, **kwargs)
            except BaseException as e:
                http.finish(span, e)
                raise
            finally:
                in_client_call.reset(token)
            http.finish(span, None, response.status, response.headers, True)
            return response

        return traced_urlopen

    return _patch.wrap(connectionpool.HTTPConnectionPool, "urlopen", make)


def unpatch():
    from urllib3 import connectionpool

    _patch.unwrap(connectionpool.HTTPConnectionPool, "urlopen")
