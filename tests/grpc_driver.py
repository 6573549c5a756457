"""A gRPC server or client traced by ddtrace or by ddfast, in a process of its own (the two tracers never
patch one process), for ``tests/test_contrib_grpc.py``: the services are defined without protoc, with
grpc's generic handlers and bytes messages.

    python grpc_driver.py ddtrace|ddfast server [aio]
        serves ``test.pkg.Echo`` on a free loopback port, prints ``PORT <n>``, and when a line arrives on
        stdin stops and prints the spans it made as JSON
    python grpc_driver.py ddtrace|ddfast client PORT [aio]
        inside a ``caller`` span calls UU, US, SU, SS and UU with ``abort`` on the port, prints the spans
        as JSON (with what each call answered)
"""

import asyncio
import concurrent.futures
import json
import sys

from capture_writer import CaptureWriter as Capture

SERVICE = "test.pkg.Echo"
MASK64 = (1 << 64) - 1


def describe(span):
    return {
        "name": span.name,
        "service": span.service,
        "resource": span.resource,
        "type": span.span_type,
        "error": int(span.error),
        "trace_id": span.trace_id & MASK64,
        "span_id": span.span_id,
        "parent_id": span.parent_id or 0,
        "tags": {k: v for k, v in span.get_tags().items() if not k.startswith("_dd.p.") and k != "runtime-id"},
        "metrics": dict(span.get_metrics()),
    }


def setup(which):
    capture = Capture()
    if which == "ddtrace":
        import ddtrace
        from ddtrace.trace import tracer

        tracer._span_aggregator.writer = capture
        ddtrace.patch(grpc=True)
    else:
        import ddfast
        from ddfast.tracer import tracer

        tracer.writer = capture
        ddfast.patch(grpc=True)
    return tracer, capture


def handlers(grpc, aio, seen=None, active=None):
    """``test.pkg.Echo``'s handlers; UU appends ``(its metadata, active())`` to ``seen`` when given, raises
    on ``boom`` and aborts with NOT_FOUND on ``abort``."""

    def record(context):
        if seen is not None:
            seen.append((context.invocation_metadata(), active() if active else None))

    if aio:

        async def uu(request, context):
            record(context)
            if request == b"boom":
                raise ValueError("boom")
            if request == b"abort":
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
            return b"echo:" + request

        async def us(request, context):
            for i in range(3):
                yield b"%d" % i

        async def su(requests, context):
            return b"".join([r async for r in requests])

        async def ss(requests, context):
            async for r in requests:
                yield r

    else:

        def uu(request, context):
            record(context)
            if request == b"boom":
                raise ValueError("boom")
            if request == b"abort":
                context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
            return b"echo:" + request

        def us(request, context):
            for i in range(3):
                yield b"%d" % i

        def su(requests, context):
            return b"".join(requests)

        def ss(requests, context):
            yield from requests

    return grpc.method_handlers_generic_handler(SERVICE, {
        "UU": grpc.unary_unary_rpc_method_handler(uu), "US": grpc.unary_stream_rpc_method_handler(us),
        "SU": grpc.stream_unary_rpc_method_handler(su), "SS": grpc.stream_stream_rpc_method_handler(ss),
    })  # fmt: skip


def serve(which, aio):
    tracer, capture = setup(which)
    import grpc

    if aio:

        async def main():
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((handlers(grpc, True),))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            print("PORT %d" % port, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            await server.stop(None)

        asyncio.run(main())
    else:
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
        server.add_generic_rpc_handlers((handlers(grpc, False),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print("PORT %d" % port, flush=True)
        sys.stdin.readline()
        server.stop(None)
    print(json.dumps({"spans": [describe(s) for s in capture.spans]}), flush=True)


def call(which, port, aio):
    tracer, capture = setup(which)
    import grpc

    target = "127.0.0.1:%d" % port
    answers = {}
    metadata = (("x-user", "someone"), ("trace-bin", b"\x00\x01\xff"))
    if aio:

        async def main():
            async def requests():
                yield b"a"
                yield b"b"

            async with grpc.aio.insecure_channel(target) as channel:
                answers["UU"] = (await channel.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=metadata)).decode()
                answers["US"] = [r.decode() async for r in channel.unary_stream("/%s/US" % SERVICE)(b"x")]
                answers["SU"] = (await channel.stream_unary("/%s/SU" % SERVICE)(requests())).decode()
                answers["SS"] = [r.decode() async for r in channel.stream_stream("/%s/SS" % SERVICE)(requests())]
                try:
                    await channel.unary_unary("/%s/UU" % SERVICE)(b"abort")
                except grpc.RpcError as exc:
                    answers["abort"] = str(exc.code())

        with tracer.trace("caller"):
            asyncio.run(main())
    else:
        channel = grpc.insecure_channel(target)
        with tracer.trace("caller"):
            answers["UU"] = channel.unary_unary("/%s/UU" % SERVICE)(b"hi", metadata=metadata).decode()
            answers["US"] = [r.decode() for r in channel.unary_stream("/%s/US" % SERVICE)(b"x")]
            answers["SU"] = channel.stream_unary("/%s/SU" % SERVICE)(iter([b"a", b"b"])).decode()
            answers["SS"] = [r.decode() for r in channel.stream_stream("/%s/SS" % SERVICE)(iter([b"a", b"b"]))]
            try:
                channel.unary_unary("/%s/UU" % SERVICE)(b"abort")
            except grpc.RpcError as exc:
                answers["abort"] = str(exc.code())
        channel.close()
    print(json.dumps({"answers": answers, "spans": [describe(s) for s in capture.spans]}), flush=True)


if __name__ == "__main__":
    which, mode = sys.argv[1], sys.argv[2]
    if mode == "server":
        serve(which, "aio" in sys.argv[3:])
    else:
        call(which, int(sys.argv[3]), "aio" in sys.argv[4:])
