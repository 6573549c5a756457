"""The one API every integration is written on: HTTP servers and clients, RPC, task queues, message
brokers.

An integration makes one ``Integration`` when it is set up (a middleware made, a library patched): it
reads the integration's settings once (``DD_<NAME>_SERVICE``, ``DD_<NAME>_DISTRIBUTED_TRACING``, the
naming schema) and binds what its calls need. Per request or message it then calls:

- the receiving side (a server, a consumer, a task's worker): ``extract(carrier)`` the caller's
  context and ``start_span(..., child_of=context)`` under it (or ``start_consumer``, which does both);
- the sending side (a client, a producer): ``start_span`` under the active span, then
  ``inject(span, carrier)`` (a mapping of text headers) or ``inject_pairs(span, pairs)`` (a list of
  ``(name, value)`` pairs, values as bytes where the carrier wants bytes: Kafka headers, gRPC metadata);
- ``finish(span, exc)`` when the exchange ends, recording an exception that ended it.

A carrier integration makes its spans with ``message_spans`` (one per operation, set up once): each
message's span is then started, tagged and given its parent in one compiled call (``start``,
``consume``), and its context written as pairs in another (``context_pairs``).

A carrier is what the protocol carries the headers in: a dict or mapping, a list or tuple of
``(name, value)`` pairs with str or bytes names and values. Reading one never raises: a carrier of
another type or with values that do not parse gives no parent (counted in
``ddfast.propagation.ERRORS``), and injection into a carrier that refuses it is counted and skipped,
so that tracing never breaks the request or the message.

Patch a library with ``ddfast.contrib._patch.wrap`` (reversible; once only) from the module's
``patch(tracer=None, ...)``, and list it in ``ddfast.patching.PATCHABLE`` so that ``ddfast.patch()``
and ``ddfast-run`` know it.
"""

import os
import sys

from ddfast.contrib import _http
from ddfast.settings import asbool

#: ``start_span``'s default parent: the active span of the tracer (or the activated Context)
ACTIVE = object()


