"""``patch()``: every ``requests`` call (``requests.get``, any ``Session``) gets a ``requests.request``
client span, child of the active span, whose context is injected into the request headers in the
configured styles. ``unpatch()`` undoes it. ``DD_REQUESTS_DISTRIBUTED_TRACING=false`` (or
``patch(distributed_tracing=False)``) traces without injecting.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch


def patch(tracer=None, distributed_tracing=None):
    """Trace ``requests.Session.send``; a second call changes nothing."""
    import requests

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("requests", distributed_tracing)

    def make(send):
        def traced_send(self, request, **kwargs):
            if not tracer.enabled:
                return send(self, request, **kwargs)
            span = _http.start_client_span(tracer, "requests.request", "requests", request.method, request.url)
            if span is None:
                return send(self, request, **kwargs)
            if _http.header_tags:
                _http.tag_headers(span, request.headers.get)
            if distributed:
                _http.inject(tracer, span, request.headers)
            return _http.traced_send(span, _status, send, self, request, **kwargs)

        return traced_send

    return _patch.wrap(requests.Session, "send", make)


def _status(response):
    return response.status_code


def unpatch():
    import requests

    _patch.unwrap(requests.Session, "send")
