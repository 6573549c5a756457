"""Talking to the Datadog agent over HTTP: TCP (``http://``, ``https://``) or a unix socket (``unix://``).

One request per call, on a connection made for it: the writer sends at most one payload a second, so
a kept-alive connection would buy nothing and would have to survive agent restarts and forks.
"""

import http.client
import platform
import socket
import urllib.parse

try:
    from ddfast._version import version as _tracer_version
except ImportError:  # a checkout that was never built
    _tracer_version = "0.0.0"

#: headers of every trace payload, as the agent expects them from a Python tracer
BASE_HEADERS = {
    "Datadog-Meta-Lang": "python",
    "Datadog-Meta-Lang-Version": platform.python_version(),
    "Datadog-Meta-Lang-Interpreter": platform.python_implementation(),
    "Datadog-Meta-Tracer-Version": _tracer_version,
    # the tracer sets _dd.top_level itself (as ddtrace does), so the agent need not compute it
    "Datadog-Client-Computed-Top-Level": "yes",
}


class AgentURL:
    """A parsed agent URL: ``scheme``, ``host``, ``port`` and base ``path``, or the unix ``socket_path``."""

    __slots__ = ("url", "scheme", "host", "port", "path", "socket_path")

    def __init__(self, url):
        if not isinstance(url, str):
            raise TypeError("the agent URL must be a str, not %s" % type(url).__name__)
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "unix"):
            raise ValueError("the agent URL must be http://, https:// or unix://, got %r" % (url,))
        self.url = url
        self.scheme = scheme
        self.socket_path = None
        self.host = None
        self.port = None
        self.path = ""
        if scheme == "unix":
            self.socket_path = parts.netloc + parts.path
            if not self.socket_path:
                raise ValueError("the agent URL %r names no socket" % (url,))
        else:
            if not parts.hostname:
                raise ValueError("the agent URL %r names no host" % (url,))
            self.host = parts.hostname
            try:
                self.port = parts.port or (443 if scheme == "https" else 80)
            except ValueError as e:
                raise ValueError("the agent URL %r has a bad port: %s" % (url, e)) from None
            self.path = parts.path.rstrip("/")

    def connection(self, timeout):
        """A new (not yet connected) HTTP connection to the agent."""
        if self.scheme == "unix":
            return UnixHTTPConnection(self.socket_path, timeout)
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def endpoint(self, name):
        """The request path of endpoint ``name`` (``v0.5/traces``)."""
        return "%s/%s" % (self.path, name)

    def __repr__(self):
        return "AgentURL(%r)" % self.url


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix domain socket (the agent's ``apm.socket``)."""

    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def post(url, endpoint, body, headers, timeout):
    """POST ``body`` to the agent; returns ``(status, response body)``. Network errors and timeouts
    raise ``OSError`` (``http.client`` errors included)."""
    conn = url.connection(timeout)
    try:
        conn.request("POST", url.endpoint(endpoint), body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as e:
        raise OSError("bad HTTP exchange with the agent: %r" % (e,)) from e
    finally:
        conn.close()