class Integration:
    """One integration (``name``: ddtrace's integration name, ``"kafka"``, ``"grpc"``, ``"requests"``)
    of one tracer (default: ddfast's global tracer), set up once.

    ``service``: the service of its spans (default ``DD_<NAME>_SERVICE``, else None: the tracer's).
    ``distributed_tracing``: whether it continues and propagates traces (default: the integration's
    ``DD_<NAME>_DISTRIBUTED_TRACING``, else ``DD_TRACE_DISTRIBUTED_TRACING``); ``propagation_setting``
    names a further setting of ddtrace's that turns it off (``DD_KAFKA_PROPAGATION_ENABLED``), read
    the same way.

    An HTTP server or client integration (a name of ``ddfast.contrib._http.SERVERS`` or ``CLIENTS``) is
    named as ddtrace names it (``http_names``: span name, component, default service, resource), its
    service chosen by ddtrace's rules for it; ``span_name`` overrides a server's span name.
    """

    __slots__ = ("name", "tracer", "service", "distributed", "_http", "_names", "_start", "_extract", "_inject",
                 "json_headers")  # fmt: skip

    def __init__(self, name, tracer=None, service=None, distributed_tracing=None, propagation_setting=None,
                 span_name=None):  # fmt: skip
        if not isinstance(name, str) or not name:
            raise TypeError("an integration's name is a non-empty str, not %r" % (name,))
        self.name = name
        self.tracer = tracer = _http.global_tracer(tracer)
        distributed = _http.distributed_tracing(name, distributed_tracing)
        if distributed and distributed_tracing is None and propagation_setting:
            distributed = asbool(os.environ.get(propagation_setting), True)
        self.distributed = distributed
        # bound once: the tracer's request path (compiled where the core is), what runs per call
        self._http = http = _http.http_of(tracer)
        if name in _http.SERVERS:
            self._names = _http.server_names(http, name, service, distributed, span_name)
            self.service = self._names.service
        elif name in _http.CLIENTS:
            self._names = _http.client_names(http, name, distributed)
            self.service = service or self._names.service
        else:
            self._names = None
            self.service = service or _service_setting(name)
        self._start = http.start_span
        self._extract = http.extract
        self._inject = http.inject
        #: the propagation core's reader of a JSON object of text headers (``json_headers(text)``: the pairs,
        #: or None for any other text), for the carriers that send their context as JSON (AWS)
        self.json_headers = sys.modules[http.extract.__module__].json_headers

    @property
    def enabled(self):
        """Whether the tracer traces now (``DD_TRACE_ENABLED``, ``tracer.enabled``): an integration
        passes calls through untraced when it does not."""
        return self._http.enabled

    @property
    def http(self):
        """The tracer's HTTP request path (``tracer.http``), for the ``http_*`` methods' finer parts."""
        return self._http

    @property
    def http_names(self):
        """How this integration names its HTTP spans (the core's ``HttpNames``, made once): ddtrace's names
        for a known HTTP server or client integration, else the integration's name as span name and
        component."""
        names = self._names
        if names is None:
            http = self._http
            names = _http._names_type(http)(self.name, self.name, self.service, None, True, None, self.distributed)
            self._names = names
        return names

    # -- the receiving side ---------------------------------------------------------------------------

    def extract(self, carrier):
        """The context ``carrier`` carries (a Context with a trace id), or None: none there, distributed
        tracing off, or a carrier that could not be read (counted, never raised)."""
        if not self.distributed or carrier is None:
            return None
        try:
            context = self._extract(carrier)
        except Exception:  # a carrier of a type that cannot be read: no parent
            record("carrier_type", type(carrier).__name__)
            return None
        return context if context.trace_id is not None else None

    def start_consumer(self, carrier, name, resource=None, span_type=None, service=None, tags=None, activate=True):
        """A span for one received message, request or task: a child of the context ``carrier`` carries,
        else of the active span (a new trace when there is none)."""
        context = self.extract(carrier)
        return self.start_span(
            name, ACTIVE if context is None else context, resource, span_type, service, tags, activate
        )

    # -- spans ------------------------------------------------------------------------------------------

    def message_spans(self, name, span_type=None, tags=None, keys=(), service=None, as_bytes=True):
        """The spans of one operation of this integration (a produce, a consume, a server call), made in one
        compiled call per message: name ``name``, service ``service`` or the integration's (else the
        tracer's), constant ``tags`` (``component``, ``span.kind``...: text or numbers) and the ``keys`` of
        the tags that change per message, given to ``start``/``consume`` as a tuple of values in that
        order (the core's ``MessageSpans``). Made once, when the integration is set up."""
        spans_type = _http.core_of(self._http).MessageSpans
        return spans_type(
            self._http, name, service or self.service, span_type, tags, keys, self.distributed, as_bytes, record
        )

    def start_span(self, name, child_of=ACTIVE, resource=None, span_type=None, service=None, tags=None,
                   activate=True):  # fmt: skip
        """A new span of this integration: child of ``child_of`` (a Span, a Context, None for a new
        trace; default the active span), service ``service`` or the integration's (else the tracer's),
        with ``tags`` (a dict: ``component``, ``span.kind``...); the active span from now on unless not
        ``activate``."""
        if child_of is ACTIVE:
            child_of = self.tracer.context_provider.active()
        span = self._start(name, child_of, service or self.service, resource, span_type, activate)
        if tags:
            span.set_tags(tags)
        return span

    def finish(self, span, exc=None):
        """End ``span``, recording ``exc`` (the exception that ended the exchange) when given."""
        if exc is not None:
            span.set_exc_info(type(exc), exc, exc.__traceback__)
        span.finish()

    # -- the sending side -----------------------------------------------------------------------------

    def inject(self, span, carrier):
        """Write ``span``'s context into ``carrier`` (a mutable mapping of text headers) in the configured
        styles, when distributed tracing is on; a carrier that refuses it is counted and left alone."""
        if not self.distributed:
            return
        try:
            self._inject(span, carrier)
        except Exception:
            record("inject_carrier", type(carrier).__name__)

    def inject_pairs(self, span, pairs, encoding="utf-8"):
        """Append ``span``'s context to ``pairs`` (a list of ``(name, value)``), replacing pairs of the same
        names; values encoded with ``encoding`` (None: kept as str). Returns the pairs added."""
        if not self.distributed:
            return []
        headers = {}
        try:
            self._inject(span, headers)
        except Exception:
            record("inject_carrier", type(pairs).__name__)
            return []
        if not headers:
            return []
        added = [(k, v.encode(encoding) if encoding else v) for k, v in headers.items()]
        if pairs:  # pairs of the same names give way (a new message's list is empty: nothing to look at)
            names = {k.lower() for k in headers}
            pairs[:] = [p for p in pairs if not (isinstance(p[0], str) and p[0].lower() in names)]
        pairs.extend(added)
        return added

    # -- HTTP: one compiled call per step (``tracer.http``) -------------------------------------------

    def http_server_start(self, carrier, method, url, path, useragent=None, peer_ip=None, query=None):
        """The server span of one HTTP request, the active one from now on: a child of the context the
        request's headers (``carrier``: a WSGI environ, an ASGI header list, a mapping) carry, with
        ddtrace's HTTP server tags, header tags and client IP as configured (``query``: the query string,
        tagged only when asked). Check ``enabled`` first."""
        return self._http.server_start(self.http_names, carrier, method, url, path, useragent, peer_ip, query)

    def http_client_start(self, method, url, headers=None, useragent=None):
        """The client span of one outgoing HTTP request, a child of the active span and the active one
        from now on, its context injected into ``headers`` (a mutable mapping) when distributed; None when
        the tracer is off or another client integration already traces this exchange."""
        return self._http.client_start(self.http_names, method, url, headers, useragent)

    def http_status(self, span, status, headers=None, client=False):
        """The response: ``http.status_code`` (an error status marks the span an error: server or
        ``client`` statuses) and the response header tags (``headers``)."""
        self._http.status(span, status, headers, client)

    def http_route(self, span, method, route, resource=None):
        """The route that served the request (its template; None when the router matched nothing): the
        resource ``"METHOD route"`` (or ``resource``) and ``http.route``."""
        self._http.route(span, method, route, resource)

    def http_finish(self, span, exc=None, status=None, headers=None, client=False):
        """End an HTTP span: ``exc`` recorded, the response's ``status`` and ``headers`` when given."""
        self._http.finish(span, exc, status, headers, client)


def _service_setting(name):
    value = os.environ.get("DD_%s_SERVICE" % name.upper())
    return value.strip() or None if value else None


def record(reason, detail):
    """Count a problem of a carrier (``reason``; ``detail`` for the debug log) in ``ddfast.propagation.ERRORS``,
    as the propagation core counts the headers it cannot read: what integrations do instead of raising."""
    from ddfast.propagation import _core

    _core.record(reason, detail)
