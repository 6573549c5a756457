"""``patch()``: every gRPC call made or served with ``grpcio``, synchronous and ``grpc.aio``, in the four
shapes (unary-unary, unary-stream, stream-unary, stream-stream), as ddtrace's ``grpc`` integration traces
them.

- Clients: ``grpc.insecure_channel``, ``grpc.secure_channel`` (and their ``grpc.aio`` twins) return
  channels whose first interceptor starts a ``grpc`` client span (resource the full method
  ``/package.Service/Method``, type ``grpc``) under the active span and appends its context to the call's
  metadata: the propagation headers of every configured style as lower-case keys with str values, after
  the caller's own pairs (kept, ``-bin`` ones included; a pair of the same name is replaced rather than
  repeated). ``grpc.intercept_channel`` over a traced channel keeps ddfast's interceptor first, so the
  application's interceptors see the headers. The span ends when the call does (a done callback, so
  futures and response streams are traced to their end), tagged ``grpc.status.code`` (``StatusCode.OK``)
  and, on another status, as an error (``error.type`` the status, ``error.message`` its details).
- Servers: ``grpc.server(...)`` and ``grpc.aio.server(...)`` get a first interceptor whose handlers
  continue the trace the call's metadata carries (``context.invocation_metadata()``, read as it is) in a
  ``grpc`` server span, active while the handler runs, ended when its response (or its last streamed
  response) is produced. A handler that raises or aborts marks it as an error: the exception, and the
  status and details it aborted with.

Services, as ddtrace's: ``grpc-client`` and ``grpc-aio-client`` for clients (``DD_GRPC_SERVICE``,
``DD_GRPC_AIO_CLIENT_SERVICE``), ``DD_GRPC_SERVER_SERVICE`` / ``DD_GRPC_AIO_SERVER_SERVICE``, else
``DD_SERVICE``, else ``grpc-server`` / ``grpc-aio-server`` for servers; under
``DD_TRACE_SPAN_ATTRIBUTE_SCHEMA=v1`` (or ``DD_TRACE_REMOVE_INTEGRATION_SERVICE_NAMES_ENABLED``) the
application's service, and span names ``grpc.client.request`` / ``grpc.server.request``. Components
``grpc``, ``grpc_server``, ``grpc_aio_client``, ``grpc_aio_server``. Tags: ``span.kind``, ``rpc.service``,
``grpc.method.path|package|service|name|kind``, ``grpc.host``, ``peer.hostname`` (or
``network.destination.ip``), ``network.destination.port`` on clients, ``_dd.measured``.

``DD_GRPC_DISTRIBUTED_TRACING=false`` (ddfast's; ddtrace has it only in code) or ``patch(
distributed_tracing=False)`` traces without continuing or sending traces.

Where ddfast differs from ddtrace 4.16 (ddtrace's behaviour looks like a bug in each case):
- a server handler that raises a plain exception keeps the exception's ``error.type`` and
  ``error.message``; ddtrace overwrites them with ``"None"`` (the status the handler had not set yet);
- a failed client call has no ``error.stack``: ddtrace writes the text of a traceback object there
  (``<traceback object at 0x...>``), which carries no frame;
- a grpc.aio handler that aborts has the status as its ``error.type`` (ddtrace's aio server compares the
  status with numbers and keeps the abort's exception class), and a grpc.aio response stream that ended
  well has its ``grpc.status.code`` (ddtrace's done callback fails to parse it from the call's text);
- a trace header already in the caller's metadata is replaced, not repeated;
- a server call without trace headers starts a new trace, never under what an earlier call left active
  on the same worker thread;
- ``grpc.server(pool, handlers, interceptors)`` with the interceptors given by position is traced too
  (ddtrace's wrapper then passes them twice and the call fails).
"""

import functools
import inspect
import os

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration
from ddfast.settings import asbool

UNARY = "unary"
SERVER_STREAMING = "server_streaming"
CLIENT_STREAMING = "client_streaming"
BIDI_STREAMING = "bidi_streaming"

# while patched: "client", "server", "aio_client", "aio_server" -> _Side; "server_interceptor" and
# "aio_server_interceptor" -> the class of the interceptor a server gets
_STATE = {}


# -- what the spans are named ---------------------------------------------------------------------------


