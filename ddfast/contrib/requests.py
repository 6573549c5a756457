"""``patch()``: every ``requests`` call (``requests.get``, any ``Session``) gets a ``requests.request``
client span (service ``requests``, resource ``"METHOD /path"``, as ddtrace's), child of the active span,
whose context is injected into the request headers in the configured styles. ``unpatch()`` undoes it.
``DD_REQUESTS_DISTRIBUTED_TRACING=false`` (or ``patch(distributed_tracing=False)``) traces without
injecting.
"""

import operator

from ddfast.contrib import _http
from ddfast.contrib import _patch


def patch(tracer=None, distributed_tracing=None):
    """Trace ``requests.Session.send``; a second call changes nothing."""
    import requests

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("requests", distributed_tracing)
    # bound once: what runs per request
    state, var, inject = tracer._state, tracer.context_provider._var, tracer._http_inject
    start, in_client_call = tracer._span_mod.http_client_start, _http._in_client_call
    names = _http.ClientNames("requests")
    name, component, service, resource = names.name, names.component, names.service, names.resource
    from requests.structures import CaseInsensitiveDict as case_insensitive

    def make(send):
        def traced_send(self, request, **kwargs):
            if not state.enabled or in_client_call.get():
                return send(self, request, **kwargs)
            url = request.url
            if type(url) is not str:
                url = _http.text(url)
            headers = request.headers
            if type(headers) is case_insensitive:  # its store: lower-case name -> (name, value), no Python call
                entry = headers._store.get("user-agent")
                useragent = entry[1] if entry is not None else None
            else:
                useragent = headers.get("User-Agent")
            span = start(state, var, name, component, request.method, url, service, resource, useragent)
            if _http.client_query is not None:
                _http.tag_query(span, _http.client_query, url)
            if _http.header_tags:
                _http.tag_headers(span, headers.get)
            if distributed:
                if type(headers) is case_insensitive:
                    # straight into the dict's store (lower-case name -> (name, value)), as its __setitem__
                    # would put them, without a Python call per header
                    injected = {}
                    inject(span, injected)
                    store = headers._store
                    for header, value in injected.items():
                        store[header.lower()] = (header, value)
                else:
                    inject(span, headers)
            # requests -> urllib3: marked as traced, so that the exchange is traced once
            return _http.traced_send(span, _status_code, send, self, request, **kwargs)

        return traced_send

    return _patch.wrap(requests.Session, "send", make)


_status_code = operator.attrgetter("status_code")


def unpatch():
    import requests

    _patch.unwrap(requests.Session, "send")
