"""gRPC (``ddfast.patch(grpc=True)``) on both twins, against real grpcio servers and clients on loopback,
sync and ``grpc.aio``, in the four call shapes; and with ddtrace 4.16 on the other side in both
directions (``grpc_driver.py`` in a subprocess: the two tracers never patch one process), its spans
compared with ddfast's."""

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys

import pytest

try:
    import grpc
except ImportError:  # pragma: no cover - the component is part of the test extra
    grpc = None

if grpc is None:
    if os.environ.get("DDFAST_REQUIRE_COMPONENTS", "").strip() == "1":
        raise RuntimeError("grpcio is required (DDFAST_REQUIRE_COMPONENTS=1) but not installed")
    pytest.skip("grpcio is not installed", allow_module_level=True)

import grpc_driver  # noqa: E402

import ddfast.contrib.grpc as dd_grpc  # noqa: E402

DRIVER = grpc_driver.__file__
SERVICE = grpc_driver.SERVICE
MASK64 = (1 << 64) - 1
ENV = {"DD_TRACE_STARTUP_LOGS": "false", "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
       "DD_REMOTE_CONFIGURATION_ENABLED": "false", "DD_TRACE_AGENT_URL": "http://127.0.0.1:9"}  # fmt: skip
SHAPES = ("UU", "US", "SU", "SS")
KIND = {"UU": "unary", "US": "server_streaming", "SU": "client_streaming", "SS": "bidi_streaming"}


@pytest.fixture
def patched(traced):
    """grpc patched for the tracer of the twin under test; undone afterwards."""
    dd_grpc.patch(tracer=traced)
    try:
        yield traced
    finally:
        dd_grpc.unpatch()


class SyncServer:
    """``test.pkg.Echo`` served by ``grpc.server`` on a free loopback port; UU's calls in ``seen``."""

    def __init__(self, tracer):
        self.seen = []
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
        self.server.add_generic_rpc_handlers((grpc_driver.handlers(grpc, False, self.seen, tracer.current_span),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % self.port)
        # a client without ddfast: sends what it is given
        plain = getattr(grpc.insecure_channel, "__ddfast_original__", grpc.insecure_channel)
        self.raw = plain("127.0.0.1:%d" % self.port)

    def close(self):
        self.channel.close()
        self.raw.close()
        self.server.stop(None)


@pytest.fixture
def server(patched):
    served = SyncServer(patched)
    yield served
    served.close()


def spans_of(tracer):
    return sorted(tracer.writer.pop(), key=lambda s: s.start_ns)


def wait_spans(tracer, count):
    """The spans written once ``count`` have finished (a client span ends in grpc's callback thread)."""
    import time

    spans = []
    for _ in range(500):
        spans += tracer.writer.pop()
        if len(spans) >= count:
            break
        time.sleep(0.01)
    return sorted(spans, key=lambda s: s.start_ns)


def check_pair(client, server_span, shape, component="grpc", server_component="grpc_server"):
    """A client span and the server span it caused, as ddtrace names them."""
    method = "/%s/%s" % (SERVICE, shape)
    assert (client.name, client.resource, client.span_type) == ("grpc", method, "grpc")
    assert (server_span.name, server_span.resource, server_span.span_type) == ("grpc", method, "grpc")
    assert server_span.trace_id == client.trace_id and server_span.parent_id == client.span_id
    for span, kind in ((client, "client"), (server_span, "server")):
        assert span.get_tag("span.kind") == kind
        assert span.get_tag("grpc.method.path") == method
        assert span.get_tag("rpc.service") == SERVICE
        assert span.get_tag("grpc.method.package") == "test.pkg"
        assert span.get_tag("grpc.method.service") == "Echo"
        assert span.get_tag("grpc.method.name") == shape
        assert span.get_tag("grpc.method.kind") == KIND[shape]
        assert span.get_metric("_dd.measured") == 1
    assert client.get_tag("component") == component and server_span.get_tag("component") == server_component
    assert client.get_tag("grpc.host") == "127.0.0.1" and client.get_tag("network.destination.ip") == "127.0.0.1"


def sync_calls(channel):
    metadata = [("x-user", "someone"), ("trace-bin", b"\x00\x01\xff")]
    assert channel.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=metadata) == b"echo:hi"
    assert list(channel.unary_stream("/%s/US" % SERVICE)(b"x")) == [b"0", b"1", b"2"]
    assert channel.stream_unary("/%s/SU" % SERVICE)(iter([b"a", b"b"])) == b"ab"
    assert list(channel.stream_stream("/%s/SS" % SERVICE)(iter([b"a", b"b"]))) == [b"a", b"b"]
    assert metadata == [("x-user", "someone"), ("trace-bin", b"\x00\x01\xff")]  # the caller's list unchanged


