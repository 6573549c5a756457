"""Each tracer's own request path and decisions, on both twins: ``tracer.http`` (the per-request work of
the HTTP integrations, bound to one tracer), two tracers in one process each deciding and writing its own
traces (injection included), the default sampler built from the tracer's settings, and a span link's W3C
view whatever was imported first."""

import contextvars
import os
import subprocess
import sys
import textwrap

import pytest

from ddfast.contrib import _http


def _rule(sampling, rate, service):
    return sampling.SamplingRule(sample_rate=rate, service=service)


def test_two_tracers_decide_and_write_their_own_traces(make_tracer, sampling):
    """A trace is decided by its own tracer's sampler (its rules), before injection too, and written to its
    own tracer's writer, however many tracers the process made after it."""
    keep = make_tracer(rules=[_rule(sampling, 1.0, "*")])
    drop = make_tracer(rules=[_rule(sampling, 0.0, "*")])
    injected = {}
    for tracer in (keep, drop):
        headers = {}
        with tracer.trace("request", service="svc") as root:
            with tracer.trace("client") as client:
                tracer.http.inject(client, headers)
        injected[tracer] = (headers, root)
    kept_headers, kept_root = injected[keep]
    dropped_headers, dropped_root = injected[drop]
    assert kept_headers["x-datadog-sampling-priority"] == "2"
    assert dropped_headers["x-datadog-sampling-priority"] == "-1"
    assert kept_root.context.sampling_priority == 2 and dropped_root.context.sampling_priority == -1
    assert sorted(s.name for s in keep.writer.pop()) == ["client", "request"]
    assert sorted(s.name for s in drop.writer.pop()) == ["client", "request"]


def test_a_tracer_made_later_does_not_take_over_injection(make_tracer, sampling, prop):
    """The decision before injection is the span's tracer's, through the propagation module's own entry
    point too (what ``HTTPPropagator.inject`` calls), whichever tracer was made last."""
    first = make_tracer(rules=[_rule(sampling, 0.0, "*")])
    make_tracer(rules=[_rule(sampling, 1.0, "*")])
    span = first.start_span("op", service="s")
    headers = {}
    prop.http_inject(span, headers)
    assert headers["x-datadog-sampling-priority"] == "-1"
    span.finish()
    assert len(first.writer.pop()) == 1


def test_an_extracted_context_is_decided_by_the_tracer_that_continues_it(make_tracer, sampling, prop):
    tracer = make_tracer(rules=[_rule(sampling, 0.0, "*")])
    context = prop.http_extract({"x-datadog-trace-id": "5", "x-datadog-parent-id": "6"})
    tracer.context_provider.activate(context)
    with tracer.trace("server"):
        headers = {}
        prop.http_inject(context, headers)
    assert headers["x-datadog-sampling-priority"] == "-1"


def test_the_default_sampler_takes_rules_and_limit_from_the_tracer(monkeypatch, spanmod, sampling, prop):
    """The sampler reads no setting: a sampler made by hand has no rules and ddtrace's default limit; the
    tracer's default one gets ``DD_TRACE_SAMPLING_RULES`` and ``DD_TRACE_RATE_LIMIT`` from the tracer."""
    from ddfast.settings import config
    from ddfast.tracer import Tracer
    from ddfast.writer import InMemoryWriter

    monkeypatch.setattr(config, "trace_sampling_rules", '[{"service": "a", "sample_rate": 0.0}]')
    monkeypatch.setattr(config, "trace_rate_limit", 7)
    bare = sampling.DatadogSampler()
    assert bare.rules == [] and bare.limiter.rate_limit == sampling.DEFAULT_RATE_LIMIT == 100
    tracer = Tracer(writer=InMemoryWriter(), _core=(spanmod, sampling, prop))
    assert len(tracer.sampler.rules) == 1 and tracer.sampler.limiter.rate_limit == 7


