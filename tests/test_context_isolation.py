"""Context isolation under concurrency: 500 concurrent requests (over 50 kept-alive connections, so that
requests follow each other on one connection, and aiohttp serves them in one task) to a real server,
half carrying a caller's trace (each its own trace id, datadog and W3C headers in turn), half none. Every
server span lands in its own request's trace: with headers, the incoming trace id and parent id;
without, a fresh trace id that no other request shares; a span the handler makes (across awaits) is the
child of its request's server span, never of another request's. Servers: uvicorn serving a Starlette
app under ``ddfast-run`` (``ddfast.contrib.asgi``), and aiohttp's server with
``ddfast.contrib.aiohttp.trace_app``; traces collected by a fake agent that decodes them. Both twins."""

import asyncio
import os
import random
import subprocess
import sys
import time

import msgpack
import pytest
from fault_agent import FaultAgent
from integration_helpers import free_port

aiohttp = pytest.importorskip("aiohttp")

REQUESTS = 500
CONNECTIONS = 50
MASK = 2**64 - 1
RUNNER = os.path.join(os.path.dirname(sys.executable), "ddfast-run")

# each handler awaits twice (so requests interleave on the loop), makes a span and reports what it saw
STARLETTE_APP = """
import asyncio, random

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ddfast import tracer


async def req(request):
    await asyncio.sleep(random.random() * 0.01)
    with tracer.trace("handler.work") as work:
        await asyncio.sleep(random.random() * 0.01)
        current = tracer.current_span()
    return JSONResponse({"trace_id": work.trace_id & (2**64 - 1), "parent_id": work.parent_id,
                         "current": current is work})


app = Starlette(routes=[Route("/req/{n:int}", req)])
"""

AIOHTTP_APP = """
import asyncio, random, sys

from aiohttp import web

import ddfast.contrib.aiohttp
from ddfast import tracer


async def req(request):
    await asyncio.sleep(random.random() * 0.01)
    with tracer.trace("handler.work") as work:
        await asyncio.sleep(random.random() * 0.01)
        current = tracer.current_span()
    return web.json_response({"trace_id": work.trace_id & (2**64 - 1), "parent_id": work.parent_id,
                              "current": current is work})


app = web.Application()
app.router.add_get("/req/{n}", req)
ddfast.contrib.aiohttp.trace_app(app)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


class SpanAgent(FaultAgent):
    """The fake agent, keeping every span it receives (decoded, v0.4 or v0.5) in ``spans_received``."""

    def __init__(self):
        super().__init__()
        self.spans_received = []

    def _count(self, path, body):
        super()._count(path, body)
        data = msgpack.unpackb(body, raw=False, strict_map_key=False)
        spans = []
        if path.endswith("v0.5/traces"):
            strings, traces = data
            for trace in traces:
                for s in trace:
                    spans.append({
                        "name": strings[s[1]], "trace_id": s[3], "span_id": s[4], "parent_id": s[5],
                        "meta": {strings[k]: strings[v] for k, v in s[9].items()},
                    })  # fmt: skip
        else:
            spans = [span for trace in data for span in trace]
        with self.lock:
            self.spans_received.extend(spans)


def _requests():
    """``[(n, headers, (trace id, parent id) or None)]``: half with a caller's trace, in turn datadog and
    W3C, half without, shuffled."""
    rng = random.Random(1234)
    out = []
    for n in range(REQUESTS):
        if n % 2:
            out.append((n, {}, None))
            continue
        trace_id, parent_id = rng.getrandbits(64) | 1, rng.getrandbits(64) | 1
        if n % 4 == 0:
            headers = {"x-datadog-trace-id": str(trace_id), "x-datadog-parent-id": str(parent_id),
                       "x-datadog-sampling-priority": "1"}  # fmt: skip
        else:
            high = rng.getrandbits(64)
            headers = {"traceparent": "00-%016x%016x-%016x-01" % (high, trace_id, parent_id)}
        out.append((n, headers, (trace_id, parent_id)))
    rng.shuffle(out)
    return out


async def _send_all(port, requests):
    """Every request, ``CONNECTIONS`` kept-alive connections at a time; ``{n: the handler's answer}``."""
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, force_close=False)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[]) as session:

        async def one(n, headers):
            async with session.get("http://127.0.0.1:%d/req/%d" % (port, n), headers=headers) as response:
                assert response.status == 200, await response.text()
                return n, await response.json()

        return dict(await asyncio.gather(*(one(n, headers) for n, headers, _ in requests)))