def test_sync_calls_of_every_shape_continue_the_trace(server, patched):
    with patched.trace("caller") as caller:
        sync_calls(server.channel)
    spans = wait_spans(patched, 9)
    clients = [s for s in spans if s.get_tag("span.kind") == "client"]
    servers = {s.parent_id: s for s in spans if s.get_tag("span.kind") == "server"}
    assert [c.resource.rsplit("/", 1)[1] for c in clients] == list(SHAPES)
    for client, shape in zip(clients, SHAPES, strict=True):
        assert client.parent_id == caller.span_id and client.service == "grpc-client"
        assert client.get_tag("grpc.status.code") == "StatusCode.OK" and client.error == 0
        check_pair(client, servers[client.span_id], shape)
        assert servers[client.span_id].service == "grpc-server"
    # the handler ran under the server span; the caller's metadata arrived whole, with ours
    metadata, active = server.seen[0]
    assert active is servers[clients[0].span_id]
    keys = [m[0] for m in metadata]
    assert dict(metadata)["x-user"] == "someone" and dict(metadata)["trace-bin"] == b"\x00\x01\xff"
    assert dict(metadata)["x-datadog-parent-id"] == str(clients[0].span_id)
    assert dict(metadata)["x-datadog-trace-id"] == str(clients[0].trace_id & MASK64)
    assert "traceparent" in keys and all(isinstance(dict(metadata)[k], str) for k in keys if not k.endswith("-bin"))


def test_futures_errors_and_aborts(server, patched):
    uu = server.channel.unary_unary("/%s/UU" % SERVICE)
    with patched.trace("caller"):
        assert uu.future(b"later").result() == b"echo:later"
        with pytest.raises(grpc.RpcError) as aborted:
            uu(b"abort")
        assert aborted.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as raised:
            uu(b"boom")
        assert raised.value.code() == grpc.StatusCode.UNKNOWN
    spans = wait_spans(patched, 7)
    clients = [s for s in spans if s.get_tag("span.kind") == "client"]
    servers = {s.parent_id: s for s in spans if s.get_tag("span.kind") == "server"}
    ok, abort, boom = clients
    assert ok.error == 0 and servers[ok.span_id].error == 0
    assert abort.error == 1 and abort.get_tag("grpc.status.code") == "StatusCode.NOT_FOUND"
    assert abort.get_tag("error.type") == "StatusCode.NOT_FOUND" and abort.get_tag("error.message") == "no such thing"
    served = servers[abort.span_id]
    assert served.error == 1 and served.get_tag("error.type") == "StatusCode.NOT_FOUND"
    assert served.get_tag("error.message") == "no such thing" and served.get_tag("error.stack")
    assert boom.error == 1 and boom.get_tag("error.type") == "StatusCode.UNKNOWN"
    served = servers[boom.span_id]
    assert served.error == 1 and served.get_tag("error.type") == "builtins.ValueError"
    assert served.get_tag("error.message") == "boom"


def test_existing_trace_headers_are_replaced_not_repeated(server, patched):
    stale = [("x-datadog-trace-id", "1"), ("x-datadog-parent-id", "2"), ("x-user", "kept")]
    with patched.trace("caller"):
        server.channel.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=stale)
        server.channel.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=None)
    spans = wait_spans(patched, 5)
    client = [s for s in spans if s.get_tag("span.kind") == "client"][0]
    metadata = server.seen[0][0]
    assert [k for k, _ in metadata].count("x-datadog-trace-id") == 1
    assert dict(metadata)["x-datadog-parent-id"] == str(client.span_id) and dict(metadata)["x-user"] == "kept"
    assert dict(server.seen[1][0])["x-datadog-parent-id"]
    assert stale[0] == ("x-datadog-trace-id", "1")