class _Side:
    """One of the four sides (sync or aio, client or server), set up once: its Integration, span name,
    component, default service, and the spans of each method (``MessageSpans``, cached)."""

    __slots__ = ("integ", "name", "component", "default_service", "client", "_spans", "ok")

    def __init__(self, integ, client, component, default_service):
        import grpc

        self.integ = integ
        self.client = client
        self.component = component
        v1 = _http.schema_v1()
        self.name = ("grpc.client.request" if client else "grpc.server.request") if v1 else "grpc"
        own = not (v1 or asbool(os.environ.get("DD_TRACE_REMOVE_INTEGRATION_SERVICE_NAMES_ENABLED"), False))
        self.default_service = default_service if own else None
        self._spans = {}
        self.ok = grpc.StatusCode.OK

    def service(self):
        """The service of a span of this side now (servers follow DD_SERVICE, read from the tracer)."""
        integ = self.integ
        if integ.service:
            return integ.service
        if not self.client and integ.http.state.service:
            return integ.http.state.service
        return self.default_service

    def spans(self, method, kind, peer=()):
        """The ``MessageSpans`` of a call of ``method`` (the full path) of ``kind``: its constant tags, with
        a client's ``peer`` tags, made once per method (cached, bounded)."""
        key = (method, kind, peer)
        spans = self._spans.get(key)
        if spans is None:
            tags = _method_tags(method, kind)
            tags["component"] = self.component
            tags["span.kind"] = "client" if self.client else "server"
            tags["_dd.measured"] = 1
            for name, value in peer:
                tags[name] = int(value) if name == "network.destination.port" else value  # a number, as set_tag
            service = self.service() if self.client else None  # a server's follows DD_SERVICE per call
            spans = self.integ.message_spans(self.name, "grpc", tags, (), service, as_bytes=False)
            if len(self._spans) < 1024:  # methods a server serves or a client calls: few; bounded anyway
                self._spans[key] = spans
        return spans


def _method_tags(method, kind):
    """``rpc.service``, ``grpc.method.*`` of ``/package.Service/Method``, as ddtrace parses it."""
    tags = {}
    if isinstance(method, bytes):
        method = method.decode("utf-8", "replace")
    if not isinstance(method, str):
        return tags
    package_service, _, name = method.lstrip("/").rpartition("/")
    package, dot, service = package_service.rpartition(".")
    tags["rpc.service"] = package_service
    tags["grpc.method.path"] = method
    if dot:
        tags["grpc.method.package"] = package
    tags["grpc.method.service"] = service
    tags["grpc.method.name"] = name
    tags["grpc.method.kind"] = kind
    return tags


def _peer_tags(target):
    """``grpc.host``, ``peer.hostname`` or ``network.destination.ip``, ``network.destination.port`` of a
    channel's target (``host:port``, ``dns:///host:port``...), as ddtrace reads it; a tuple of pairs."""
    import ipaddress
    from urllib import parse

    if not isinstance(target, str):
        return ()
    try:
        parsed = parse.urlsplit(target if target.startswith("//") else "//" + target)
        host = parsed.hostname or None
        try:
            port = parsed.port
        except ValueError:
            port = None
    except ValueError:
        return ()
    tags = []
    if host:
        tags.append(("grpc.host", host))
        try:
            ipaddress.ip_address(host)
        except ValueError:
            tags.append(("peer.hostname", host))
        else:
            tags.append(("network.destination.ip", host))
    if port:
        tags.append(("network.destination.port", str(port)))
    return tuple(tags)


# -- the client side ------------------------------------------------------------------------------------


def _start_client(side, details, kind, peer, cache):
    """The client span of a call (under the active span) and the call's details with its context added
    to the metadata (a new list: the caller's sequence is not changed). ``cache``: the channel's tags
    per ``(method, kind)``."""
    method = details.method
    if isinstance(method, bytes):  # grpc.aio gives the method as bytes
        method = method.decode("utf-8", "replace")
    spans = cache.get((method, kind))
    if spans is None:
        spans = side.spans(method, kind, peer)
        if len(cache) < 256:
            cache[(method, kind)] = spans
    span = spans.start(None, None, False, method)
    return span, _with_context(spans, span, details)


def _with_context(spans, span, details):
    """``details`` with ``span``'s context added to their metadata (a new list after the caller's pairs,
    less any of the names we write: the caller's sequence is not changed), when distributed."""
    pairs = spans.context_pairs(span)
    if not pairs:
        return details
    metadata = details.metadata
    if metadata:
        names = {pair[0] for pair in pairs}
        pairs = [pair for pair in metadata if pair[0] not in names] + pairs
    return _with_metadata(details, pairs)


