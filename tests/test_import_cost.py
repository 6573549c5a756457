"""What ``import ddfast`` costs a process: the modules it imports. The agent connection (socket, ssl,
http), msgpack's payload surgery, the retries' random, the typing and introspection modules and the
integrations load when first needed (the first send, the first retry, the first ``tracer.wrap``, the
first ``ddfast.patch``), and so do ``logging`` (the first message, or the first trace: the writer's
messages must not import it at exit), ``json`` (sampling rules, span links, the agent's answers at the
first trace), ``urllib.parse`` (baggage, an agent URL out of the ordinary), ``traceback`` (an error's
stack) and ``re`` (a query-string pattern that is set), so a process that imports ddfast (``ddfast-run``
does so at interpreter start, before gevent's monkey-patching) pays for the core alone. The timing and
memory figures are in ``benches/process_costs.py``; the set of modules, checked here, is deterministic.
Both twins."""

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
    "enum",  # re's
    "gevent",
    "http",
    "importlib.util",  # its contextlib; ddfast._impl asks the path finder itself
    "inspect",
    "ipaddress",  # urllib.parse's
    "json",
    "linecache",  # traceback's
    "logging",
    "msgpack",
    "platform",
    "random",
    "re",
    "signal",  # its enums; the writer uses _signal
    "socket",
    "ssl",
    "string",  # logging's
    "tokenize",  # traceback's
    "traceback",
    "typing",
    "urllib",
    "uuid",
    "weakref",  # the writers and tracers use _weakrefset, as threading does
)
#: modules only the pure twins need at import (the compiled encoder needs no msgpack)
PURE_ONLY = ("msgpack",)


def _run(kind, code, **variables):
    env = dict(os.environ, **variables)
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
    result = json.loads(done.stdout.splitlines()[-1])
    return (result, done.stderr) if variables else result


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


@pytest.mark.parametrize("kind", ["cython", "python"])
def test_the_loggers_are_loggings_own_once_used(kind):
    """``logging`` is imported at the first message: a bad setting read at import still warns (on stderr
    through logging's last resort, no handler being configured), each module's messages go to its logger,
    and a process with nothing to say never imports ``logging``."""
    result, stderr = _run(
        kind,
        r"""
import json, logging, sys
import ddfast
from ddfast import settings, writer
tracer = sys.modules["ddfast.tracer"]  # ddfast.tracer is the tracer
loggers = {"settings": settings.log, "tracer": tracer.log, "writer": writer.log}
out = {name: log.name for name, log in loggers.items()}
out["same"] = settings.log.manager is logging.Logger.manager and settings.log.getEffectiveLevel() == logging.WARNING
print(json.dumps(out))
""",
        DD_TRACE_AGENT_PORT="eighty",
        DD_TRACE_SAMPLING_RULES="[{}]",
    )
    assert result == {"settings": "ddfast", "tracer": "ddfast.tracer", "writer": "ddfast.writer", "same": True}
    assert "DD_TRACE_AGENT_PORT='eighty' is not a port number" in stderr
    assert "sampling rule {} has no sample_rate" in stderr
    quiet = _run(kind, "import json, sys\nimport ddfast\nprint(json.dumps('logging' in sys.modules))")
    assert quiet is False


PLAIN_URLS = [
    "http://localhost:8126",
    "HTTP://LocalHost:8126/",
    "https://agent.example.com/base/",
    "unix:///var/run/datadog/apm.socket",
    "unix://relative/apm.socket",
    "Unix:///x",
    "http://h:0",
    "http://h:65535",
    "http://h:08126",
    "http://:8126",
    "http://",
    "unix://",
    "http://h/a/b//",
    "http://1.2.3.4:99/x",
    "http://h_x-y.z~/p",
]
#: urllib's own business: the plain reading declines them
NOT_PLAIN_URLS = [
    "http://h:",
    "http://h:65536",
    "http://h:8126:1",
    "http://h:abc",
    "http://h://x",
    "http://[::1]:8126",
    "http://user@h:8126",
    "http://h:8126/?q#f",
    " http://h:8126",
    "http://h%41:8126",
    "http://hé:8126",
    "ftp://h:21",
    "localhost:8126",
]


def test_an_agent_url_is_read_as_urllib_reads_it():
    """The agent URL of the settings is read without ``urllib.parse`` where it is plain (host, port, path),
    with the same parts urllib gives; any other URL is left to urllib."""
    import urllib.parse

    from ddfast import settings

    for url in PLAIN_URLS:
        got = settings._plain_split(url)
        want = urllib.parse.urlsplit(url)
        assert (got.scheme, got.netloc, got.path, got.hostname, got.port) == (
            want.scheme,
            want.netloc,
            want.path,
            want.hostname,
            want.port,
        ), url
    assert [url for url in NOT_PLAIN_URLS if settings._plain_split(url) is not None] == []
    read_by_urllib = {
        "http://[::1]:8126/x": ("::1", 8126, "/x"),
        "http://user@Host:8126": ("host", 8126, ""),
        "https://h/": ("h", 443, ""),
    }
    for url, parts in read_by_urllib.items():
        parsed = settings.AgentURL(url)
        assert (parsed.host, parsed.port, parsed.path) == parts, url
    for bad in ("http://h:65536", "http://h:abc", "ftp://h", "http://"):
        with pytest.raises(ValueError):
            settings.AgentURL(bad)
