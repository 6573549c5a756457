"""The agent writer (both encoders) against a scripted agent on a loopback port or unix socket: what it
sends, and the faults: agent down, 5xx, hanging, 4xx, payloads over the limits, fork. Nothing blocks
the caller, every trace not delivered is counted, nothing is sent twice."""

import http.server
import logging
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time

import msgpack
import pytest

from ddfast.settings import AgentURL
from ddfast.settings import Config
from ddfast.settings import agent_url
from ddfast.writer import AgentWriter


class FakeAgent:
    """An HTTP agent whose answers the test scripts: ``answers`` is a list of ``(status, body)`` used
    in turn (the last one repeats); ``hold`` (an Event) blocks each request until set."""

    def __init__(self, unix_path=None):
        self.requests = []
        self.times = []
        self.answers = [(200, b'{"rate_by_service": {}}')]
        self.hold = None
        self.received = threading.Event()
        self.lock = threading.Lock()
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with agent.lock:
                    agent.requests.append((self.path, dict(self.headers), body))
                    agent.times.append(time.monotonic())
                    status, answer, *extra = agent.answers[min(len(agent.requests), len(agent.answers)) - 1]
                agent.received.set()
                if agent.hold is not None:
                    agent.hold.wait(10)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

            def address_string(self):
                return "agent-test"

        if unix_path is None:
            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        else:

            class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
                daemon_threads = True

            self.server = UnixServer(unix_path, Handler)
            self.url = "unix://" + unix_path
        self.server.daemon_threads = True
        # a client that gave up (timeout tests) breaks the pipe: expected, not worth a traceback
        self.server.handle_error = lambda request, client_address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def traces(self):
        """Every trace received, as lists of (trace_id, span_id) (decoding v0.4 and v0.5)."""
        out = []
        for path, _, body in self.requests:
            data = msgpack.unpackb(body, strict_map_key=False)
            if path.endswith("v0.5/traces"):
                out.extend([[(s[3], s[4]) for s in trace] for trace in data[1]])
            else:
                out.extend([[(s["trace_id"], s["span_id"]) for s in trace] for trace in data])
        return out

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def agent():
    fake = FakeAgent()
    yield fake
    fake.close()


def trace(spanmod, trace_id, n=1, tag="v", start=None):
    spans = []
    for i in range(n):
        s = spanmod.Span("op", service="svc", trace_id=trace_id, span_id=i + 1, parent_id=i or None, start=start)
        s.set_tag("k", tag)
        s.finish(finish_time=None if start is None else start + 0.5)
        spans.append(s)
    return spans


@pytest.fixture
def make_writer(encoding):
    writers = []

    def make(url, **kwargs):
        kwargs.setdefault("interval", 60.0)  # sends happen when the test says (flush_queue / stop)
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("retry_seconds", 0.5)  # a short retry window: a failing agent fails fast here
        w = AgentWriter(url, _encoding=encoding, **kwargs)
        writers.append(w)
        return w

    yield make
    for w in writers:
        w.stop(timeout=1)


def wait_for(condition, seconds=30):
    """Poll ``condition`` until it holds (the sender works in its own thread)."""
    done = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not met in %ss" % seconds)


def free_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % s.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.parametrize("version", ["v0.4", "v0.5"])
def test_sends_traces_with_the_headers_the_agent_expects(agent, make_writer, spanmod, version):
    rates = []
    agent.answers = [(200, b'{"rate_by_service": {"service:svc,env:prod": 0.5}}')]
    w = make_writer(agent.url, api_version=version, on_rates=rates.append)
    w.write(trace(spanmod, 11, 2))
    w.write(trace(spanmod, 12))
    assert len(w) == 2
    w.flush_queue()
    ((path, headers, body),) = agent.requests
    assert path == "/%s/traces" % version
    assert headers["Content-Type"] == "application/msgpack"
    assert headers["X-Datadog-Trace-Count"] == "2"
    assert headers["Datadog-Meta-Lang"] == "python"
    assert headers["Datadog-Meta-Lang-Version"] == ".".join(map(str, sys.version_info[:3]))
    assert headers["Datadog-Meta-Lang-Interpreter"] == "CPython"
    assert headers["Datadog-Meta-Tracer-Version"]
    assert agent.traces() == [[(11, 1), (11, 2)], [(12, 1)]]
    assert rates == [{"service:svc,env:prod": 0.5}]
    assert (w.sent_traces, w.sent_payloads, w.dropped_traces, len(w)) == (2, 1, 0, 0)