def test_tracer_http_makes_the_request_spans_in_one_call_each(make_tracer):
    tracer = make_tracer()
    http = _http.http_of(tracer)  # with the HTTP settings, as an integration takes it
    assert tracer.http is http  # made once, bound to the tracer
    server = _http.server_names(http, "flask")
    client = _http.client_names(http, "requests")
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/users/7", "HTTP_HOST": "h:8", "wsgi.url_scheme": "http",
        "HTTP_USER_AGENT": "ua/1", "HTTP_X_DATADOG_TRACE_ID": "11", "HTTP_X_DATADOG_PARENT_ID": "12",
    }  # fmt: skip
    span = http.wsgi_start(server, environ)
    assert http.wsgi_start(server, environ) is None  # an inner middleware passes the request through
    assert span.trace_id == 11 and span.parent_id == 12 and tracer.current_span() is span
    headers = {}
    out = http.client_start(client, "POST", "http://down:9/a?q=1", headers, "ua/2")
    assert out.parent_id == span.span_id and headers["x-datadog-parent-id"] == str(out.span_id)
    token = _http.in_client_call.set(True)
    try:
        assert http.client_start(client, "GET", "http://down/b", {}) is None  # traced once
    finally:
        _http.in_client_call.reset(token)
    http.finish(out, None, 503, None, True)
    http.status(span, "404 Not Found")
    environ[_http.ROUTE_KEY] = None
    http.annotate(span, environ)
    http.finish(span)
    tags = span.get_tags()
    assert (span.name, span.resource, tags["http.status_code"], tags["http.useragent"]) == (
        "flask.request", "GET 404", "404", "ua/1",
    )  # fmt: skip
    assert tags["http.url"] == "http://h:8/users/7" and tags["component"] == "flask" and span.error == 0
    assert out.error == 1 and out.get_tag("http.url") == "http://down:9/a" and out.get_tag("out.host") == "down"
    assert len(tracer.writer.pop()) == 2


def test_tracer_http_routes_and_asgi(make_tracer):
    tracer = make_tracer()
    http = _http.http_of(tracer)  # with the HTTP settings, as an integration takes it
    names = _http.server_names(http, "starlette")
    scope = {"type": "http", "method": "PUT", "path": "/i/3", "headers": [(b"host", b"svc"), (b"user-agent", b"u")]}
    span = http.asgi_start(names, scope)
    assert span.get_tag("http.url") == "http://svc/i/3" and span.resource == "PUT /i/3"

    class Route:
        path = "/i/{id}"

    scope["router"], scope["route"] = object(), Route()
    http.annotate(span, scope)
    assert span.resource == "PUT /i/{id}" and span.get_tag("http.route") == "/i/{id}"
    http.route(span, "PUT", "/x", "custom")
    assert span.resource == "custom" and span.get_tag("http.route") == "/x"
    try:
        raise ValueError("boom")
    except ValueError as e:
        http.finish(span, e)
    assert span.error == 1 and span.get_tag("error.type") == "builtins.ValueError"


def test_http_settings_are_pushed_into_every_tracers_request_path(make_tracer, monkeypatch):
    from ddfast.settings import config
    from ddfast.settings import parse_statuses

    tracer = make_tracer()
    http = _http.http_of(tracer)  # with the HTTP settings, as an integration takes it
    assert http.on_server_request is None and http.server_query is None  # off: nothing per request
    saved = config.http_server_error_statuses
    try:
        config.http_server_error_statuses = parse_statuses("404", "", "test")
        assert 404 in http.server_errors
    finally:
        config.http_server_error_statuses = saved
    assert 404 not in http.server_errors


def test_the_pure_twins_w3c_view_needs_no_import_first(tmp_path):
    """A pure context's W3C view (a span link's tracestate) works before anything imported the pure
    propagation module: the twin imports it itself, as the compiled context does. (Without the compiled
    core, ``import ddfast`` itself imports the pure propagation module: nothing to check there.)"""
    import importlib.util

    if importlib.util.find_spec("ddfast._ext.context") is None:
        pytest.skip("no compiled core installed: import ddfast imports the pure propagation module itself")
    code = textwrap.dedent(
        """
        import sys
        from ddfast._pure import context
        assert "ddfast._pure.propagation" not in sys.modules
        c = context.Context(trace_id=5, span_id=6, sampling_priority=1)
        print(c._traceparent)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "DDFAST_NO_EXTENSIONS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "00-%032x-%016x-01" % (5, 6)


def test_http_names_and_tracer_refuse_misuse(spanmod):
    with pytest.raises(TypeError):
        spanmod.HttpNames("n", 5)
    with pytest.raises(TypeError):
        spanmod.HttpTracer(object(), contextvars.ContextVar("v"), None, None, None, contextvars.ContextVar("c"))
