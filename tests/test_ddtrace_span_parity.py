"""The spans a ddtrace user's dashboards and monitors key on, made by ddfast exactly as ddtrace 4.16 makes
them, for every framework and HTTP client ddfast integrates: the same application serves the same
requests (a routed 200, a 404, a handler that raises) once under ddtrace and once under ddfast (each
twin), and each client library calls a service answering 200, 404 and 503 and a closed port; the
request's root span and the client call's span must agree in name, resource, type, service, error,
the HTTP tags and whether an exception is recorded.

Each side runs ``span_parity_driver.py`` in its own subprocess (the two tracers never patch one process),
one per framework, which serves every scenario and prints the spans as JSON.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import compiled_required

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "span_parity_driver.py")
FRAMEWORKS = ["flask", "django", "falcon", "pyramid", "bottle", "starlette", "fastapi", "wsgi", "asgi", "aiohttp",
              "tornado", "clients"]  # fmt: skip
#: what is compared of each span (the driver's keys)
COMPARED = ("name", "resource", "service", "type", "error", "component", "span.kind", "http.method", "http.url",
            "http.status_code", "http.route", "http.useragent", "_dd.base_service", "out.host", "error.type?",
            "error.message?")  # fmt: skip
BASE_ENV = {
    "DD_SERVICE": "parity",
    "DD_TRACE_STARTUP_LOGS": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
}
_ddtrace_runs = {}


def _run(tracer, framework, extra_env, kind=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDFAST_", "OTEL_"))}
    env.update(BASE_ENV, **extra_env)
    env = {k: v for k, v in env.items() if v != ""}  # "": unset
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    proc = subprocess.run([sys.executable, DRIVER, tracer, framework], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ddtrace_run(framework, **extra_env):
    key = (framework, tuple(sorted(extra_env.items())))
    if key not in _ddtrace_runs:
        _ddtrace_runs[key] = _run("ddtrace", framework, extra_env)
    return _ddtrace_runs[key]


def keyed(spans):
    """The spans dashboards key on: the local roots and the HTTP client calls."""
    kept = [s for s in spans if s["root"] or (s["span.kind"] == "client" and s["http.method"])]
    return [{k: s[k] for k in COMPARED} for s in kept]


def assert_same(theirs, ours, framework):
    assert set(ours) == set(theirs)
    for scenario in sorted(set(theirs) - {"core"}):
        if framework == "bottle" and scenario == "missing":  # ddtrace traces no request Bottle routed nowhere
            assert keyed(theirs[scenario]["spans"]) == []
            (span,) = keyed(ours[scenario]["spans"])
            assert (span["name"], span["resource"], span["http.status_code"]) == ("bottle.request", "GET 404", "404")
            continue
        assert theirs[scenario].get("status") == ours[scenario].get("status"), scenario
        assert keyed(ours[scenario]["spans"]) == keyed(theirs[scenario]["spans"]), scenario


def ddfast_run(framework, kind, **extra_env):
    ours = _run("ddfast", framework, extra_env, kind)
    if kind == "cython" and ours["core"] != "ddfast._ext.span" and not compiled_required():
        pytest.skip("the compiled modules are not built")
    assert ours["core"] == ("ddfast._pure.span" if kind == "python" else "ddfast._ext.span")
    return ours


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_spans_equal_ddtraces(framework, kind):
    assert_same(ddtrace_run(framework), ddfast_run(framework, kind), framework)


@pytest.mark.parametrize("framework", ["flask", "falcon", "pyramid", "aiohttp", "clients"])
def test_spans_equal_ddtraces_under_schema_v1(framework, kind):
    v1 = {"DD_TRACE_SPAN_ATTRIBUTE_SCHEMA": "v1"}
    ours = ddfast_run(framework, kind, **v1)
    assert_same(ddtrace_run(framework, **v1), ours, framework)
    names = {s["name"] for key, result in ours.items() if key != "core" for s in keyed(result["spans"])}
    assert names <= {"http.server.request", "http.client.request", "caller"}


def test_django_asgi_spans_are_named_as_ddtraces_django_spans(kind):
    """ddtrace-run makes no request span for Django's ASGI handler (only view spans); ddfast's are the
    ones ddtrace makes for Django under WSGI."""
    theirs = ddtrace_run("django")
    ours = ddfast_run("django_asgi", kind)
    for scenario in set(theirs) - {"core"}:
        assert keyed(ours[scenario]["spans"]) == keyed(theirs[scenario]["spans"]), scenario


@pytest.mark.parametrize("framework", ["flask", "falcon", "clients"])
def test_per_integration_services_equal_ddtraces(framework, kind):
    """``DD_<INTEGRATION>_SERVICE`` where ddtrace reads it (Flask, the clients), ignored where it does
    not (Falcon)."""
    services = {"DD_FLASK_SERVICE": "fl", "DD_FALCON_SERVICE": "fa", "DD_REQUESTS_SERVICE": "rq",
                "DD_HTTPX_SERVICE": "hx", "DD_URLLIB3_SERVICE": "u3", "DD_AIOHTTP_CLIENT_SERVICE": "ac"}  # fmt: skip
    assert_same(ddtrace_run(framework, **services), ddfast_run(framework, kind, **services), framework)


@pytest.mark.parametrize(
    "pattern",
    [r"/users/([0-9]+)", r"^/a/(?P<name>\w+)/b$", r"/x/(?:y|z)/(\d+)", r"/c(?#comment)/([a-z(]+)", r"/e/\(lit\)/(.*)",
     r"/f/(?=look)(ahead)", r"/g/[)(]/(\d)"],
)  # fmt: skip
def test_tornado_routes_of_patterns_are_ddtraces(pattern):
    """A URL spec Tornado cannot reverse gets the route ddtrace gives it."""
    pytest.importorskip("tornado")
    from ddtrace.contrib.internal.tornado.handlers import _regex_to_route

    from ddfast.contrib.tornado import route_of_pattern

    assert route_of_pattern(pattern) == _regex_to_route(pattern)


@pytest.mark.parametrize("framework", ["flask", "falcon", "pyramid", "aiohttp", "tornado", "clients"])
def test_without_dd_service_the_integration_services_are_ddtraces(framework, kind):
    """With ``DD_SERVICE`` unset each integration's default service (``flask``, ``tornado-web``,
    ``requests``...) is ddtrace's. ddtrace 4.16 also infers a service name for the rest (and
    ``_dd.base_service``) from the program, which ddfast does not: those are left out."""
    theirs = ddtrace_run(framework, DD_SERVICE="")
    ours = ddfast_run(framework, kind, DD_SERVICE="")
    inferred = theirs["core"]
    for scenario in set(theirs) - {"core"}:
        mine, their = keyed(ours[scenario]["spans"]), keyed(theirs[scenario]["spans"])
        for span, theirs_span in zip(mine, their, strict=True):
            span.pop("_dd.base_service"), theirs_span.pop("_dd.base_service")
            if theirs_span["service"] == inferred:
                span["service"] = theirs_span["service"] = None
        assert mine == their, scenario


def test_route_template_resources_are_an_option_for_tornado(kind):
    """``DDFAST_HTTP_ROUTE_RESOURCES=true``: Tornado's spans named after the URL spec, not the handler."""
    ours = ddfast_run("tornado", kind, DDFAST_HTTP_ROUTE_RESOURCES="true")
    found = {scenario: keyed(ours[scenario]["spans"])[0] for scenario in ("ok", "missing", "boom")}
    assert [(s["resource"], s["http.route"]) for s in found.values()] == [
        ("GET /users/%s", "/users/%s"), ("GET 404", None), ("GET /boom", "/boom")
    ]  # fmt: skip
    assert found["boom"]["error"] == 1 and found["boom"]["error.type?"]