def test_background_thread_sends_on_its_interval(agent, make_writer, spanmod):
    w = make_writer(agent.url, interval=0.05)
    w.write(trace(spanmod, 21))
    assert agent.received.wait(5)
    assert agent.traces() == [[(21, 1)]]


def test_unix_socket_agent(tmp_path, make_writer, spanmod):
    fake = FakeAgent(unix_path=str(tmp_path / "apm.socket"))
    try:
        w = make_writer(fake.url)
        w.write(trace(spanmod, 31))
        w.flush_queue()
        assert fake.traces() == [[(31, 1)]] and w.sent_traces == 1
    finally:
        fake.close()


def test_agent_not_listening_drops_and_counts_once_logged(make_writer, spanmod, caplog):
    w = make_writer(free_port_url())
    with caplog.at_level(logging.WARNING, logger="ddfast.writer"):
        for i in range(3):
            w.write(trace(spanmod, 40 + i))
        w.flush_queue()
        w.write(trace(spanmod, 49))
        w.flush_queue()
    assert w.dropped_traces == 4 and w.drops == {"send_failed": 4} and w.sent_traces == 0
    warnings = [r for r in caplog.records if "not sent to the agent" in r.getMessage()]
    assert len(warnings) == 1 and "3 send_failed" in warnings[0].getMessage()  # at most once a minute


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_retryable_answers_are_retried_until_the_deadline_then_dropped(agent, make_writer, spanmod, status):
    agent.answers = [(status, b"busy")]
    w = make_writer(agent.url, retry_seconds=1.0)
    w.write(trace(spanmod, 51))
    w.flush_queue()
    assert len(agent.requests) >= 3  # backoff starts at 0.2 s: several attempts fit in a second
    assert len({body for _, _, body in agent.requests}) == 1  # the same payload each time
    assert w.drops == {"send_failed": 1} and w.sent_traces == 0


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(agent, make_writer, spanmod, status):
    agent.answers = [(status, b"later", {"Retry-After": "1"}), (200, b"{}")]
    w = make_writer(agent.url, retry_seconds=5.0)
    w.write(trace(spanmod, 56))
    w.flush_queue()
    assert len(agent.requests) == 2 and w.sent_traces == 1 and w.dropped_traces == 0
    assert agent.times[1] - agent.times[0] >= 0.95


def test_5xx_then_success_is_sent_once(agent, make_writer, spanmod):
    agent.answers = [(500, b"oops"), (200, b"{}")]
    w = make_writer(agent.url)
    w.write(trace(spanmod, 52))
    w.flush_queue()
    assert len(agent.requests) == 2 and w.sent_traces == 1 and w.dropped_traces == 0


def test_4xx_is_not_retried(agent, make_writer, spanmod):
    agent.answers = [(400, b"bad payload")]
    w = make_writer(agent.url)
    w.write(trace(spanmod, 53))
    w.flush_queue()
    assert len(agent.requests) == 1 and w.drops == {"rejected": 1}


def test_agent_without_v05_makes_the_writer_use_v04_and_loses_nothing(agent, make_writer, spanmod):
    agent.answers = [(404, b"not found"), (200, b"{}")]
    w = make_writer(agent.url, api_version="v0.5")
    w.write(trace(spanmod, 54, 2))
    w.flush_queue()
    w.write(trace(spanmod, 55))
    w.flush_queue()
    # the refused v0.5 payload is sent again, re-encoded for v0.4
    assert [path for path, _, _ in agent.requests] == ["/v0.5/traces", "/v0.4/traces", "/v0.4/traces"]
    assert agent.traces() == [[(54, 1), (54, 2)], [(54, 1), (54, 2)], [(55, 1)]]  # the 404'd one, then both
    assert w.api_version == "v0.4" and w.dropped_traces == 0 and w.sent_traces == 2