def _wait_until_up(proc, port):
    deadline = time.monotonic() + 60
    while True:
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server did not start:\n" + proc.communicate()[0].decode()[-3000:]) from None
            time.sleep(0.2)


def _serve(tmp_path, server, kind, agent):
    port = free_port()
    env = dict(os.environ, DD_TRACE_AGENT_URL=agent.url, DD_SERVICE="iso", DD_TRACE_WRITER_INTERVAL_SECONDS="0.2")
    # a payload whose answer comes after the agent timeout is sent again (at least once, by design): the
    # fake agent, in the test's process, may be that slow on a loaded machine, and a copy would look like
    # two requests sharing a trace
    env["DD_TRACE_AGENT_TIMEOUT_SECONDS"] = "25"
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    if server == "uvicorn":
        (tmp_path / "app.py").write_text(STARLETTE_APP)
        args = [RUNNER, "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "app:app"]
    else:
        (tmp_path / "app.py").write_text(AIOHTTP_APP)
        args = [sys.executable, "app.py", str(port)]
    proc = subprocess.Popen(args, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_until_up(proc, port)
    return proc, port


def _spans_of_requests(agent, expected):
    """``({n: server span}, {n: handler span})`` once the agent has all of them (each server span
    found by its URL, whatever the integration names it)."""
    deadline = time.monotonic() + 60
    while True:
        with agent.lock:
            spans = list(agent.spans_received)
        servers = [s for s in spans if s["meta"].get("span.kind") == "server"]
        work = [s for s in spans if s["name"] == "handler.work"]
        if len(servers) >= expected and len(work) >= expected or time.monotonic() > deadline:
            return spans, servers, work
        time.sleep(0.2)


@pytest.mark.parametrize("server", ["uvicorn", "aiohttp"])
@pytest.mark.parametrize("kind", ["cython", "python"])
def test_every_request_has_its_own_trace(tmp_path, server, kind):
    agent = SpanAgent().start()
    proc, output = None, ""
    try:
        proc, port = _serve(tmp_path, server, kind, agent)
        requests = _requests()
        answers = asyncio.run(_send_all(port, requests))
        spans, servers, work = _spans_of_requests(agent, REQUESTS)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                output = proc.communicate(timeout=15)[0].decode()
            except subprocess.TimeoutExpired:
                proc.kill()
                output = proc.communicate()[0].decode()
        agent.close()
    assert "Traceback" not in output, output[-3000:]
    by_n = {}
    for span in servers:  # one server span per request, found by its URL
        n = int(span["meta"]["http.url"].rsplit("/", 1)[1])
        assert n not in by_n, "two server spans for request %d" % n
        by_n[n] = span
    assert sorted(by_n) == list(range(REQUESTS))
    # no two requests share a trace
    assert len({s["trace_id"] for s in servers}) == REQUESTS
    incoming_ids = {expected[0] for _, _, expected in requests if expected is not None}
    for n, _, expected in requests:
        span = by_n[n]
        if expected is not None:  # continues its caller's trace, under the caller's span
            assert (span["trace_id"], span["parent_id"]) == expected, n
        else:  # a fresh trace: a root, with an id no caller sent
            assert span["parent_id"] == 0 and span["trace_id"] not in incoming_ids, n
        # the handler's span, made across awaits, is its own request's server span's child
        answer = answers[n]
        assert answer["current"] is True
        assert (answer["trace_id"], answer["parent_id"]) == (span["trace_id"], span["span_id"]), n
    handler_parents = sorted((s["trace_id"], s["parent_id"]) for s in work)
    assert handler_parents == sorted((s["trace_id"], s["span_id"]) for s in servers)
    assert len(spans) == 2 * REQUESTS
