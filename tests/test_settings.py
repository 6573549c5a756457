"""Settings: the DD_* variables parse as ddtrace 4.16 parses them, read once, overridable in code."""

import json
import logging
import os
import subprocess
import sys

import pytest

import ddfast
from ddfast.settings import Config

ENVS = [
    {},
    {"DD_TRACE_PROPAGATION_STYLE": "b3multi,tracecontext"},
    {"DD_TRACE_PROPAGATION_STYLE": "B3MULTI , Datadog,datadog"},
    {"DD_TRACE_PROPAGATION_STYLE": "datadog", "DD_TRACE_PROPAGATION_STYLE_INJECT": "b3"},
    {"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "none"},
    {"DD_TRACE_PROPAGATION_STYLE": "zipkin,datadog"},
    {"DD_TRACE_PROPAGATION_STYLE": ""},
    {"OTEL_PROPAGATORS": "b3,tracecontext,jaeger"},
    {"OTEL_PROPAGATORS": "b3multi", "DD_TRACE_PROPAGATION_STYLE": "datadog"},
    {"DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT": "Restart"},
    {"DD_TRACE_PROPAGATION_EXTRACT_FIRST": "TRUE", "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "0"},
    {"DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "-5", "DD_TRACE_PROPAGATION_HTTP_BAGGAGE_ENABLED": "1"},
    {"DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED": "false", "DD_TRACE_BAGGAGE_TAG_KEYS": " a , b,,*"},
]

_DDTRACE_PROBE = r"""
import json, os, sys
from ddtrace.internal.settings._config import Config
out = []
for env in json.loads(sys.stdin.read()):
    os.environ.clear()
    os.environ.update(env)
    c = Config()
    out.append({
        "extract": [s for s in c._propagation_style_extract if s != "none"],
        "inject": c._propagation_style_inject,
        "behavior": c._propagation_behavior_extract,
        "first": c._propagation_extract_first,
        "tags_max": c._x_datadog_tags_max_length,
        "http_baggage": c._propagation_http_baggage_enabled,
        "tid128": c._128_bit_trace_id_enabled,
        "tag_keys": [k.strip() for k in c._baggage_tag_keys if k.strip()],
    })
print(json.dumps(out))
"""


def _ours(env):
    c = Config(env)
    return {
        "extract": [] if c.propagation_behavior_extract == "ignore" else c.propagation_style_extract,
        "inject": c.propagation_style_inject,
        "behavior": c.propagation_behavior_extract,
        "first": c.propagation_extract_first,
        "tags_max": c.x_datadog_tags_max_length,
        "http_baggage": c.propagation_http_baggage_enabled,
        "tid128": c.trace_128_bit_traceid_generation_enabled,
        "tag_keys": c.baggage_tag_keys,
    }


def test_environment_parses_as_ddtrace_does():
    env = dict(os.environ, DD_TRACE_ENABLED="false")
    out = subprocess.run(
        [sys.executable, "-c", _DDTRACE_PROBE], input=json.dumps(ENVS), capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    for env_vars, expected in zip(ENVS, theirs, strict=True):
        assert _ours(env_vars) == expected, env_vars


def test_bad_values_warn_once_and_fall_back(caplog):
    c = Config({"DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "lots", "DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT": "drop"})
    assert c.x_datadog_tags_max_length == 512
    assert c.propagation_behavior_extract == "continue"
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 2


def test_config_override_in_code_reaches_the_propagator():
    from ddfast import HTTPPropagator

    ctx = ddfast.Context(trace_id=5, span_id=6, sampling_priority=1)
    saved = list(ddfast.config.propagation_style_inject)
    try:
        ddfast.config.propagation_style_inject = ["b3"]
        headers = {}
        HTTPPropagator.inject(ctx, headers)
        assert headers == {"b3": "0000000000000005-0000000000000006-1"}
        with pytest.raises(ValueError, match="unknown propagation style"):
            ddfast.config.propagation_style_inject = ["zipkin"]
        assert ddfast.config.propagation_style_inject == ["b3"]  # the bad value was refused
        with pytest.raises(AttributeError):
            ddfast.config.no_such_setting = 1
    finally:
        ddfast.config.propagation_style_inject = saved


def test_settings_are_read_once_at_import(monkeypatch):
    from ddfast import HTTPPropagator

    monkeypatch.setenv("DD_TRACE_PROPAGATION_STYLE", "b3")
    headers = {}
    HTTPPropagator.inject(ddfast.Context(trace_id=5, span_id=6), headers)
    assert "x-datadog-trace-id" in headers and "b3" not in headers


# -- a bad value in the environment: one warning saying what is used instead, and the default ----------

MAX = 2**31 - 1
BAD_VALUES = [
    ("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", "yes", "trace_128_bit_traceid_generation_enabled", False),
    ("DD_TRACE_ENABLED", "on", "tracing_enabled", False),  # ddtrace reads anything but true/1 as false
    ("DD_TRACE_DISTRIBUTED_TRACING", "no", "distributed_tracing", False),
    ("DD_TRACE_PROPAGATION_STYLE", "zipkin,b3", "propagation_style_inject", ["b3"]),
    ("OTEL_PROPAGATORS", "jaeger", "propagation_style_extract", ["datadog", "tracecontext", "baggage"]),
    ("DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT", "drop", "propagation_behavior_extract", "continue"),
    ("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "lots", "x_datadog_tags_max_length", 512),
    ("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "9" * 30, "x_datadog_tags_max_length", MAX),
    ("DD_TRACE_BAGGAGE_MAX_ITEMS", "many", "baggage_max_items", 64),
    ("DD_TRACE_BAGGAGE_MAX_BYTES", "-1", "baggage_max_bytes", 0),
    ("DD_TRACE_HTTP_SERVER_ERROR_STATUSES", "5xx", "http_server_error_statuses", frozenset(range(500, 600))),
    ("DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", "499-400", "http_client_error_statuses", None),
    ("DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP", "(unclosed", "obfuscation_query_string_regexp", None),
    ("DD_LOGS_INJECTION", "sometimes", "logs_injection", False),
    ("DD_TRACE_RATE_LIMIT", "fast", "trace_rate_limit", 100),
    ("DD_SPAN_SAMPLING_RULES_FILE", "/no/such/rules.json", "span_sampling_rules", ""),
    ("DD_TRACE_AGENT_URL", "ftp://agent", "trace_agent_url", Config({}).trace_agent_url),
    ("DD_TRACE_AGENT_PORT", "http", "trace_agent_url", Config({}).trace_agent_url),
    ("DD_TRACE_API_VERSION", "v9", "trace_api_version", "v0.5"),
    ("DD_TRACE_AGENT_TIMEOUT_SECONDS", "inf", "trace_agent_timeout_seconds", 2.0),
    ("DD_TRACE_WRITER_INTERVAL_SECONDS", "nan", "trace_writer_interval_seconds", 1.0),
    ("DD_TRACE_WRITER_BUFFER_SIZE_BYTES", "0", "trace_writer_buffer_size", 1),
    ("DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES", "20MB", "trace_writer_max_payload_size", 20 << 20),
]


@pytest.mark.parametrize("variable, value, attribute, used", BAD_VALUES)
def test_a_bad_value_warns_once_naming_it_and_what_is_used_instead(caplog, variable, value, attribute, used):
    with caplog.at_level(logging.WARNING, logger="ddfast"):
        cfg = Config({variable: value})
    assert getattr(cfg, attribute) == used
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert variable in warning and value.split(",")[0].split("-")[0] in warning
    assert "using" in warning or "ignored" in warning


def test_no_setting_stops_a_service_from_starting(kind, prop, tmp_path):
    """Every bad value at once, in a fresh process: ddfast imports, patches and traces, and says each
    problem once (not once per direction or per reader)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "OTEL_", "DDFAST_NO"))}
    env.update({variable: value for variable, value, _, _ in BAD_VALUES if variable != "OTEL_PROPAGATORS"})
    env.update(DD_TRACE_SAMPLING_RULES="[[", DD_SPAN_SAMPLING_RULES='[{"max_per_second": "a"}]')
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    code = (
        "import ddfast, ddfast.contrib.wsgi, ddfast.contrib.logging, ddfast.contrib.requests\n"
        "ddfast.patch(logging=True)\n"
        "with ddfast.tracer.trace('x') as span:\n"
        "    headers = {}\n"
        "    ddfast.HTTPPropagator.inject(span, headers)\n"
        "print(ddfast.implementation(), sorted(headers))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == kind and "'b3'" in out.stdout  # the one valid style of the list
    said = [line for line in out.stderr.splitlines() if line.startswith("ddfast:")]
    assert len(said) == len(set(said)), "a warning printed twice:\n" + out.stderr
    for variable in {v for v, _, _, _ in BAD_VALUES} - {"OTEL_PROPAGATORS", "DD_TRACE_AGENT_PORT"}:
        assert any(variable in line for line in said), variable
    # the runner starts the program too
    runner = os.path.join(os.path.dirname(sys.executable), "ddfast-run")
    out = subprocess.run([runner, sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0 and "tracing not set up" not in out.stderr, out.stderr


def test_one_style_variable_read_for_both_directions_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="ddfast"):
        cfg = Config({"DD_TRACE_PROPAGATION_STYLE": "zipkin,datadog", "OTEL_PROPAGATORS": "b3"})
    assert cfg.propagation_style_extract == cfg.propagation_style_inject == ["datadog"]
    assert len(caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ddfast"):
        cfg = Config({"OTEL_PROPAGATORS": "jaeger,b3"})
    assert cfg.propagation_style_extract == cfg.propagation_style_inject == ["b3"]
    assert len(caplog.records) == 1


@pytest.mark.parametrize("value, styles", [("ddfast", ["datadog", "tracecontext", "baggage"]), ("ddfast,b3", ["b3"])])
def test_otel_propagators_naming_ddfast_itself_is_no_mistake(caplog, value, styles):
    """``OTEL_PROPAGATORS=ddfast`` selects ddfast's OpenTelemetry propagator (README); it is not a style."""
    with caplog.at_level(logging.WARNING, logger="ddfast"):
        cfg = Config({"OTEL_PROPAGATORS": value})
    assert cfg.propagation_style_extract == cfg.propagation_style_inject == styles
    assert caplog.records == []


# -- a value assigned in code: refused when bad, a string read as the environment variable would be ---

REFUSED = [
    ("propagation_style_inject", ["zipkin"], ValueError),
    ("propagation_style_inject", "b3,zipkin", ValueError),
    ("propagation_style_extract", 5, TypeError),
    ("propagation_behavior_extract", "drop", ValueError),
    ("x_datadog_tags_max_length", -1, ValueError),
    ("x_datadog_tags_max_length", 2**70, ValueError),
    ("x_datadog_tags_max_length", "lots", ValueError),
    ("baggage_max_items", 1.5, TypeError),
    ("baggage_tag_keys", [1], TypeError),
    ("tracing_enabled", "maybe", ValueError),
    ("distributed_tracing", None, TypeError),
    ("logs_injection", "sometimes", ValueError),
    ("service", 5, TypeError),
    ("tags", 5, TypeError),
    ("trace_sampling_rules", [1], TypeError),
    ("trace_rate_limit", True, TypeError),
    ("trace_agent_url", "ftp://agent", ValueError),
    ("trace_api_version", "v9", ValueError),
    ("trace_agent_timeout_seconds", float("inf"), ValueError),
    ("trace_writer_interval_seconds", 0, ValueError),
    ("trace_writer_buffer_size", 0, ValueError),
    ("http_server_error_statuses", "5xx", ValueError),
    ("http_client_error_statuses", {404, 700}, ValueError),
    ("http_client_error_statuses", 404, TypeError),
    ("trace_header_tags", {"x-id": 1}, TypeError),
    ("client_ip_header", 5, TypeError),
    ("obfuscation_query_string_regexp", "(unclosed", ValueError),
]


@pytest.fixture
def restored():
    """ddfast.config as it was, afterwards."""
    saved = {name: getattr(ddfast.config, name) for name in Config._fields}
    yield ddfast.config
    for name, value in saved.items():
        setattr(ddfast.config, name, value)


@pytest.mark.parametrize("name, value, error", REFUSED)
def test_a_bad_value_assigned_in_code_is_refused_and_the_setting_kept(restored, name, value, error):
    before = getattr(restored, name)
    with pytest.raises(error, match=name):
        setattr(restored, name, value)
    assert getattr(restored, name) == before


def test_every_setting_is_checked_when_assigned():
    from ddfast import settings

    assert set(settings._CHECKS) == set(Config._fields)


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("propagation_style_inject", "b3", ["b3"]),
        ("propagation_style_inject", "B3 , Datadog", ["b3", "datadog"]),
        ("propagation_style_extract", "none", []),
        ("baggage_tag_keys", "user.id, *", ["user.id", "*"]),
        ("tracing_enabled", "false", False),
        ("logs_injection", "structured", True),
        ("x_datadog_tags_max_length", "64", 64),
        ("trace_agent_timeout_seconds", "0.5", 0.5),
        ("tags", "team:core,tier", {"team": "core", "tier": ""}),
        ("trace_header_tags", "X-Id:req.id", {"x-id": "req.id"}),
        ("http_server_error_statuses", "500-502,504", frozenset({500, 501, 502, 504})),
        ("http_client_error_statuses", "", None),  # unset: the server statuses apply, as in ddtrace
        ("client_ip_header", " X-Real-IP ", "x-real-ip"),
    ],
)
def test_a_string_assigned_in_code_reads_as_the_environment_variable(restored, name, text, value):
    setattr(restored, name, text)
    assert getattr(restored, name) == value


def test_a_style_string_assigned_in_code_reaches_the_propagator(restored, prop):
    from ddfast.propagation import settings_of

    restored.propagation_style_inject = "b3"
    headers = {}
    prop.inject(prop.Context(trace_id=5, span_id=6, sampling_priority=1), headers, settings_of(restored, prop))
    assert headers == {"b3": "0000000000000005-0000000000000006-1"}