def test_hanging_agent_times_out_and_never_blocks_the_caller(agent, make_writer, spanmod):
    agent.hold = threading.Event()  # the agent accepts the request and never answers (until the end)
    w = make_writer(agent.url, interval=0.01, timeout=0.2)
    w.write(trace(spanmod, 61))
    assert agent.received.wait(5)  # the sender is now stuck in the request...
    for i in range(100):  # ...and the request path carries on
        w.write(trace(spanmod, 100 + i))
    assert len(w) >= 100
    wait_for(lambda: w.drops["send_failed"] >= 1)  # the first payload timed out on every attempt
    agent.hold.set()
    w.stop(timeout=10)
    assert w.sent_traces + w.dropped_traces == 101 and w.sent_traces >= 100


def test_trace_over_the_payload_limit_is_dropped(agent, make_writer, spanmod):
    w = make_writer(agent.url, max_payload_size=2000)
    w.write(trace(spanmod, 71, tag="x" * 5000))
    w.write(trace(spanmod, 72))
    w.flush_queue()
    assert w.drops == {"too_large": 1} and agent.traces() == [[(72, 1)]]


def test_full_payloads_are_sealed_then_traces_dropped_when_the_buffer_is_full(agent, make_writer, spanmod):
    agent.hold = threading.Event()
    w = make_writer(agent.url, max_payload_size=3000, buffer_size=6000)
    for i in range(200):
        w.write(trace(spanmod, 1000 + i, tag="y" * 100 + str(i)))
    dropped = w.drops["buffer_full"]
    assert dropped > 0 and len(w) == 200 - dropped
    agent.hold.set()
    w.flush_queue()
    assert len(agent.requests) >= 3  # the sealed payloads and the one being filled
    assert all(len(body) <= 3000 for _, _, body in agent.requests)
    received = [t[0][0] for t in agent.traces()]
    assert len(received) == len(set(received)) == 200 - dropped == w.sent_traces


def test_writes_after_stop_are_counted(agent, make_writer, spanmod):
    w = make_writer(agent.url)
    w.write(trace(spanmod, 81))
    w.stop()
    w.write(trace(spanmod, 82))
    assert agent.traces() == [[(81, 1)]] and w.drops == {"stopped": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_never_resends_the_parents_traces(agent, make_writer, spanmod):
    w = make_writer(agent.url)
    w.write(trace(spanmod, 91))
    w.write(trace(spanmod, 92))
    pid = os.fork()
    if pid == 0:  # the child: its own buffer, its own sender
        code = 1
        try:
            assert len(w) == 0 and w.dropped_traces == 0
            w.write(trace(spanmod, 93))
            w.stop(timeout=5)
            code = 0 if w.sent_traces == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    w.stop(timeout=5)
    assert sorted(t[0][0] for t in agent.traces()) == [91, 92, 93]


def test_buffered_traces_are_sent_at_exit(agent, encoding, spanmod, tmp_path):
    code = """
import importlib, sys
from ddfast.writer import AgentWriter
enc = importlib.import_module(%r)
span = importlib.import_module(%r)
w = AgentWriter(sys.argv[1], interval=60.0, _encoding=enc)
s = span.Span("op", trace_id=123, span_id=4)
s.finish()
w.write([s])
""" % (encoding.__name__, spanmod.__name__)
    # run outside the checkout, so the installed package (with its compiled modules) is imported
    subprocess.run([sys.executable, "-c", code, agent.url], check=True, timeout=60, cwd=str(tmp_path))
    assert agent.traces() == [[(123, 4)]]


def test_tracer_gives_the_agent_rates_to_its_sampler(agent, encoding, spanmod, sampling, prop):
    from ddfast.tracer import Tracer

    agent.answers = [(200, b'{"rate_by_service": {"service:svc,env:": 0.0, "service:,env:": 1.0}}')]
    w = AgentWriter(agent.url, interval=60.0, _encoding=encoding)
    t = Tracer(writer=w, _core=(spanmod, sampling, prop))
    assert w.on_rates is not None
    with t.trace("op", service="svc") as first:
        pass
    assert first.context.sampling_priority == 1  # no agent rates yet: kept
    t.flush()
    with t.trace("op", service="svc") as second:
        pass
    assert second.context.sampling_priority == 0 and second.get_metric("_dd.agent_psr") == 0.0
    t.shutdown()
    assert [t[0][0] for t in agent.traces()] == [first.trace_id & (2**64 - 1), second.trace_id & (2**64 - 1)]


def test_default_tracer_writer_is_an_agent_writer():
    from ddfast.tracer import Tracer

    t = Tracer()
    assert isinstance(t.writer, AgentWriter) and t.writer.on_rates == t._update_agent_rates
    t.writer.stop()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"agent_url": "ftp://agent"}, ValueError),
        ({"agent_url": "http://"}, ValueError),
        ({"agent_url": "http://agent:notaport"}, ValueError),
        ({"agent_url": 8126}, TypeError),
        ({"api_version": "v0.3"}, ValueError),
        ({"interval": 0}, ValueError),
        ({"timeout": -1}, ValueError),
        ({"buffer_size": 1.5}, ValueError),
        ({"max_payload_size": 0}, ValueError),
        ({"on_rates": "not callable"}, TypeError),
    ],
)
def test_misuse_raises_clear_errors(kwargs, error):
    kwargs.setdefault("agent_url", "http://localhost:8126")
    with pytest.raises(error):
        AgentWriter(**kwargs)


