"""Settings: the DD_* variables parse as ddtrace 4.16 parses them, read once, overridable in code."""

import json
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