def _with_metadata(details, metadata):
    cls = type(details)
    if cls is _DETAILS_TYPES[0]:  # grpc's own namedtuples: (method, timeout, metadata, ...)
        return tuple.__new__(cls, (details[0], details[1], metadata, details[3], details[4], details[5]))
    if cls in _DETAILS_TYPES:
        return tuple.__new__(cls, details[:2] + (metadata,) + details[3:])
    replace = getattr(details, "_replace", None)
    if replace is not None:
        return replace(metadata=metadata)
    return _CallDetails(details.method, details.timeout, metadata, getattr(details, "credentials", None),
                        getattr(details, "wait_for_ready", None), getattr(details, "compression", None))  # fmt: skip


_CallDetails = None  # made at patch(): a namedtuple that is a grpc.ClientCallDetails
_DETAILS_TYPES = (None,)  # grpc's call details (sync, then aio), set at patch()


def _client_done(span, ok, call):
    """A sync call ended (``call``: its future, outcome or error): the status, then the span ends."""
    try:
        code = call.code()
        if code is ok:
            span._meta["grpc.status.code"] = _OK_TEXT
        else:
            span.set_tag("grpc.status.code", str(code))
            _client_error(span, code, call)
    except Exception:  # a call object that cannot tell: the span still ends
        pass
    span.finish()


def _client_error(span, code, call):
    exception = None
    try:
        if not call.cancelled():
            exception = call.exception()
    except Exception:
        pass
    span.error = 1
    if exception is not None and not _is_rpc_error(exception):  # raised in the interceptors: the exception
        span.set_exc_info(type(exception), exception, exception.__traceback__)
        return
    details = call.details()
    span.set_tag("error.message", details.decode("utf-8", "replace") if isinstance(details, bytes) else str(details))
    span.set_tag("error.type", str(code))


def _is_rpc_error(exc):
    import grpc

    return isinstance(exc, grpc.RpcError)


def _make_client_interceptor(grpc, side):
    # bound once: what runs per call (a sync client's service and switches do not change once patched)
    integ = side.integ
    state, var, finish, ok = integ.http.state, integ.http.var, integ.finish, side.ok

    class ClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                            grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):  # fmt: skip
        """ddfast's interceptor of one traced channel (``peer``: the target's tags)."""

        __slots__ = ("peer", "spans")

        def __init__(self, peer):
            self.peer = peer
            self.spans = {}  # (method, kind) -> the spans of its calls

        def _call(self, kind, continuation, details, request):
            # as _start_client, inline: the sync client is the hot one
            if not state.enabled:
                return continuation(details, request)
            method = details.method
            spans = self.spans.get((method, kind))
            if spans is None:
                spans = side.spans(method, kind, self.peer)
                if len(self.spans) < 256:
                    self.spans[(method, kind)] = spans
            span = spans.start(None, None, False, method)
            details = _with_context(spans, span, details)
            previous = var.get()
            var.set(span)
            try:
                call = continuation(details, request)
            except BaseException as exc:
                var.set(previous)
                finish(span, exc)
                raise
            var.set(previous)
            add = getattr(call, "add_done_callback", None)
            if add is None:
                span.finish()
            else:
                add(functools.partial(_client_done, span, ok))
            return call

        def intercept_unary_unary(self, continuation, client_call_details, request):
            return self._call(UNARY, continuation, client_call_details, request)

        def intercept_unary_stream(self, continuation, client_call_details, request):
            return self._call(SERVER_STREAMING, continuation, client_call_details, request)

        def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
            return self._call(CLIENT_STREAMING, continuation, client_call_details, request_iterator)

        def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
            return self._call(BIDI_STREAMING, continuation, client_call_details, request_iterator)

    return ClientInterceptor


def _status_now(awaitable):
    """The result of a grpc.aio call's ``code()``/``details()`` once the call is done, which completes
    without waiting: run to its end here, in a done callback that cannot await. Raises LookupError if
    it would wait."""
    try:
        awaitable.send(None)
    except StopIteration as stop:
        return stop.value
    awaitable.close()
    raise LookupError("the call has not ended")


def _aio_client_done(span, ok, call):
    """A grpc.aio call ended: its status, then the span ends (from a task, should the status not be
    readable at once)."""
    try:
        code = _status_now(call.code())
        details = None if code is ok else _status_now(call.details())
    except LookupError:
        import asyncio

        asyncio.ensure_future(_aio_client_done_later(span, ok, call))
        return
    except Exception:  # a call object that cannot tell: the span still ends
        span.finish()
        return
    _aio_status(span, ok, code, details)
    span.finish()


