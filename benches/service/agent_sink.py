"""A light stand-in for the Datadog agent and an OTLP collector: takes traces, counts them, drops them.

It answers as the agent does (``/v0.4/traces`` and ``/v0.5/traces`` with a ``rate_by_service`` reply,
msgpack decoded; ``/v1/traces`` as OTLP/HTTP protobuf) and says ``404`` to everything else (``/info``,
telemetry), which the tracers take as "feature absent". It counts payloads, spans and requests: the
spans whose parent is ``ROOT_PARENT_ID``, the span id every benchmark request arrives with, one local
root per request whatever the tracer (a tracer may put several requests of one trace in one chunk).
``GET /__stats`` gives the counts as JSON, ``POST /__reset`` zeroes them.

    python -m benches.service.agent_sink PORT [ROOT_PARENT_ID]
"""

import asyncio
import json
import sys

import msgpack

RATES = json.dumps({"rate_by_service": {"service:,env:": 1.0}}).encode()
ROOT_PARENT_ID = None


def new_stats():
    # traces: the requests' local roots (see the module docstring); chunks: Datadog trace chunks
    return {"payloads": 0, "traces": 0, "chunks": 0, "spans": 0, "by_endpoint": {}, "errors": 0}


stats = new_stats()


def count_datadog(path, body):
    payload = msgpack.unpackb(body, raw=True, strict_map_key=False)
    v05 = path == "/v0.5/traces"
    traces = payload[1] if v05 else payload
    stats["chunks"] += len(traces)
    for trace in traces:
        stats["spans"] += len(trace)
        for span in trace:
            parent = span[5] if v05 else span.get(b"parent_id")
            stats["traces"] += parent == ROOT_PARENT_ID


def count_otlp(body):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                stats["spans"] += 1
                parent = int.from_bytes(span.parent_span_id, "big") if span.parent_span_id else None
                stats["traces"] += parent == ROOT_PARENT_ID


def handle(method, path, body):
    """(status, content type, body) of the answer to one request."""
    global stats
    if path == "/__stats":
        return 200, "application/json", json.dumps(stats).encode()
    if path == "/__reset":
        stats = new_stats()
        return 200, "application/json", b"{}"
    if path in ("/v0.4/traces", "/v0.5/traces", "/v1/traces") and method in ("PUT", "POST"):
        stats["payloads"] += 1
        stats["by_endpoint"][path] = stats["by_endpoint"].get(path, 0) + 1
        try:
            if path == "/v1/traces":
                count_otlp(body)
                return 200, "application/x-protobuf", b""
            count_datadog(path, body)
        except Exception:
            stats["errors"] += 1
            return 400, "text/plain", b"undecodable"
        return 200, "application/json", RATES
    return 404, "text/plain", b"not found"


class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", ""):
                body, rest = self._dechunk(self.buffer[end + 4 :])
                if body is None:
                    return
            else:
                length = int(headers.get("content-length") or 0)
                if len(self.buffer) < end + 4 + length:
                    return
                body, rest = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
            self.buffer = rest
            status, ctype, answer = handle(method, path.split("?")[0], body)
            self.transport.write(
                b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (status, ctype.encode(), len(answer), answer)
            )

    @staticmethod
    def _dechunk(data):
        body, at = b"", 0
        while True:
            eol = data.find(b"\r\n", at)
            if eol < 0:
                return None, data
            size = int(data[at:eol].split(b";")[0], 16)
            if len(data) < eol + 2 + size + 2:
                return None, data
            body += data[eol + 2 : eol + 2 + size]
            at = eol + 2 + size + 2
            if size == 0:
                return body, data[at:]


async def serve(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        ROOT_PARENT_ID = int(sys.argv[2])
    asyncio.run(serve(int(sys.argv[1])))