@pytest.mark.parametrize(
    "env, exists, expected",
    [
        ({}, False, "http://localhost:8126"),
        ({}, True, "unix:///var/run/datadog/apm.socket"),
        ({"DD_AGENT_HOST": "agent.local"}, True, "http://agent.local:8126"),
        ({"DD_TRACE_AGENT_PORT": "9126"}, True, "http://localhost:9126"),
        ({"DD_AGENT_HOST": "::1", "DD_TRACE_AGENT_PORT": "9"}, False, "http://[::1]:9"),
        ({"DD_TRACE_AGENT_URL": "unix:///run/dd/apm.sock", "DD_AGENT_HOST": "h"}, False, "unix:///run/dd/apm.sock"),
        ({"DD_TRACE_AGENT_URL": "https://a:1/base"}, False, "https://a:1/base"),
        ({"DD_TRACE_AGENT_URL": "agent:8126"}, False, "http://localhost:8126"),  # not a URL: warned, ignored
        ({"DD_TRACE_AGENT_PORT": "http"}, False, "http://localhost:8126"),
        # URLs the writer could not use are ignored here, so that the global tracer still imports
        ({"DD_TRACE_AGENT_URL": "http://", "DD_AGENT_HOST": "h"}, False, "http://h:8126"),
        ({"DD_TRACE_AGENT_URL": "http://agent:notaport"}, False, "http://localhost:8126"),
        ({"DD_TRACE_AGENT_PORT": "99999"}, False, "http://localhost:8126"),
    ],
)
def test_agent_url_settings(env, exists, expected):
    assert agent_url(env, socket_exists=lambda path: exists) == expected


def test_writer_settings_defaults_and_bad_values(caplog):
    c = Config({})
    assert (c.trace_api_version, c.trace_agent_timeout_seconds, c.trace_writer_interval_seconds) == ("v0.5", 2.0, 1.0)
    assert c.trace_writer_buffer_size == c.trace_writer_max_payload_size == 20 << 20
    with caplog.at_level(logging.WARNING, logger="ddfast"):
        c = Config(
            {
                "DD_TRACE_API_VERSION": "v0.7",
                "DD_TRACE_AGENT_TIMEOUT_SECONDS": "soon",
                "DD_TRACE_WRITER_INTERVAL_SECONDS": "-1",
                "DD_TRACE_WRITER_BUFFER_SIZE_BYTES": "0",
            }
        )
    assert (c.trace_api_version, c.trace_agent_timeout_seconds, c.trace_writer_interval_seconds) == ("v0.5", 2.0, 1.0)
    assert c.trace_writer_buffer_size == 1
    assert len(caplog.records) == 4
    c = Config({"DD_TRACE_API_VERSION": "v0.4", "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES": "1000"})
    assert c.trace_api_version == "v0.4" and c.trace_writer_max_payload_size == 1000


# -- one deadline for the whole request, on every transport --------------------------------------------


