"""``patch()``: every ``httpx`` request, sync (``Client``) and async (``AsyncClient``), gets an
``http.request`` client span (component ``httpx``), child of the active span, whose context is injected
into the request headers. ``unpatch()`` undoes it; ``DD_HTTPX_DISTRIBUTED_TRACING=false`` traces
without injecting.
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch


def patch(tracer=None, distributed_tracing=None):
    """Trace ``httpx.Client.send`` and ``httpx.AsyncClient.send``."""
    import httpx

    tracer = _http.global_tracer(tracer)
    distributed = _http.distributed_tracing("httpx", distributed_tracing)

    def start(request):
        span = _http.start_client_span(tracer, "http.request", "httpx", request.method, str(request.url))
        if span is not None and _http.header_tags:
            _http.tag_headers(span, request.headers.get)
        if span is not None and distributed:
            _http.inject(tracer, span, request.headers)
        return span

    def make_sync(send):
        def traced_send(self, request, *args, **kwargs):
            span = start(request) if tracer.enabled else None
            if span is None:
                return send(self, request, *args, **kwargs)
            return _http.traced_send(span, _status, send, self, request, *args, **kwargs)

        return traced_send

    def make_async(send):
        async def traced_send(self, request, *args, **kwargs):
            span = start(request) if tracer.enabled else None
            if span is None:
                return await send(self, request, *args, **kwargs)
            return await _http.traced_send_async(span, _status, send, self, request, *args, **kwargs)

        return traced_send

    patched = _patch.wrap(httpx.Client, "send", make_sync)
    return _patch.wrap(httpx.AsyncClient, "send", make_async) or patched


def _status(response):
    return response.status_code


def unpatch():
    import httpx

    _patch.unwrap(httpx.Client, "send")
    _patch.unwrap(httpx.AsyncClient, "send")