HOSTILE = [
    [("x-datadog-trace-id", "9" * 6000), ("x-datadog-parent-id", "5")],  # huge
    [("x-datadog-trace-id", "12ab"), ("x-datadog-parent-id", "5")],  # not a number
    [("x-datadog-trace-id", "0"), ("x-datadog-parent-id", "5")],  # zero
    [("traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01")],  # invalid trace id
    # repeated: the last value counts, as in ddtrace (which reads dict(metadata)); grpc itself passes on
    # only the last traceparent
    [("x-datadog-trace-id", "1234"), ("x-datadog-trace-id", "junk"), ("x-datadog-parent-id", "5")],
]  # fmt: skip


@pytest.mark.parametrize("metadata", HOSTILE, ids=["huge", "nan", "zero", "bad-traceparent", "duplicate"])
def test_hostile_metadata_gives_no_parent_and_the_call_is_served(server, patched, prop, metadata):
    before = sum(prop.ERRORS.values())
    assert server.raw.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=metadata) == b"echo:hi"
    (span,) = wait_spans(patched, 1)
    assert span.parent_id is None
    assert sum(prop.ERRORS.values()) > before


class Context:
    """A servicer context carrying metadata grpc's own client refuses to send (non-ASCII text, values of
    other types), as a peer written in another language can."""

    def __init__(self, metadata):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata

    def code(self):
        return None


@pytest.mark.parametrize("metadata", [
    (("x-datadog-trace-id", "１２３"), ("x-datadog-parent-id", "5")),  # non-ASCII digits
    (("x-datadog-trace-id", "12\u00e9"), ("x-datadog-parent-id", "5")),
    (("x-datadog-trace-id", b"\xff\xfe"), ("x-datadog-parent-id", b"5")),
    (("x-datadog-trace-id", 12), ("x-datadog-parent-id", None)),
    (("x-datadog-trace-id",), "not a pair", None),
], ids=["fullwidth", "accent", "bytes", "not-text", "malformed"])  # fmt: skip
def test_metadata_no_client_would_send_gives_no_parent(patched, prop, metadata):
    before = sum(prop.ERRORS.values())
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: b"served")
    traced = dd_grpc._Handlers(dd_grpc._STATE["server"], {}).traced("/%s/UU" % SERVICE, handler)
    assert traced.unary_unary(b"hi", Context(metadata)) == b"served"
    (span,) = spans_of(patched)
    assert span.parent_id is None and span.name == "grpc"
    assert sum(prop.ERRORS.values()) > before


def test_distributed_tracing_off(traced, monkeypatch):
    monkeypatch.setenv("DD_GRPC_DISTRIBUTED_TRACING", "false")
    dd_grpc.patch(tracer=traced)
    try:
        served = SyncServer(traced)
        with traced.trace("caller"):
            served.channel.unary_unary("/%s/UU" % SERVICE)(b"hi")
        served.raw.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=[("x-datadog-trace-id", "77"),
                                                                    ("x-datadog-parent-id", "5")])  # fmt: skip
        served.close()
    finally:
        dd_grpc.unpatch()
    spans = wait_spans(traced, 4)
    assert "x-datadog-trace-id" not in dict(served.seen[0][0])  # nothing sent
    assert [s.parent_id for s in spans if s.get_tag("span.kind") == "server"] == [None, None]  # nothing continued


def test_nothing_is_traced_while_tracing_is_off(server, patched):
    patched.enabled = False
    try:
        assert server.channel.unary_unary("/%s/UU" % SERVICE)(b"hi") == b"echo:hi"
        assert list(server.channel.unary_stream("/%s/US" % SERVICE)(b"x")) == [b"0", b"1", b"2"]
    finally:
        patched.enabled = True
    assert spans_of(patched) == []
    assert "x-datadog-trace-id" not in dict(server.seen[0][0])