def _dribbling_server(listener, stop, tls=None):
    """Accepts connections on ``listener``; reads each request's head, then answers one byte each 20 ms."""

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                if tls is not None:
                    conn = tls.wrap_socket(conn, server_side=True)
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                    conn.sendall(bytes([byte]))
                    if stop.wait(0.02):
                        break
            except OSError:
                pass
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()


def _self_signed(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    import ssl

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(cert), str(key))
    return tls, str(cert)


@pytest.mark.parametrize("transport", ["tcp", "unix", "https"])
def test_a_dribbling_agent_costs_one_timeout_on_every_transport(tmp_path, monkeypatch, transport):
    from ddfast import agent as transport_module

    stop = threading.Event()
    tls = None
    if transport == "unix":
        path = str(tmp_path / "apm.socket")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        url = "unix://" + path
    else:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        url = "%s://127.0.0.1:%d" % ("https" if transport == "https" else "http", listener.getsockname()[1])
        if transport == "https":
            if not shutil.which("openssl"):
                pytest.skip("needs the openssl command")
            tls, cert = _self_signed(tmp_path)
            monkeypatch.setenv("SSL_CERT_FILE", cert)
    listener.listen(8)
    _dribbling_server(listener, stop, tls)
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError):  # each byte came well within the timeout; the answer did not
            transport_module.post(AgentURL(url), "v0.4/traces", b"\x90", {}, 0.3)
        assert time.monotonic() - start < 1.5
        # and an agent that answers in time is read whole, on the same transport
        status, headers, body = transport_module.post(AgentURL(url), "v0.4/traces", b"\x90", {}, 30)
        assert (status, headers["content-length"], body) == (200, "2", b"{}")
    finally:
        stop.set()
        listener.close()


# -- the tracer's hand-off: the end of a trace writes into the buffer itself ---------------------------


def _tracer(writer, spanmod, sampling, prop):
    from ddfast.tracer import Tracer

    return Tracer(writer=writer, sampler=sampling.DatadogSampler(rules=[]), _core=(spanmod, sampling, prop))


def _python_calls(action):
    """The Python functions that ran during ``action()`` (a profile hook's "call" events)."""
    calls = []

    def hook(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_qualname)

    sys.setprofile(hook)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls


def _payload_of(buffer):
    assert buffer.seal()
    payload, count, endpoint = buffer.take()
    return payload


@pytest.mark.parametrize("version", ["v0.4", "v0.5"])
def test_the_end_of_a_trace_reaches_the_buffer_without_a_python_call(
    make_writer, encoding, spanmod, sampling, prop, kind, version
):
    w = make_writer(free_port_url(), api_version=version)
    t = _tracer(w, spanmod, sampling, prop)
    with t.trace("first"):  # the first trace starts the writer's thread: a Python call, once
        pass
    buffer = w._buffer
    _payload_of(buffer)
    root = t.trace("request", service="svc", resource="GET /")
    child = t.trace("child")
    child.finish()
    before = len(buffer)
    calls = _python_calls(root.finish)
    assert len(buffer) == before + 1 and len(w) == before + 1  # the trace is in the payload being filled
    if kind == "cython":
        assert calls == []  # from the last finish() to the buffer, no Python frame
    else:
        assert "TraceBuffer.write" in calls  # the hook sees Python frames (the pure twin has them)
    # the bytes are the encoder's for that trace
    expected = encoding.MsgpackEncoderV05() if version == "v0.5" else encoding.MsgpackEncoderV04()
    expected.put([root, child])
    assert _payload_of(buffer) == expected.encode()[0][0]


def test_both_twins_buffer_the_same_bytes(twins):
    (compiled_encoding, pure_encoding), (compiled_span, pure_span) = twins("encoding"), twins("span")
    for encoder in ("MsgpackEncoderV04", "MsgpackEncoderV05"):
        payloads = []
        for enc, spanmod in ((compiled_encoding, compiled_span), (pure_encoding, pure_span)):
            buffer = enc.TraceBuffer(getattr(enc, encoder)(), 1 << 20)
            for i in range(3):
                buffer.write(trace(spanmod, 500 + i, n=2, tag="t%d" % i, start=1000.0 + i))
            assert len(buffer) == 3 and buffer.drops == {}
            payloads.append(_payload_of(buffer))
        assert payloads[0] == payloads[1]


