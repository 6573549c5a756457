"""A fake Datadog agent that misbehaves on purpose, for the writer's fault tests.

It speaks HTTP/1.1 on a loopback port from raw sockets, so that it can do what a well-behaved server
library will not: stop listening and come back on the same port, reset connections, answer 5xx / 429 /
413, stall, or dribble its answer one byte at a time. ``plan(now, request)`` decides each request's
fate from the seconds since ``start()``; the traces of every payload it answers with 2xx are counted
by trace id, so a test can compare what arrived with what the application made.
"""

import socket
import struct
import threading
import time

import msgpack


class Answer:
    """What the agent does with one request: ``status`` (with ``headers``), or ``"reset"``, ``"stall"``
    (read the request, answer nothing for ``seconds``) or ``"dribble"`` (a 200 sent one byte a second)."""

    def __init__(self, status=200, headers=None, action="answer", seconds=0.0):
        self.status = status
        self.headers = headers or {}
        self.action = action
        self.seconds = seconds


OK = Answer()


class FaultAgent:
    """The agent; ``plan`` is a function ``(seconds since start, body size) -> Answer or None`` (None:
    not listening at that moment, checked every 10 ms)."""

    def __init__(self, plan=None):
        self.plan = plan or (lambda now, size: OK)
        self.lock = threading.Lock()
        self.received = {}  # trace id -> times received
        self.spans = {}  # trace id -> span count (of the last copy)
        self.requests = 0
        self.answered = 0
        self.closed = threading.Event()
        self.started = time.monotonic()
        self._listener = None
        self._bound = self._bind(0)  # bound, not listening: refused, and no other socket takes the port
        self.port = self._bound.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._supervise, daemon=True)

    def start(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def now(self):
        return time.monotonic() - self.started

    # -- listening, or not -------------------------------------------------------------------------------

    def _supervise(self):
        while not self.closed.is_set():
            up = self.plan(self.now(), 0) is not None
            if up and self._listener is None:
                self._listener, self._bound = self._bound, None
                self._listener.listen(128)
                threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
            elif not up and self._listener is not None:
                self._listener.close()
                self._listener = None
                self._bound = self._bind(self.port)
            self.closed.wait(0.01)
        for sock in (self._listener, self._bound):
            if sock is not None:
                sock.close()

    def _bind(self, port):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # connections of the closed listener may hold the port a moment (longer on a loaded machine);
        # while it is not bound, nothing listens on it either: connections are refused all the same
        for _ in range(1000):
            try:
                sock.bind(("127.0.0.1", port))
                return sock
            except OSError:
                self.closed.wait(0.01)
        sock.bind(("127.0.0.1", port))
        return sock

    def _accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: not listening any more
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # -- one request -----------------------------------------------------------------------------------

    def _serve(self, conn):
        try:
            with conn:
                conn.settimeout(30)
                answer = self.plan(self.now(), 0)
                if answer is not None and answer.action == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closed with RST before reading anything
                path, body = self._read(conn)
                with self.lock:
                    self.requests += 1
                answer = self.plan(self.now(), len(body)) or OK
                if answer.action == "stall":
                    self.closed.wait(answer.seconds)
                    return
                if 200 <= answer.status < 300 and path.endswith("/traces"):
                    self._count(path, body)
                head = "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" % answer.status
                head += "".join("%s: %s\r\n" % item for item in answer.headers.items())
                data = (head + "Connection: close\r\n\r\n{}").encode()
                if answer.action == "dribble":
                    for i in range(len(data)):
                        conn.sendall(data[i : i + 1])
                        if self.closed.wait(1.0):
                            return
                else:
                    conn.sendall(data)
                with self.lock:
                    self.answered += 1
        except OSError:
            pass

    def _read(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed before the request's head")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while not body.endswith(b"0\r\n\r\n"):  # the last chunk (no trailers are sent)
                chunk = conn.recv(1 << 20)
                if not chunk:
                    raise OSError("closed mid-body")
                body += chunk
            parts, rest = [], body
            while True:
                size, _, rest = rest.partition(b"\r\n")
                size = int(size.split(b";")[0], 16)
                if size == 0:
                    return path, b"".join(parts)
                parts.append(rest[:size])
                rest = rest[size + 2 :]
        length = int(headers.get("content-length", 0))
        while len(body) < length:
            chunk = conn.recv(1 << 20)
            if not chunk:
                raise OSError("closed mid-body")
            body += chunk
        return path, body

    def _count(self, path, body):
        data = msgpack.unpackb(body, strict_map_key=False)
        if path.endswith("v0.5/traces"):
            traces = [[span[3] for span in trace] for trace in data[1]]
        else:
            traces = [[span["trace_id"] for span in trace] for trace in data]
        with self.lock:
            for ids in traces:
                if ids:
                    self.received[ids[0]] = self.received.get(ids[0], 0) + 1
                    self.spans[ids[0]] = len(ids)

    def close(self):
        self.closed.set()
        self._thread.join(5)
