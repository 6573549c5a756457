"""``HttpTracer.requests_send``: what ``ddfast.contrib.requests`` puts in ``requests.Session``'s dict in
place of ``send``. It binds to a session as the function it replaces does, passes requests' keyword
arguments on as given, and ends the client span with the response or the exception (both twins)."""

import pytest

requests = pytest.importorskip("requests")

from requests.structures import CaseInsensitiveDict  # noqa: E402

from ddfast.contrib import requests as traced_requests  # noqa: E402
from ddfast.contrib.integration import Integration  # noqa: E402


class Response:
    def __init__(self, status_code):
        self.status_code = status_code
        self.headers = CaseInsensitiveDict({"Content-Type": "text/plain"})


class Session:
    """Stands for ``requests.Session``: ``send`` is the traced one, the original records its calls."""


def _traced(tracer, result):
    calls = []

    def send(session, request, **kwargs):
        calls.append((session, request, kwargs))
        if isinstance(result, BaseException):
            raise result
        return result

    integ = Integration("requests", tracer)
    Session.send = integ.http.requests_send(integ.http_names, send, CaseInsensitiveDict)
    return calls


def _request(headers):
    return requests.Request("GET", "http://shop.test/cart?id=3", headers=headers).prepare()


def test_bound_to_the_session_with_the_keyword_arguments_as_given(make_tracer):
    tracer = make_tracer()
    calls = _traced(tracer, Response(201))
    session, request = Session(), _request({"User-Agent": "agent/1"})
    with tracer.trace("job") as job:
        response = session.send(request, timeout=3, stream=False, verify=True)
    assert response.status_code == 201
    assert calls == [(session, request, {"timeout": 3, "stream": False, "verify": True})]
    (span,) = [s for s in tracer.writer.pop() if s.name == "requests.request"]
    assert span.parent_id == job.span_id and span.resource == "GET /cart"
    assert span.get_tag("http.url") == "http://shop.test/cart" and span.get_tag("http.useragent") == "agent/1"
    assert span.get_tag("http.status_code") == "201" and span.error == 0
    assert request.headers["x-datadog-parent-id"] == str(span.span_id)


def test_called_on_the_class_with_the_session_first(make_tracer):
    tracer = make_tracer()
    calls = _traced(tracer, Response(200))
    session, request = Session(), _request({})
    assert Session.send(session, request, allow_redirects=False).status_code == 200
    assert calls == [(session, request, {"allow_redirects": False})]
    assert [s.name for s in tracer.writer.pop()] == ["requests.request"]


def test_headers_of_another_type_go_through_their_own_methods(make_tracer):
    tracer = make_tracer()
    _traced(tracer, Response(200))
    request = _request({})
    request.headers = {"User-Agent": "plain/2"}
    Session().send(request)
    (span,) = tracer.writer.pop()
    assert span.get_tag("http.useragent") == "plain/2"
    assert request.headers["x-datadog-parent-id"] == str(span.span_id)


def test_an_exception_ends_the_span_and_goes_on(make_tracer):
    tracer = make_tracer()
    _traced(tracer, ConnectionError("refused"))
    with pytest.raises(ConnectionError, match="refused"):
        Session().send(_request({}))
    (span,) = tracer.writer.pop()
    assert span.error == 1 and span.get_tag("error.type") == "builtins.ConnectionError"


def test_off_sends_untraced(make_tracer):
    tracer = make_tracer()
    calls = _traced(tracer, Response(200))
    tracer.enabled = False
    request = _request({})
    Session().send(request, timeout=1)
    assert calls[0][2] == {"timeout": 1} and "x-datadog-parent-id" not in request.headers
    assert tracer.writer.pop() == []


def test_misuse_is_a_type_error(make_tracer):
    integ = Integration("requests", make_tracer())
    http, names = integ.http, integ.http_names
    with pytest.raises(TypeError, match="callable"):
        http.requests_send(names, None, CaseInsensitiveDict)
    with pytest.raises(TypeError, match="headers_type"):
        http.requests_send(names, lambda *a, **k: None, "CaseInsensitiveDict")
    with pytest.raises(TypeError):
        http.requests_send(None, lambda *a, **k: None, CaseInsensitiveDict)


def test_patch_puts_it_in_the_class_and_unpatch_takes_it_out(make_tracer):
    original = requests.Session.send
    traced_requests.patch(tracer=make_tracer())
    try:
        traced = requests.Session.__dict__["send"]
        assert traced is not original and traced.__name__ == "send" and traced.__doc__ == original.__doc__
        assert traced.send is original
    finally:
        traced_requests.unpatch()
    assert requests.Session.send is original


def test_made_by_hand_it_checks_what_it_is_given(make_tracer, spanmod):
    """Made directly rather than by ``requests_send``, it is checked as ``requests_send`` checks: never a
    half-made object that fails on the first request."""
    integ = Integration("requests", make_tracer())
    http, names = integ.http, integ.http_names
    with pytest.raises(TypeError):
        spanmod.RequestsSend(None, names, print, CaseInsensitiveDict)
    with pytest.raises(TypeError):
        spanmod.RequestsSend(http, names, None, CaseInsensitiveDict)
    with pytest.raises(TypeError):
        spanmod.RequestsSendCall(None, Session())
    traced = spanmod.RequestsSend(http, names, lambda session, request, **kwargs: (session, kwargs), dict)
    session = Session()
    bound = spanmod.RequestsSendCall(traced, session)
    assert bound.traced is traced and bound.session is session
