"""gRPC per call: what tracing adds to one unary call on each side, ddfast compiled vs pure vs ddtrace
4.16's interceptors, measured in one run, without I/O (grpc's own call machinery is the same under
both tracers and is left out).

- ``grpc: client call``: the client interceptor around one call: a client span (no span is active: the
  call's span is its trace's root), its context appended to the call's metadata, the call (a stub that
  has ended with OK), its status tagged, the span finished and its trace handed to a writer that drops it.
- ``grpc: server call``: the server interceptor for one call and the traced handler: the caller's
  context read from the call's metadata (as grpc hands it over: a tuple of ``(key, value)`` pairs with
  the default styles' headers and the usual others), a server span under it, the handler (returns at
  once), the span finished.
"""

import collections

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin

grpc = pytest.importorskip("grpc")

METHOD = "/test.pkg.Echo/UU"
Metadatum = collections.namedtuple("_Metadatum", ("key", "value"))  # what grpc's servers hand over


class Outcome:
    """A unary call that has ended with OK, as grpc's interceptors get it from the continuation."""

    def code(self):
        return grpc.StatusCode.OK

    def details(self):
        return None

    def cancelled(self):
        return False

    def exception(self, timeout=None):
        return None

    def traceback(self, timeout=None):
        return None

    def add_done_callback(self, fn):
        fn(self)


OUTCOME = Outcome()


def continuation(details, request):
    return OUTCOME


class ServicerContext(grpc.ServicerContext):
    """A server call's context carrying ``metadata``."""

    def __init__(self, metadata):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata

    def code(self):
        return None

    def details(self):
        return None

    def __getattr__(self, name):  # the rest of the abstract interface, unused here
        raise AttributeError(name)


ServicerContext.__abstractmethods__ = frozenset()


class HandlerCallDetails(grpc.HandlerCallDetails):
    def __init__(self, method, metadata):
        self.method = method
        self.invocation_metadata = metadata


def _incoming_metadata():
    """The metadata of a call from a traced client (default styles), as a server receives it."""
    from ddfast.context import Context
    from ddfast.propagation import HTTPPropagator

    headers = {}
    context = Context(trace_id=0x6B06331600000000CFC2EF2D8C3C8F69, span_id=0x1234567890ABCDEF, sampling_priority=1)
    HTTPPropagator.inject(context, headers)
    pairs = [("user-agent", "grpc-python/1.85.4 grpc-c/58.0.0 (linux; chttp2)"), ("x-user", "someone")]
    return tuple(Metadatum(k, v) for k, v in pairs + list(headers.items()))


class Sides:
    """One implementation's client interceptor and server interceptor, and how to undo their setup."""

    def __init__(self, impl):
        if impl == "ddtrace":
            import ddtrace.contrib.internal.grpc.patch  # noqa: F401  (registers the integration's settings)
            from ddtrace.contrib.internal.grpc.client_interceptor import create_client_interceptor
            from ddtrace.contrib.internal.grpc.server_interceptor import create_server_interceptor
            from ddtrace.trace import tracer

            tracer._span_aggregator.writer = NullWriter()
            self.tracer = tracer
            self.client = create_client_interceptor("127.0.0.1", 50051)
            self.server = create_server_interceptor()
            self.undo = lambda: None
            return
        from ddfast.contrib import grpc as dd_grpc
        from ddfast.tracer import Tracer

        core = (twin("span", impl), twin("sampling", impl), twin("propagation", impl))
        self.tracer = Tracer(writer=NullWriter(), sampler=core[1].DatadogSampler(rules=[]), _core=core)
        dd_grpc.patch(tracer=self.tracer)
        try:
            channel = grpc.insecure_channel("127.0.0.1:50051")  # made, never connected
            self.client = channel._interceptor
            self.server = dd_grpc._STATE["server_interceptor"]()
        finally:
            dd_grpc.unpatch()
        self.undo = channel.close


@pytest.fixture
def sides(impl):
    made = Sides(impl)
    yield made
    made.undo()


@pytest.mark.benchmark(group="grpc: client call (span + inject into metadata)")
def test_client_call(benchmark, sides):
    from grpc._interceptor import _ClientCallDetails

    details = _ClientCallDetails(METHOD, None, [("x-user", "someone")], None, None, None)
    intercept = sides.client.intercept_unary_unary
    sent = []

    def call_details(new_details, request):
        sent.append(new_details)
        return OUTCOME

    # no span around the calls: each call's span is a trace of its own, finished and handed to the writer
    # within the call (under one open parent, every round would add to one ever-growing trace)
    assert sides.tracer.current_span() is None
    intercept(call_details, details, b"hi")
    assert any(key == "x-datadog-trace-id" for key, _ in sent[0].metadata)
    benchmark(intercept, continuation, details, b"hi")


@pytest.mark.benchmark(group="grpc: server call (extract + span)")
def test_server_call(benchmark, sides):
    metadata = _incoming_metadata()
    details = HandlerCallDetails(METHOD, metadata)
    context = ServicerContext(metadata)
    seen = []

    def behaviour(request, context):
        seen.append(sides.tracer.current_span())
        return b"ok"

    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    intercept = sides.server.intercept_service

    def serve_one():
        return intercept(lambda _: handler, details).unary_unary(b"hi", context)

    assert serve_one() == b"ok"
    assert seen[0].parent_id == 0x1234567890ABCDEF
    seen.clear()
    benchmark(serve_one)