def test_the_applications_interceptors_run_after_ours(server, patched):
    seen = []

    class Interceptor(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            seen.append(dict(details.metadata or ()))
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel("127.0.0.1:%d" % server.port), Interceptor())
    with patched.trace("caller"):
        assert channel.unary_unary("/%s/UU" % SERVICE)(b"hi") == b"echo:hi"
    channel.close()
    assert "x-datadog-trace-id" in seen[0]
    assert len([s for s in wait_spans(patched, 3) if s.get_tag("span.kind") == "client"]) == 1


def test_server_interceptors_given_by_position_are_kept(patched):
    calls = []

    class Interceptor(grpc.ServerInterceptor):
        def intercept_service(self, continuation, details):
            calls.append(details.method)
            return continuation(details)

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(1), None, [Interceptor()])
    server.add_generic_rpc_handlers((grpc_driver.handlers(grpc, False),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        assert channel.unary_unary("/%s/UU" % SERVICE)(b"hi") == b"echo:hi"
    server.stop(None)
    assert calls == ["/%s/UU" % SERVICE]
    assert [s.get_tag("span.kind") for s in wait_spans(patched, 2)] == ["client", "server"]


def test_aio_calls_of_every_shape_continue_the_trace(patched):
    seen = []

    async def main():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc_driver.handlers(grpc, True, seen, patched.current_span),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()

        async def two():
            yield b"a"
            yield b"b"

        async with grpc.aio.insecure_channel("127.0.0.1:%d" % port) as channel:
            with patched.trace("caller") as caller:
                assert await channel.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=(("x-user", "me"),)) == b"echo:hi"
                assert [r async for r in channel.unary_stream("/%s/US" % SERVICE)(b"x")] == [b"0", b"1", b"2"]
                assert await channel.stream_unary("/%s/SU" % SERVICE)(two()) == b"ab"
                assert [r async for r in channel.stream_stream("/%s/SS" % SERVICE)(two())] == [b"a", b"b"]
                with pytest.raises(grpc.RpcError):
                    await channel.unary_unary("/%s/UU" % SERVICE)(b"abort")
        await server.stop(None)
        return caller

    caller = asyncio.run(main())
    spans = wait_spans(patched, 11)
    clients = [s for s in spans if s.get_tag("span.kind") == "client"]
    servers = {s.parent_id: s for s in spans if s.get_tag("span.kind") == "server"}
    for client, shape in zip(clients, SHAPES + ("UU",), strict=True):
        assert client.parent_id == caller.span_id and client.service == "grpc-aio-client"
        check_pair(client, servers[client.span_id], shape, "grpc_aio_client", "grpc_aio_server")
        assert servers[client.span_id].service == "grpc-aio-server"
    assert [c.get_tag("grpc.status.code") for c in clients] == ["StatusCode.OK"] * 4 + ["StatusCode.NOT_FOUND"]
    abort = clients[-1]
    assert abort.error == 1 and abort.get_tag("error.message") == "no such thing"
    assert servers[abort.span_id].error == 1 and servers[abort.span_id].get_tag("error.type") == "StatusCode.NOT_FOUND"
    metadata, active = seen[0]
    assert active is servers[clients[0].span_id]
    assert dict(metadata)["x-user"] == "me" and dict(metadata)["x-datadog-parent-id"] == str(clients[0].span_id)


def test_patch_is_known_to_ddfast_patch_and_undone_by_unpatch(traced):
    import ddfast
    from ddfast.contrib import _patch

    original = grpc.insecure_channel
    assert ddfast.patch(tracer=traced, grpc=True) == ["grpc"]
    try:
        assert ddfast.patch(tracer=traced, grpc=True) == []  # once only
        for owner, name in ((grpc, "insecure_channel"), (grpc, "secure_channel"), (grpc, "intercept_channel"),
                            (grpc, "server"), (grpc.aio, "insecure_channel"), (grpc.aio, "secure_channel"),
                            (grpc.aio, "server")):  # fmt: skip
            assert _patch.is_wrapped(owner, name), name
    finally:
        dd_grpc.unpatch()
    assert grpc.insecure_channel is original and not _patch.is_wrapped(grpc.aio, "server")


def test_ddfast_run_patches_grpc_when_the_program_imports_it():
    runner = os.path.join(os.path.dirname(sys.executable), "ddfast-run")
    code = "import grpc, grpc.aio; from ddfast.contrib import _patch; print(_patch.is_wrapped(grpc, 'server'))"
    env = dict(os.environ, **ENV)
    out = subprocess.run([runner, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"]
    env["DD_TRACE_GRPC_ENABLED"] = "false"
    out = subprocess.run([runner, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False"], out.stderr


# -- with ddtrace 4.16 on the other side ------------------------------------------------------------------


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDFAST_", "OTEL_"))}
    env.update(ENV)
    return env


def ddtrace_client(port, aio):
    """ddtrace's client calling ``port`` (its spans, as JSON)."""
    args = [sys.executable, DRIVER, "ddtrace", "client", str(port)] + (["aio"] if aio else [])
    proc = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


class DdtraceServer:
    """ddtrace's server in a subprocess; ``spans()`` stops it and returns what it traced."""

    def __init__(self, aio):
        args = [sys.executable, DRIVER, "ddtrace", "server"] + (["aio"] if aio else [])
        self.proc = subprocess.Popen(args, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), self.proc.stderr.read()[-3000:]
        self.port = int(line.split()[1])

    def spans(self):
        out, err = self.proc.communicate("stop\n", timeout=60)
        assert self.proc.returncode == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])["spans"]


#: what is compared of a span of ddtrace's and ddfast's (its tags; the port differs)
PARITY_TAGS = ("component", "span.kind", "rpc.service", "grpc.method.path", "grpc.method.package",
               "grpc.method.service", "grpc.method.name", "grpc.method.kind", "grpc.status.code", "grpc.host",
               "peer.hostname", "network.destination.ip", "error.type", "error.message")  # fmt: skip


def parity(span):
    """What a dashboard keys on of a span, from ddtrace's JSON or a ddfast span."""
    if isinstance(span, dict):
        tags, metrics = span["tags"], span["metrics"]
        head = (span["name"], span["service"], span["resource"], span["type"], span["error"])
    else:
        tags, metrics = span.get_tags(), span.get_metrics()
        head = (span.name, span.service, span.resource, span.span_type, span.error)
    port = tags.get("network.destination.port", metrics.get("network.destination.port"))
    return head + tuple(tags.get(k) for k in PARITY_TAGS) + (metrics.get("_dd.measured"), port is not None)


@pytest.mark.parametrize("aio", [False, True], ids=["sync", "aio"])
def test_ddtrace_client_continues_into_ddfast_server(patched, aio):
    seen = []
    if aio:

        async def main():
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((grpc_driver.handlers(grpc, True, seen),))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            try:
                return await asyncio.get_running_loop().run_in_executor(None, ddtrace_client, port, True)
            finally:
                await server.stop(None)

        theirs = asyncio.run(main())
    else:
        served = SyncServer(patched)
        try:
            theirs = ddtrace_client(served.port, False)
        finally:
            served.close()
    assert theirs["answers"]["UU"] == "echo:hi" and theirs["answers"]["abort"] == "StatusCode.NOT_FOUND"
    ours = [s for s in wait_spans(patched, 5) if s.get_tag("span.kind") == "server"]
    clients = {s["span_id"]: s for s in theirs["spans"] if s["tags"].get("span.kind") == "client"}
    assert len(ours) == len(clients) == 5
    for span in ours:
        parent = clients[span.parent_id]
        assert span.trace_id & MASK64 == parent["trace_id"] and span.resource == parent["resource"]


@pytest.mark.parametrize("aio", [False, True], ids=["sync", "aio"])
def test_ddfast_client_continues_into_ddtrace_server(patched, aio):
    server = DdtraceServer(aio)
    try:
        answers = {}
        if aio:

            async def main():
                async def two():
                    yield b"a"
                    yield b"b"

                async with grpc.aio.insecure_channel("127.0.0.1:%d" % server.port) as channel:
                    answers["UU"] = await channel.unary_unary("/%s/UU" % SERVICE)(b"hi")
                    answers["US"] = [r async for r in channel.unary_stream("/%s/US" % SERVICE)(b"x")]
                    answers["SU"] = await channel.stream_unary("/%s/SU" % SERVICE)(two())
                    answers["SS"] = [r async for r in channel.stream_stream("/%s/SS" % SERVICE)(two())]
                    with pytest.raises(grpc.RpcError):
                        await channel.unary_unary("/%s/UU" % SERVICE)(b"abort")

            with patched.trace("caller"):
                asyncio.run(main())
        else:
            with patched.trace("caller"), grpc.insecure_channel("127.0.0.1:%d" % server.port) as channel:
                sync_calls(channel)
                with pytest.raises(grpc.RpcError):
                    channel.unary_unary("/%s/UU" % SERVICE)(b"abort")
    finally:
        theirs = server.spans()
    ours = [s for s in wait_spans(patched, 6) if s.get_tag("span.kind") == "client"]
    assert len(ours) == len(theirs) == 5
    by_id = {s.span_id: s for s in ours}
    for span in theirs:
        parent = by_id[span["parent_id"]]
        assert span["trace_id"] == parent.trace_id & MASK64 and span["resource"] == parent.resource


def _ddfast_fixes(span):
    """A grpc.aio span of ddtrace's as ddfast makes it: a response stream that ended well has its status
    (ddtrace's done callback fails to read it), and a handler that aborted has the status as its
    ``error.type`` (as ddtrace's sync server has; its aio server compares the status with numbers)."""
    span = list(span)
    status, error_type = 5 + PARITY_TAGS.index("grpc.status.code"), 5 + PARITY_TAGS.index("error.type")
    if span[6] == "client" and span[12].endswith("streaming") and span[status] is None and not span[4]:
        span[status] = "StatusCode.OK"
    if span[6] == "server" and span[error_type] == "grpc._cython.cygrpc.AbortError":
        span[error_type] = "StatusCode.NOT_FOUND"
    return tuple(span)


@pytest.mark.parametrize("aio", [False, True], ids=["sync", "aio"])
def test_spans_equal_ddtraces(kind, aio):
    """The same calls between two processes traced by ddtrace, then by ddfast (this twin): client and
    server spans agree in name, service, resource, type, error and the gRPC tags."""
    spans = {}
    for which in ("ddtrace", "ddfast"):
        env = _env()
        if kind == "python":
            env["DDFAST_NO_EXTENSIONS"] = "1"
        args = [sys.executable, DRIVER, which, "server"] + (["aio"] if aio else [])
        proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        port = int(proc.stdout.readline().split()[1])
        args = [sys.executable, DRIVER, which, "client", str(port)] + (["aio"] if aio else [])
        client = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        out, err = proc.communicate("stop\n", timeout=60)
        assert client.returncode == 0 and proc.returncode == 0, client.stderr[-2000:] + err[-2000:]
        served = json.loads(out.strip().splitlines()[-1])["spans"]
        called = json.loads(client.stdout.strip().splitlines()[-1])["spans"]
        spans[which] = sorted((parity(s) for s in served + called if s["tags"].get("span.kind")), key=repr)
    if aio:  # where ddfast differs on purpose (see ddfast.contrib.grpc)
        spans["ddtrace"] = sorted((_ddfast_fixes(s) for s in spans["ddtrace"]), key=repr)
    ours, theirs = spans["ddfast"], spans["ddtrace"]
    assert ours == theirs, (sorted(set(ours) - set(theirs), key=repr), sorted(set(theirs) - set(ours), key=repr))


@pytest.mark.parametrize("env, names", [
    ({"DD_GRPC_SERVICE": "billing-client", "DD_GRPC_SERVER_SERVICE": "billing"},
     ("grpc", "billing-client", "grpc", "billing")),
    ({"DD_TRACE_SPAN_ATTRIBUTE_SCHEMA": "v1"}, ("grpc.client.request", "app", "grpc.server.request", "app")),
    ({"DD_TRACE_REMOVE_INTEGRATION_SERVICE_NAMES_ENABLED": "true"}, ("grpc", "app", "grpc", "app")),
    ({}, ("grpc", "grpc-client", "grpc", "app")),  # a server takes DD_SERVICE, a client its own service
], ids=["services", "schema-v1", "no-integration-services", "dd-service"])  # fmt: skip
def test_names_and_services_follow_ddtraces_settings(traced, monkeypatch, env, names):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    traced._state.service = "app"  # DD_SERVICE
    dd_grpc.patch(tracer=traced)
    try:
        served = SyncServer(traced)
        with traced.trace("caller"):
            assert served.channel.unary_unary("/%s/UU" % SERVICE)(b"hi") == b"echo:hi"
        served.close()
    finally:
        dd_grpc.unpatch()
    spans = wait_spans(traced, 3)
    (client,) = [s for s in spans if s.get_tag("span.kind") == "client"]
    (server_span,) = [s for s in spans if s.get_tag("span.kind") == "server"]
    assert (client.name, client.service, server_span.name, server_span.service) == names
    assert server_span.parent_id == client.span_id


def test_secure_channels_are_traced_too(patched):
    """``grpc.secure_channel`` and ``grpc.aio.secure_channel`` (the credentials come before the options and
    interceptors), here with local credentials over loopback TCP."""
    tcp = grpc.LocalConnectionType.LOCAL_TCP
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((grpc_driver.handlers(grpc, False),))
    port = server.add_secure_port("127.0.0.1:0", grpc.local_server_credentials(tcp))
    server.start()
    try:
        with patched.trace("caller"):
            with grpc.secure_channel("127.0.0.1:%d" % port, grpc.local_channel_credentials(tcp)) as channel:
                assert channel.unary_unary("/%s/UU" % SERVICE)(b"hi") == b"echo:hi"

            async def aio_call():
                credentials = grpc.local_channel_credentials(tcp)
                async with grpc.aio.secure_channel("127.0.0.1:%d" % port, credentials, None, None, []) as channel:
                    return await channel.unary_unary("/%s/UU" % SERVICE)(b"aio")

            assert asyncio.run(aio_call()) == b"echo:aio"
    finally:
        server.stop(None)
    spans = wait_spans(patched, 5)
    clients = [s for s in spans if s.get_tag("span.kind") == "client"]
    servers = {s.parent_id: s for s in spans if s.get_tag("span.kind") == "server"}
    assert [c.get_tag("component") for c in clients] == ["grpc", "grpc_aio_client"]
    assert all(servers[c.span_id].trace_id == c.trace_id for c in clients)


def test_a_response_stream_cancelled_by_the_client_ends_its_span_as_an_error(server, patched):
    with patched.trace("caller"):
        responses = server.channel.unary_stream("/%s/US" % SERVICE)(b"x")
        assert next(responses) == b"0"
        responses.cancel()
    client = [s for s in wait_spans(patched, 2) if s.get_tag("span.kind") == "client"][0]
    assert client.error == 1 and client.get_tag("grpc.status.code") == "StatusCode.CANCELLED"
    assert client.get_tag("error.type") == "StatusCode.CANCELLED"


def test_an_aio_status_not_readable_at_once_is_read_by_a_task(traced):
    """The done callback reads a grpc.aio call's status without waiting; where it would wait, a task
    reads it and ends the span."""

    class Call:
        def __init__(self):
            self.waited = asyncio.get_running_loop().create_future()

        async def code(self):
            await self.waited
            return grpc.StatusCode.UNAVAILABLE

        async def details(self):
            return "gone"

    async def main():
        call = Call()
        span = traced.trace("grpc")
        dd_grpc._aio_client_done(span, grpc.StatusCode.OK, call)
        assert not span.finished
        call.waited.set_result(None)
        for _ in range(10):
            await asyncio.sleep(0)
        return span

    span = asyncio.run(main())
    assert span.finished and span.error == 1
    assert span.get_tag("grpc.status.code") == "StatusCode.UNAVAILABLE" and span.get_tag("error.message") == "gone"
