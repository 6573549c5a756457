"""``patch()``: every ``requests`` call (``requests.get``, any ``Session``) gets a ``requests.request``
client span (service ``requests``, resource ``"METHOD /path"``, as ddtrace's), child of the active span,
whose context is injected into the request headers in the configured styles. ``unpatch()`` undoes it.
``DD_REQUESTS_DISTRIBUTED_TRACING=false`` (or ``patch(distributed_tracing=False)``) traces without
injecting.
"""

from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration


def patch(tracer=None, distributed_tracing=None):
    """Trace ``requests.Session.send``; a second call changes nothing."""
    import requests
    from requests.structures import CaseInsensitiveDict

    integ = Integration("requests", tracer, distributed_tracing=distributed_tracing)
    http, names = integ.http, integ.http_names
    # the client span is the active one while urllib3 sends: the exchange is traced once
    return _patch.wrap(requests.Session, "send", lambda send: http.requests_send(names, send, CaseInsensitiveDict))


def unpatch():
    import requests

    _patch.unwrap(requests.Session, "send")
