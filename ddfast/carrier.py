"""``HTTPHeadersCarrier(headers)``: any header object as a carrier for ``HTTPPropagator.inject`` and
``extract``, as Go's ``tracer.HTTPHeadersCarrier(req.Header)`` is.

It takes a dict, a case-insensitive mapping (requests, aiohttp's ``CIMultiDict``), an
``http.client.HTTPMessage`` / ``email.message.Message``, werkzeug's ``Headers``, a
``urllib.request.Request``, or a list of ``(name, value)`` pairs. Setting a header replaces any value
it had (a message's ``msg[name] = v`` would add a second one); reading is case-insensitive.
"""

import sys


def _is_message(h):
    """True for an ``email.message.Message`` (``http.client.HTTPMessage``); email is not imported for it:
    without email imported, no object is one."""
    email_message = sys.modules.get("email.message")
    return email_message is not None and isinstance(h, email_message.Message)


class HTTPHeadersCarrier:
    """Reads and writes the headers of ``headers`` in place."""

    __slots__ = ("headers",)

    def __init__(self, headers):
        if headers is None or isinstance(headers, (str, bytes)):
            raise TypeError("HTTPHeadersCarrier needs a header object, not %s" % type(headers).__name__)
        self.headers = headers

    def __setitem__(self, name, value):
        h = self.headers
        if isinstance(h, list):
            lower = name.lower()
            h[:] = [pair for pair in h if str(pair[0]).lower() != lower]
            h.append((name, value))
        elif _is_message(h):
            del h[name]
            h[name] = value
        elif hasattr(h, "add_header") and hasattr(h, "header_items"):  # urllib.request.Request
            h.add_header(name, value)
        elif hasattr(h, "set") and hasattr(h, "getlist"):  # werkzeug Headers
            h.set(name, value)
        else:
            if type(h) is dict:  # a plain dict is case-sensitive: drop the same header spelt otherwise
                lower = name.lower()
                for key in [k for k in h if isinstance(k, str) and k.lower() == lower and k != name]:
                    del h[key]
            h[name] = value

    set = __setitem__

    def items(self):
        h = self.headers
        if isinstance(h, list):
            return list(h)
        if hasattr(h, "header_items"):  # urllib.request.Request
            return h.header_items()
        return list(h.items())

    def get(self, name, default=None):
        lower = name.lower()
        for key, value in self.items():
            if str(key).lower() == lower:
                return value
        return default

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def keys(self):
        return [key for key, _ in self.items()]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.items())