def test_the_hand_off_follows_the_tracer_s_writer(make_writer, spanmod, sampling, prop):
    from ddfast.writer import InMemoryWriter

    agent_writer = make_writer(free_port_url())
    t = _tracer(agent_writer, spanmod, sampling, prop)
    with t.trace("a"):
        pass
    assert len(agent_writer) == 1
    memory = InMemoryWriter()
    t.writer = memory
    with t.trace("b"):
        pass
    assert [s.name for s in memory.pop()] == ["b"] and len(agent_writer) == 1
    t.writer = agent_writer
    with t.trace("c"):
        pass
    assert len(agent_writer) == 2


def test_a_subclass_with_its_own_write_gets_every_trace(agent, encoding, spanmod, sampling, prop):
    written = []

    class Recording(AgentWriter):
        def write(self, spans):
            written.append([s.name for s in spans])
            super().write(spans)

    w = Recording(agent.url, interval=60.0, _encoding=encoding)
    try:
        t = _tracer(w, spanmod, sampling, prop)
        with t.trace("a"):
            pass
        assert written == [["a"]] and len(w) == 1
    finally:
        w.stop(timeout=1)


def test_buffer_misuse_raises_clear_errors(encoding):
    with pytest.raises(TypeError):
        encoding.TraceBuffer(object(), 100)
    with pytest.raises(ValueError):
        encoding.TraceBuffer(encoding.MsgpackEncoderV04(), 0)
    with pytest.raises(ValueError):
        encoding.TraceBuffer(encoding.MsgpackEncoderV04(), True)


def test_buffer_counts_what_it_refuses_and_reports_no_sooner_than_asked(encoding, spanmod):
    reports, starts = [], []
    buffer = encoding.TraceBuffer(
        encoding.MsgpackEncoderV04(600, 600), 700, lambda: starts.append("start"), reports.append
    )
    buffer.write(trace(spanmod, 1, tag="x" * 1000))  # alone over the payload limit
    assert buffer.drops == {"too_large": 1} and len(reports) == 1 and reports[0] is None
    buffer.report_after = float("inf")  # the writer logged: not again before then
    buffer.write("not a trace")  # an encoding error is reported at once, with the error
    assert buffer.drops == {"too_large": 1, "encoding_error": 1} and isinstance(reports[1], TypeError)
    for i in range(20):  # payloads of about 500 bytes, 700 bytes of room: one payload sealed, then full
        buffer.write(trace(spanmod, 10 + i, tag="y" * 400))
    assert buffer.drops["buffer_full"] > 0 and len(reports) == 2
    assert len(buffer) == 20 - buffer.drops["buffer_full"]
    assert starts == ["start"]  # once, at the first trace
    buffer.stopped = True
    buffer.write(trace(spanmod, 99))
    assert buffer.drops["stopped"] == 1


def test_buffer_seals_on_request_and_the_sender_only_tries_the_lock(encoding, spanmod):
    buffer = encoding.TraceBuffer(encoding.MsgpackEncoderV04(), 1 << 20)
    buffer.write(trace(spanmod, 1))
    assert not buffer.try_seal()  # nothing asked
    buffer.request_seal()
    assert buffer.seal_due
    with buffer:  # an application thread holds the lock: the sender does not wait for it
        assert not buffer.try_seal() and buffer.seal_due
    assert not buffer.wait(0)  # nothing sealed: no wake-up
    buffer.write(trace(spanmod, 2))  # the next write seals, as asked, and wakes the sender
    assert not buffer.seal_due and buffer.wait(0) and not buffer.wait(0)
    payload, count, endpoint = buffer.take()
    assert (count, endpoint, buffer.take(), len(buffer)) == (2, "v0.4/traces", None, 0)
    assert buffer.waiting_bytes == len(payload)
    buffer.sent(len(payload))
    assert buffer.waiting_bytes == 0
    buffer.write(trace(spanmod, 3))
    buffer.request_seal()
    assert buffer.try_seal() and len(buffer) == 1 and buffer.wait(0)  # an idle application's payload