async def _aio_client_done_later(span, ok, call):
    try:
        code = await call.code()
        _aio_status(span, ok, code, None if code is ok else await call.details())
    except Exception:
        pass
    finally:
        span.finish()


def _aio_status(span, ok, code, details):
    span.set_tag("grpc.status.code", _OK_TEXT if code is ok else str(code))
    if code is not ok:
        span.error = 1
        span.set_tag("error.message", details.decode("utf-8", "replace") if isinstance(details, bytes)
                     else str(details))  # fmt: skip
        span.set_tag("error.type", str(code))


def _aio_client_failed(span, exc):
    """A grpc.aio call that raised before a call object was returned (an AioRpcError, a cancellation)."""
    code = getattr(exc, "code", None)
    if callable(code) and _is_rpc_error(exc):
        status = str(code())
        details = exc.details()
        span.error = 1
        span.set_tag("grpc.status.code", status)
        span.set_tag("error.message", details.decode("utf-8", "replace") if isinstance(details, bytes)
                     else str(details))  # fmt: skip
        span.set_tag("error.type", status)
        span.finish()
    else:
        span.set_exc_info(type(exc), exc, exc.__traceback__)
        span.finish()


def _make_aio_client_interceptors(aio, side, peer):
    ok = side.ok
    call_type = aio.Call
    cache = {}

    async def intercept(kind, continuation, details, request):
        integ = side.integ
        if not integ.http.state.enabled:
            return await continuation(details, request)
        span, details = _start_client(side, details, kind, peer, cache)
        var = integ.http.var
        previous = var.get()
        var.set(span)
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            var.set(previous)
            _aio_client_failed(span, exc)
            raise
        var.set(previous)
        if isinstance(call, call_type):
            try:
                call.add_done_callback(functools.partial(_aio_client_done, span, ok))
            except NotImplementedError:  # a response an interceptor after ours made: the call went well
                span.set_tag("grpc.status.code", str(ok))
                span.finish()
        else:
            span.set_tag("grpc.status.code", str(ok))
            span.finish()
        return call

    class UnaryUnary(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, client_call_details, request):
            return await intercept(UNARY, continuation, client_call_details, request)

    class UnaryStream(aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation, client_call_details, request):
            return await intercept(SERVER_STREAMING, continuation, client_call_details, request)

    class StreamUnary(aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
            return await intercept(CLIENT_STREAMING, continuation, client_call_details, request_iterator)

    class StreamStream(aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
            return await intercept(BIDI_STREAMING, continuation, client_call_details, request_iterator)

    return [UnaryUnary(), UnaryStream(), StreamUnary(), StreamStream()]


# -- the server side ------------------------------------------------------------------------------------

#: RpcMethodHandler attribute -> the kind of call its behaviour serves
_OK_TEXT = "StatusCode.OK"  # str(grpc.StatusCode.OK), read at patch()

_BEHAVIOURS = (("unary_unary", UNARY), ("unary_stream", SERVER_STREAMING), ("stream_unary", CLIENT_STREAMING),
               ("stream_stream", BIDI_STREAMING))  # fmt: skip


def _start_server(side, context, method, kind):
    """The server span of a call: child of the context its metadata carries, else a new trace."""
    spans = side.spans(method, kind)
    return spans.consume(context.invocation_metadata() if spans.distributed else None, None, False, None, method,
                         side.service())  # fmt: skip


def _server_error(span, exc, context, codes):
    """A handler raised ``exc``: the exception, then the status it aborted with (``context.abort``), if
    any."""
    span.set_exc_info(type(exc), exc, exc.__traceback__)
    try:
        code = context.code()
        code = codes.get(code, code)  # grpc.aio's context gives the number
        if code is None or code is codes.get(0):
            return
        span.set_tag("error.type", str(code))
        details = context.details()
        if details:
            span.set_tag("error.message", details.decode("utf-8", "replace") if isinstance(details, bytes)
                         else str(details))  # fmt: skip
    except Exception:
        pass


def _traced_behaviour(side, method, kind, behaviour, streaming, codes):
    """``behaviour`` (a handler's function, coroutine function or async generator function) traced, of
    the same kind, so that grpc runs it as it would the original."""
    integ = side.integ
    state = integ.http.state
    var = integ.http.var

    if inspect.isasyncgenfunction(behaviour):

        async def traced_async_gen(request, context):
            if not state.enabled:
                async for response in behaviour(request, context):
                    yield response
                return
            span = _start_server(side, context, method, kind)
            var.set(span)
            try:
                async for response in behaviour(request, context):
                    yield response
            except BaseException as exc:
                _server_error(span, exc, context, codes)
                raise
            finally:
                span.finish()

        return traced_async_gen

    if inspect.iscoroutinefunction(behaviour):

        async def traced_coroutine(request, context):
            if not state.enabled:
                return await behaviour(request, context)
            span = _start_server(side, context, method, kind)
            var.set(span)  # the call's own task: nothing to restore
            try:
                return await behaviour(request, context)
            except BaseException as exc:
                _server_error(span, exc, context, codes)
                raise
            finally:
                span.finish()

        return traced_coroutine

    if streaming:

        def traced_stream(request, context):
            if not state.enabled:
                yield from behaviour(request, context)
                return
            span = _start_server(side, context, method, kind)
            previous = var.get()
            var.set(span)
            try:
                yield from behaviour(request, context)
            except BaseException as exc:
                _server_error(span, exc, context, codes)
                raise
            finally:
                span.finish()
                var.set(previous)

        return traced_stream

    def traced(request, context):
        if not state.enabled:
            return behaviour(request, context)
        span = _start_server(side, context, method, kind)
        previous = var.get()
        var.set(span)
        try:
            return behaviour(request, context)
        except BaseException as exc:
            _server_error(span, exc, context, codes)
            raise
        finally:
            span.finish()
            var.set(previous)

    return traced


class _Handlers:
    """The traced handler of each method a server serves, made once per handler."""

    __slots__ = ("side", "codes", "made")

    def __init__(self, side, codes):
        self.side = side
        self.codes = codes
        self.made = {}

    def traced(self, method, handler):
        made = self.made.get(method)
        if made is not None and made[0] is handler:
            return made[1]
        if isinstance(method, bytes):
            method = method.decode("utf-8", "replace")
        changes = {}
        for attribute, kind in _BEHAVIOURS:
            behaviour = getattr(handler, attribute, None)
            if behaviour is not None:
                streaming = bool(getattr(handler, "response_streaming", False))
                changes[attribute] = _traced_behaviour(self.side, method, kind, behaviour, streaming, self.codes)
        if not changes:
            return handler
        traced = _copy_handler(handler, changes)
        if len(self.made) < 1024:
            self.made[method] = (handler, traced)
        return traced


def _copy_handler(handler, changes):
    replace = getattr(handler, "_replace", None)  # grpc's own handlers are namedtuples
    if replace is not None:
        return replace(**changes)
    import grpc

    copy = grpc.RpcMethodHandler()
    for name in ("request_streaming", "response_streaming", "request_deserializer", "response_serializer",
                 "unary_unary", "unary_stream", "stream_unary", "stream_stream"):  # fmt: skip
        setattr(copy, name, changes.get(name, getattr(handler, name, None)))
    return copy


# -- patching ---------------------------------------------------------------------------------------------


def _with_interceptor(args, kwargs, position, interceptors):
    """The arguments of ``grpc.server(...)``/``grpc.aio.*`` with ``interceptors`` put first among the
    call's own (given by name or at ``position``)."""
    if len(args) > position:
        args = list(args)
        args[position] = list(interceptors) + list(args[position] or ())
    else:
        kwargs["interceptors"] = list(interceptors) + list(kwargs.get("interceptors") or ())
    return args, kwargs


def patch(tracer=None, distributed_tracing=None):
    """Trace grpcio's channels and servers (sync and ``grpc.aio``) made from now on; a second call
    changes nothing."""
    import collections

    import grpc

    global _CallDetails, _DETAILS_TYPES, _OK_TEXT
    if _patch.is_wrapped(grpc, "server"):
        return False
    distributed = _http.distributed_tracing("grpc", distributed_tracing)
    codes = {status.value[0]: status for status in grpc.StatusCode}

    def side(name, client, component, default):
        return _Side(Integration(name, tracer, distributed_tracing=distributed), client, component, default)

    client = _STATE["client"] = side("grpc", True, "grpc", "grpc-client")
    server = _STATE["server"] = side("grpc_server", False, "grpc_server", "grpc-server")
    _CallDetails = type("ClientCallDetails", (collections.namedtuple(
        "ClientCallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
        grpc.ClientCallDetails), {})  # fmt: skip
    _DETAILS_TYPES = _details_types(grpc)
    _OK_TEXT = str(grpc.StatusCode.OK)
    ClientInterceptor = _make_client_interceptor(grpc, client)
    intercept = grpc.intercept_channel

    def make_channel(original):
        def traced_channel(*args, **kwargs):
            channel = original(*args, **kwargs)
            target = kwargs["target"] if "target" in kwargs else args[0] if args else None
            return intercept(channel, ClientInterceptor(_peer_tags(target)))

        return traced_channel

    def make_intercept(original):
        def traced_intercept_channel(channel, *interceptors):
            ours = getattr(channel, "_interceptor", None)
            inner = getattr(channel, "_channel", None)
            if isinstance(ours, ClientInterceptor) and inner is not None:  # ours stays the first
                return original(original(inner, *interceptors), ours)
            return original(channel, *interceptors)

        return traced_intercept_channel

    class ServerInterceptor(grpc.ServerInterceptor):
        def __init__(self):
            self.handlers = _Handlers(server, codes)

        def intercept_service(self, continuation, handler_call_details):
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            return self.handlers.traced(handler_call_details.method, handler)

    def make_server(original):
        def traced_server(*args, **kwargs):
            args, kwargs = _with_interceptor(args, kwargs, 2, [ServerInterceptor()])
            return original(*args, **kwargs)

        return traced_server

    _STATE["server_interceptor"] = ServerInterceptor
    _patch.wrap(grpc, "insecure_channel", make_channel)
    _patch.wrap(grpc, "secure_channel", make_channel)
    _patch.wrap(grpc, "intercept_channel", make_intercept)
    _patch.wrap(grpc, "server", make_server)
    _patch_aio(grpc, side, codes)
    return True


def _details_types(grpc):
    """grpc's own ClientCallDetails namedtuples (sync and aio), whose metadata is the third field."""
    found = []
    for module, name in (("grpc._interceptor", "_ClientCallDetails"), ("grpc.aio", "ClientCallDetails")):
        try:
            cls = getattr(__import__(module, fromlist=[name]), name)
        except (ImportError, AttributeError):
            continue
        if getattr(cls, "_fields", ())[2:3] == ("metadata",):
            found.append(cls)
    if not found or len(getattr(found[0], "_fields", ())) != 6:
        found.insert(0, None)  # no sync type of six fields: every type takes the general path
    return tuple(found)


def _patch_aio(grpc, side, codes):
    try:
        from grpc import aio
    except ImportError:  # grpcio without grpc.aio
        return
    aio_client = _STATE["aio_client"] = side("grpc_aio_client", True, "grpc_aio_client", "grpc-aio-client")
    aio_server = _STATE["aio_server"] = side("grpc_aio_server", False, "grpc_aio_server", "grpc-aio-server")

    def make_channel(original, position):
        def traced_channel(*args, **kwargs):
            target = kwargs["target"] if "target" in kwargs else args[0] if args else None
            ours = _make_aio_client_interceptors(aio, aio_client, _peer_tags(target))
            args, kwargs = _with_interceptor(args, kwargs, position, ours)
            return original(*args, **kwargs)

        return traced_channel

    class ServerInterceptor(aio.ServerInterceptor):
        def __init__(self):
            self.handlers = _Handlers(aio_server, codes)

        async def intercept_service(self, continuation, handler_call_details):
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            return self.handlers.traced(handler_call_details.method, handler)

    def make_server(original):
        def traced_server(*args, **kwargs):
            args, kwargs = _with_interceptor(args, kwargs, 2, [ServerInterceptor()])
            return original(*args, **kwargs)

        return traced_server

    _STATE["aio_server_interceptor"] = ServerInterceptor
    _patch.wrap(aio, "insecure_channel", lambda original: make_channel(original, 3))
    _patch.wrap(aio, "secure_channel", lambda original: make_channel(original, 4))
    _patch.wrap(aio, "server", make_server)


def unpatch():
    """Undo ``patch()`` (channels and servers made meanwhile stay traced)."""
    import grpc

    for name in ("insecure_channel", "secure_channel", "intercept_channel", "server"):
        _patch.unwrap(grpc, name)
    try:
        from grpc import aio
    except ImportError:
        aio = None
    if aio is not None:
        for name in ("insecure_channel", "secure_channel", "server"):
            _patch.unwrap(aio, name)
    _STATE.clear()
