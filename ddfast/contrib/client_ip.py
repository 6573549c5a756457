"""``DD_TRACE_CLIENT_IP_ENABLED=true``: server spans carry the client's address as ddtrace's do,
``http.client_ip`` (read from the usual proxy headers) and ``network.client.ip`` (the peer).

The first of ddtrace's headers present (``x-forwarded-for``, ``x-real-ip``, ``true-client-ip``, ...,
or only ``DD_TRACE_CLIENT_IP_HEADER`` when set) is read: the first public address in it wins; with none,
a public peer address, else the first private one of the header, else the peer. Off by default: a
client's address is personal data, and its headers are read only when asked for.
"""

import ipaddress
import re

#: the headers ddtrace reads, in its order
IP_HEADERS = (
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "forwarded",
    "forwarded-for",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
)

# an address as a list item, or in a Forwarded header's for= (ddtrace's four forms)
_FORMS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\s*(?P<ip>[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$",
        r'(?:^|;)\s*for="?(?P<ip>[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)',
        r"^\s*(?P<ip>[0-9a-fA-F:]+)$",
        r'(?:^|;)\s*for="\[(?P<ip>[0-9a-fA-F:]+)\]',
    )
)


def _address(item):
    for form in _FORMS:
        m = form.search(item)
        if m:
            return m.group("ip")
    return ""


def _is_global(ip):
    """Whether ``ip`` is a public address; ValueError when it is not an address."""
    return ipaddress.ip_address(str(ip)).is_global


def resolve(get, peer_ip, header=None):
    """The client's address (ddtrace's rules, see the module docstring), or "". ``get(lower-case
    name)`` gives a request header's value or None; ``header`` is ``DD_TRACE_CLIENT_IP_HEADER``."""
    if header:
        value = get(header)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            return ""
    else:
        value = None
        for name in IP_HEADERS:
            value = get(name)
            if value:
                break
    private = ""
    if isinstance(value, bytes):  # an ASGI header
        value = value.decode("latin-1")
    if value:
        for item in value.split(","):
            ip = _address(item)
            if not ip:
                continue
            try:
                if _is_global(ip):
                    return ip
            except ValueError:
                continue
            private = private or ip
    try:
        if _is_global(peer_ip) or not private:
            return peer_ip or ""
    except ValueError:
        pass
    return private


def tag(span, get, peer_ip, header=None):
    """Tag a server span with ``http.client_ip`` and ``network.client.ip``."""
    ip = resolve(get, peer_ip, header) or peer_ip
    if ip:
        span.set_tag("http.client_ip", ip if isinstance(ip, str) else str(ip))
    if peer_ip:
        span.set_tag("network.client.ip", str(peer_ip))
