"""``patch()``: every ``requests`` call (``requests.get``, any ``Session``) gets a ``requests.request``
client span (service ``requests``, resource ``"METHOD /path"``, as ddtrace's), child of the active span,
whose context is injected into the request headers in the configured styles. ``unpatch()`` undoes it.
``DD_REQUESTS_DISTRIBUTED_TRACING=false`` (or ``patch(distributed_tracing=False)``) traces without
injecting.
"""

from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration


def patch(tracer=None, distributed_tracing=None):
    """Trace ``requests.Session.send``; a second call changes nothing."""
    import requests

    integ = Integration("requests", tracer, distributed_tracing=distributed_tracing)
    # bound once: what runs per request
    http, names = integ.http, integ.http_names
    start, finish = http.client_start, http.finish
    distributed = names.distributed
    from requests.structures import CaseInsensitiveDict as case_insensitive

    def make(send):
        def traced_send(self, request, **kwargs):
            headers = request.headers
            if type(headers) is case_insensitive:  # its store: lower-case name -> (name, value), no Python call
                store = headers._store
                entry = store.get("user-agent")
                # injected into a dict, then straight into the store as its __setitem__ would put them,
                # without a Python call per header
                injected = {} if distributed else None
                span = start(names, request.method, request.url, injected, entry[1] if entry is not None else None,
                             headers)  # fmt: skip
                if span is None:  # off, or traced already
                    return send(self, request, **kwargs)
                if injected:
                    for header, value in injected.items():
                        store[header.lower()] = (header, value)
            else:
                span = start(names, request.method, request.url, headers, headers.get("User-Agent"))
                if span is None:
                    return send(self, request, **kwargs)
            # the client span is the active one while urllib3 sends: the exchange is traced once
            try:
                response = send(self, request, **kwargs)
            except BaseException as e:
                finish(span, e)
                raise
            finish(span, None, response.status_code, response.headers, True)
            return response

        return traced_send

    return _patch.wrap(requests.Session, "send", make)


def unpatch():
    import requests

    _patch.unwrap(requests.Session, "send")
