"""Go-style helpers: ``HTTPHeadersCarrier`` over the header objects Python libraries use, and
``start_span_from_context``."""

import email.message
import http.client
import io
import urllib.request

import pytest

import ddfast
from ddfast import HTTPHeadersCarrier

TRACE_ID = 0x640CFD8D00000000000000000000007B


def _message():
    return http.client.parse_headers(io.BytesIO(b"Host: a\r\nX-Datadog-Trace-Id: 999\r\n\r\n"))


def _werkzeug():
    from werkzeug.datastructures import Headers

    return Headers([("Host", "a"), ("X-Datadog-Trace-Id", "999")])


def _requests():
    from requests.structures import CaseInsensitiveDict

    return CaseInsensitiveDict({"Host": "a", "X-Datadog-Trace-Id": "999"})


def _urllib():
    return urllib.request.Request("http://a/", headers={"Host": "a", "X-Datadog-Trace-Id": "999"})


HEADER_OBJECTS = {
    "dict": lambda: {"Host": "a", "X-Datadog-Trace-Id": "999"},
    "pairs": lambda: [("Host", "a"), ("X-Datadog-Trace-Id", "999")],
    "http.client.HTTPMessage": _message,
    "email.message.Message": _message,
    "werkzeug.Headers": _werkzeug,
    "requests.CaseInsensitiveDict": _requests,
    "urllib.request.Request": _urllib,
}


@pytest.mark.parametrize("name", list(HEADER_OBJECTS))
def test_inject_replaces_and_extract_reads_back(prop, ctxmod, name):
    headers = HEADER_OBJECTS[name]()
    carrier = HTTPHeadersCarrier(headers)
    ctx = ctxmod.Context(trace_id=TRACE_ID, span_id=0x1C8, sampling_priority=2, dd_origin="rum")
    prop.http_inject(ctx, carrier)
    got = prop.http_extract(HTTPHeadersCarrier(headers))
    assert (got.trace_id, got.span_id, got.sampling_priority, got.dd_origin) == (TRACE_ID, 0x1C8, 2, "rum")
    values = [v for k, v in carrier.items() if k.lower() == "x-datadog-trace-id"]
    assert values == ["123"]  # the old value was replaced, not joined by a second header
    assert carrier.get("host") == "a" and carrier["HOST"] == "a"
    with pytest.raises(KeyError):
        carrier["missing"]


def test_message_set_replaces():
    msg = email.message.Message()
    msg["traceparent"] = "old"
    HTTPHeadersCarrier(msg).set("Traceparent", "new")
    assert msg.get_all("traceparent") == ["new"]


def test_not_a_header_object():
    for bad in (None, "x-datadog-trace-id: 1", b""):
        with pytest.raises(TypeError, match="header object"):
            HTTPHeadersCarrier(bad)


def test_start_span_from_context(monkeypatch):
    from ddfast.tracer import tracer
    from ddfast.writer import InMemoryWriter

    monkeypatch.setattr(tracer, "writer", InMemoryWriter())
    incoming = ddfast.HTTPPropagator.extract(
        HTTPHeadersCarrier([("x-datadog-trace-id", "123"), ("x-datadog-parent-id", "456")])
    )
    span, ctx = ddfast.start_span_from_context(incoming, "handle", service="svc")
    assert span.trace_id == 123 and span.parent_id == 456 and ctx is span.context
    assert tracer.current_span() is span
    child, _ = ddfast.start_span_from_context(None, "child")  # None: under the active span
    assert child.parent_id == span.span_id
    child.finish()
    span.finish()
    assert {s.name for s in tracer.writer.pop()} == {"handle", "child"}
