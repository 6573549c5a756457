"""What ``import ddfast`` costs a process: the modules it imports. The agent connection (socket, ssl,
http), msgpack's payload surgery, the retries' random, the typing and introspection modules and the
integrations load when first needed (the first send, the first retry, the first ``tracer.wrap``, the first
``ddfast.patch``), so a process that imports ddfast (``ddfast-run`` does so at interpreter start,
before gevent's monkey-patching) pays for the core alone. The timing and memory figures are in
``benches/process_costs.py``; the set of modules, checked here, is deterministic. Both twins."""

import json
import os
import subprocess
import sys

import pytest

#: modules ``import ddfast`` must not import (nor any of their submodules)
NOT_AT_IMPORT = (
    "asyncio",
    "concurrent",
    "contextlib",  # typing's and inspect's
    "ddfast.carrier",
    "ddfast.contrib",
    "ddfast.patching",
    "email",
    "gevent",
    "http",
    "inspect",
    "logging.handlers",
    "msgpack",
    "platform",
    "random",
    "signal",  # its enums; the writer uses _signal
    "socket",
    "ssl",
    "typing",
    "urllib.request",
    "uuid",
)
#: modules only the pure twins need at import (the compiled encoder needs no msgpack)
PURE_ONLY = ("msgpack",)


def _run(kind, code):
    env = dict(os.environ)
    env.pop("DDFAST_NO_EXTENSIONS", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=os.path.dirname(os.path.abspath(__file__)),  # not the checkout: the installed package
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _imported_by_import_ddfast(kind):
    return _run(
        kind,
        "import sys, json\nbefore = set(sys.modules)\nimport ddfast\n"
        "print(json.dumps([ddfast.implementation(), sorted(set(sys.modules) - before)]))",
    )


@pytest.mark.parametrize("kind", ["cython", "python"])
def test_import_ddfast_imports_only_the_core(kind, require_compiled):
    implementation, imported = _imported_by_import_ddfast(kind)
    if kind == "cython" and implementation != "cython":
        if require_compiled:
            pytest.fail("the compiled core is required but ddfast runs %s" % implementation)
        pytest.skip("the compiled core is not built")
    assert implementation == kind
    allowed = PURE_ONLY if kind == "python" else ()

    def unwanted(name):
        return any(name == bad or name.startswith(bad + ".") for bad in NOT_AT_IMPORT if bad not in allowed)

    # what the standard library modules ddfast rightly imports pull in themselves differs between
    # CPython versions (3.13's import contextlib where 3.11's do not): that is not ddfast's doing
    wanted = [name for name in imported if "." not in name and not name.startswith("ddfast") and not unwanted(name)]
    by_the_stdlib = set(
        _run(
            kind,
            "import importlib, json, sys\nbefore = set(sys.modules)\nfor name in %r:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except ImportError:\n        pass  # a compiled module's own registration (_cython_3_1)\n"
            "print(json.dumps(sorted(set(sys.modules) - before)))" % wanted,
        )
    )
    assert [name for name in imported if unwanted(name) and name not in by_the_stdlib] == []


@pytest.mark.parametrize("kind", ["cython", "python"])
def test_the_public_api_is_whole_after_a_lazy_import(kind):
    """The names loaded on first use are the same objects as their modules', and resolve through every
    way of importing them; an unknown name is still an AttributeError."""
    result = _run(
        kind,
        r"""
import json, sys
import ddfast
from ddfast import (AgentWriter, Context, DatadogSampler, HTTPHeadersCarrier, HTTPPropagator, InMemoryWriter,
                    SamplingRule, Span, SpanLink, Tracer, __version__, config, ids, implementation, patch,
                    patch_ddtrace, start_span_from_context, tracer)
import ddfast.carrier, ddfast.patching, ddfast.writer
checks = {
    "carrier": HTTPHeadersCarrier is ddfast.carrier.HTTPHeadersCarrier,
    "writer": InMemoryWriter is ddfast.writer.InMemoryWriter and AgentWriter is ddfast.writer.AgentWriter,
    "patch": patch is ddfast.patching.patch,
    "tracer": isinstance(ddfast.tracer, Tracer) and tracer is ddfast.tracer,
    "version": isinstance(__version__, str) and __version__[0].isdigit(),
    "dir": {"HTTPHeadersCarrier", "InMemoryWriter", "patch", "__version__"} <= set(dir(ddfast)),
    "all": sorted(ddfast.__all__) == sorted(n for n in ddfast.__all__ if hasattr(ddfast, n)),
}
star = {}
exec("from ddfast import *", star)
checks["star"] = set(ddfast.__all__) <= set(star)
try:
    ddfast.no_such_name
    checks["unknown"] = False
except AttributeError as e:
    checks["unknown"] = "no_such_name" in str(e)
print(json.dumps(checks))
""",
    )
    assert result == dict.fromkeys(result, True) and len(result) == 9


@pytest.mark.parametrize("kind", ["cython", "python"])
def test_what_is_loaded_on_first_use_works(kind, tmp_path):
    """The lazily loaded pieces work when first needed: the agent's headers (platform), a retry's
    jitter (random), payload surgery (msgpack), ``tracer.wrap`` (inspect), a carrier over an email
    message (email imported by the application, never by ddfast)."""
    result = _run(
        kind,
        r"""
import json, sys
import ddfast
from ddfast import agent, writer
headers = agent.BASE_HEADERS
out = {
    "headers": headers["Datadog-Meta-Lang-Version"] == "%d.%d.%d" % sys.version_info[:3]
    and headers["Datadog-Meta-Tracer-Version"] == ddfast.__version__,
    "same": agent.BASE_HEADERS is headers,
}
from ddfast import encoding
enc = encoding.MsgpackEncoderV05(1 << 20, 1 << 20)
with ddfast.tracer.trace("a"):
    pass
for _ in range(2):
    with ddfast.Tracer(writer=ddfast.InMemoryWriter()).trace("b") as span:
        enc.put([span])
data, count = enc.encode()[0]
out["split"] = [c for _, c in writer.split_payload(data, writer.V05)] == [1, 1]
out["to_v04"] = writer.count_traces(writer.to_v04(data), writer.V04) == 2
@ddfast.tracer.wrap()
async def coro():
    return 1
import inspect
out["wrap"] = inspect.iscoroutinefunction(coro)
import http.client, email.message
msg = email.message.Message()
msg["x-datadog-trace-id"] = "1"
carrier = ddfast.HTTPHeadersCarrier(msg)
carrier["x-datadog-trace-id"] = "2"
out["carrier"] = msg.get_all("x-datadog-trace-id") == ["2"]
w = writer.AgentWriter(agent_url="http://127.0.0.1:9", retry_seconds=0.3, timeout=0.1)
w.write([span])
w.flush_queue()
out["retried"] = "random" in sys.modules and w.drops.get("send_failed") == 1
w.stop(0)
print(json.dumps(out))
""",
    )
    assert result == dict.fromkeys(result, True) and len(result) == 7
