"""Talking to the Datadog agent over HTTP: TCP (``http://``, ``https://``) or a unix socket (``unix://``).

One request per call, on a connection made for it: the writer sends at most a payload or so a second,
so a kept-alive connection would buy nothing and would have to survive agent restarts and forks.

``post`` takes the agent's address as ``ddfast.settings.AgentURL`` parses it, and holds one deadline
for the whole exchange (connect, send, and every byte of the answer), so an agent that stalls or
answers one byte at a time costs the writer one timeout, never its thread. It works on the
interpreter's own sockets, threads and locks even where gevent has monkey-patched them (``original``):
the writer's thread is a real thread, never a greenlet waiting on the application's hub.
"""

import importlib
import sys
import time

#: the most of an answer that is read (the agent's answers are a few hundred bytes)
MAX_ANSWER = 1 << 20


def __getattr__(name):
    # BASE_HEADERS, the headers of every trace payload as the agent expects them from a Python tracer, is
    # made at the first send: ``platform`` is not imported by ``import ddfast``
    if name == "BASE_HEADERS":
        import platform

        try:
            from ddfast._version import version as tracer_version
        except ImportError:  # a checkout that was never built
            tracer_version = "0.0.0"
        headers = {
            "Datadog-Meta-Lang": "python",
            "Datadog-Meta-Lang-Version": platform.python_version(),
            "Datadog-Meta-Lang-Interpreter": platform.python_implementation(),
            "Datadog-Meta-Tracer-Version": tracer_version,
            # the tracer sets _dd.top_level itself (as ddtrace does), so the agent need not compute it
            "Datadog-Client-Computed-Top-Level": "yes",
        }
        globals()["BASE_HEADERS"] = headers  # later lookups find it without this function
        return headers
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def prepare(url):
    """Import what a request to ``url`` needs and ``import ddfast`` leaves out; the writer calls this at
    its first trace, so that nothing is imported at exit, when the exit flush sends (``logging`` and ``json``
    included: the writer's messages and the agent's answers). (Importing a module
    such as ``socket`` at exit after an unhandled KeyboardInterrupt would make CPython 3.11 exit with
    status 1 rather than by SIGINT: its ``namedtuple`` runs ``eval``, which clears the interpreter's
    note of the KeyboardInterrupt.)"""
    import json  # noqa: F401  (the agent's answers)
    import logging  # noqa: F401  (the writer's messages)
    import socket  # noqa: F401

    if url.scheme == "https":
        import ssl  # noqa: F401
    return globals().get("BASE_HEADERS") or __getattr__("BASE_HEADERS")


def original(module, name):
    """``module.name`` as the interpreter made it: gevent's original where gevent has patched it."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        return monkey.get_original(module, name)
    return getattr(importlib.import_module(module), name)


def _remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the agent did not answer within the timeout")
    return left


def _connect(url, deadline):
    """A connected socket to the agent (TLS wrapped for https), within ``deadline``."""
    import socket

    socket_class = original("socket", "socket")
    if url.scheme == "unix":
        sock = socket_class(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(url.socket_path)
        except BaseException:
            sock.close()
            raise
        return sock
    error = OSError("no address for the agent host %r" % url.host)
    for family, kind, proto, _, address in original("socket", "getaddrinfo")(url.host, url.port, 0, socket.SOCK_STREAM):
        sock = socket_class(family, kind, proto)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            sock.close()
            error = e
            continue
        except BaseException:
            sock.close()
            raise
        if url.scheme == "https":
            import ssl

            context = original("ssl", "SSLContext")(ssl.PROTOCOL_TLS_CLIENT)  # verifies name and chain
            context.load_default_certs()
            try:
                sock.settimeout(_remaining(deadline))
                sock = context.wrap_socket(sock, server_hostname=url.host)
            except BaseException:
                sock.close()
                raise
        return sock
    raise error


def _request(url, endpoint, body, headers):
    lines = ["POST %s HTTP/1.1" % url.endpoint(endpoint), "Host: %s" % (url.host or "localhost")]
    lines.extend("%s: %s" % item for item in headers.items())
    lines.append("Content-Length: %d" % len(body))
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Answer:
    """Reads one HTTP answer from ``sock``, each read bounded by what is left of ``deadline``."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.data = b""
        self.eof = False

    def _more(self):
        self.sock.settimeout(_remaining(self.deadline))
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
        self.data += chunk
        if len(self.data) > MAX_ANSWER + 65536:
            raise OSError("the agent's answer is larger than %d bytes" % MAX_ANSWER)

    def until(self, marker):
        """The bytes up to ``marker`` (consumed with it)."""
        while True:
            at = self.data.find(marker)
            if at >= 0:
                line, self.data = self.data[:at], self.data[at + len(marker) :]
                return line
            if self.eof:
                raise OSError("the agent closed the connection mid-answer")
            self._more()

    def exactly(self, n):
        while len(self.data) < n:
            if self.eof:
                raise OSError("the agent closed the connection mid-answer")
            self._more()
        out, self.data = self.data[:n], self.data[n:]
        return out

    def rest(self):
        while not self.eof:
            self._more()
        out, self.data = self.data, b""
        return out


def _read_answer(sock, deadline):
    """``(status, headers, body)`` of the agent's answer; header names lower-cased."""
    answer = _Answer(sock, deadline)
    while True:
        head = answer.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, _, rest = head[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/") or not code.isdigit():
            raise OSError("not an HTTP answer: %r" % head[0][:100])
        status = int(code)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status >= 200:
            break  # 1xx answers (100 Continue) come before the real one
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int(answer.until(b"\r\n").split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            if size > MAX_ANSWER:
                raise OSError("the agent's answer is larger than %d bytes" % MAX_ANSWER)
            parts.append(answer.exactly(size))
            answer.until(b"\r\n")
        body = b"".join(parts)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if not 0 <= length <= MAX_ANSWER:
            raise OSError("the agent's answer is %d bytes" % length)
        body = answer.exactly(length)
    else:
        body = answer.rest()
    return status, headers, body


def post(url, endpoint, body, headers, timeout):
    """POST ``body`` to the agent; returns ``(status, headers, body)`` of its answer. The whole exchange
    takes at most ``timeout`` seconds. Network errors, malformed answers and the timeout raise ``OSError``
    (``TimeoutError`` for the timeout)."""
    deadline = time.monotonic() + timeout
    sock = _connect(url, deadline)
    try:
        sock.settimeout(_remaining(deadline))
        sock.sendall(_request(url, endpoint, body, headers))  # one timeout for the whole call
        sock.settimeout(_remaining(deadline))
        sock.sendall(body)
        return _read_answer(sock, deadline)
    except ValueError as e:  # a malformed number in the answer
        raise OSError("malformed answer from the agent: %s" % e) from e
    finally:
        sock.close()
