"""Span and sampling hot paths: ddfast compiled vs pure vs ddtrace 4.16, measured in one run.

- ``span:`` a root span started and finished through the tracer (``with tracer.trace(...)``): the
  trace is sampled, tagged and handed to a writer that drops it.
- ``sample:`` a new local root span plus one sampling decision, with no rules and with 10 rules of
  which the last matches (the rate limiter is disabled so every decision does the same work).
- ``memory:`` bytes of process memory held per finished span (RSS growth over 20000 spans kept alive,
  in a fresh subprocess per implementation; tracemalloc cannot see ddtrace's native spans). The value is
  in the benchmark's ``extra_info``; the timing of that group is the subprocess, not a target.
"""

import json
import subprocess
import sys
import types

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin


def _ddtrace_tracer():
    from ddtrace.trace import tracer

    tracer._span_aggregator.writer = NullWriter()
    return tracer


def _ddfast_tracer(kind):
    from ddfast.tracer import Tracer

    core = (twin("span", kind), twin("sampling", kind), twin("propagation", kind))
    return Tracer(writer=NullWriter(), sampler=core[1].DatadogSampler(rules=[]), _core=core)


@pytest.fixture
def tracer(impl):
    return _ddtrace_tracer() if impl == "ddtrace" else _ddfast_tracer(impl)


@pytest.mark.benchmark(group="span: start+finish (root, via tracer.trace)")
def test_span_start_finish(benchmark, tracer):
    trace = tracer.trace

    def run():
        with trace("web.request", service="svc", resource="GET /"):
            pass

    benchmark(run)


@pytest.mark.benchmark(group="span: request with a child span and tags")
def test_span_tree(benchmark, tracer):
    trace = tracer.trace

    def run():
        with trace("web.request", service="svc", resource="GET /users") as root:
            root.set_tag("http.method", "GET")
            root.set_tag("http.status_code", 200)
            with trace("db.query", service="pg") as child:
                child.set_tag("db.statement", "SELECT 1")

    benchmark(run)


def _sampling_kit(impl, n_rules):
    """(make_span, sampler) with ``n_rules`` rules, the last one matching ``svc``."""
    rules = [{"sample_rate": 0.5, "service": "nomatch-%d" % i, "name": "web.*"} for i in range(n_rules - 1)]
    if n_rules:
        rules.append({"sample_rate": 0.5, "service": "svc", "name": "web.*"})
    if impl == "ddtrace":
        from ddtrace._trace.sampler import DatadogSampler
        from ddtrace._trace.sampling_rule import SamplingRule
        from ddtrace.trace import Span

        sampler = DatadogSampler(rules=[SamplingRule(**r) for r in rules], rate_limit=-1)
        return types.SimpleNamespace(Span=Span, sampler=sampler)
    mod = twin("sampling", impl)
    sampler = mod.DatadogSampler(rules=[mod.SamplingRule(**r) for r in rules], rate_limit=-1)
    return types.SimpleNamespace(Span=twin("span", impl).Span, sampler=sampler)


@pytest.mark.parametrize("n_rules", [0, 10])
def test_sample_decision(benchmark, impl, n_rules):
    benchmark.group = "sample: new root span + decision, %d rules" % n_rules
    kit = _sampling_kit(impl, n_rules)
    Span, sample = kit.Span, kit.sampler.sample

    def run():
        sample(Span("web.request", service="svc", resource="GET /"))

    benchmark(run)


_MEMORY_SCRIPT = r"""
import json, os, sys
impl, n = sys.argv[1], int(sys.argv[2])
if impl == "python":
    os.environ["DDFAST_NO_EXTENSIONS"] = "1"
kept = []
if impl == "ddtrace":
    from ddtrace.trace import tracer
    class W:
        def write(self, spans=None): kept.extend(spans)
        def flush_queue(self, *a, **k): pass
        def stop(self, *a, **k): pass
        def recreate(self, *a, **k): return self
        def before_fork(self): pass
    tracer._span_aggregator.writer = W()
else:
    import ddfast
    from ddfast import Tracer
    assert ddfast.implementation() == impl, (ddfast.implementation(), impl)
    class W:
        def write(self, spans): kept.extend(spans)
    tracer = Tracer(writer=W())
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
def run(count):
    for _ in range(count):
        with tracer.trace("web.request", service="svc", resource="GET /users") as s:
            s.set_tag("http.method", "GET")
            s.set_tag("http.status_code", 200)
run(2000); kept.clear()
import gc; gc.collect()
before = rss()
run(n)
assert len(kept) == n
print(json.dumps({"bytes_per_span": (rss() - before) / n}))
"""


def test_memory_per_finished_span(benchmark, impl, tmp_path):
    benchmark.group = "memory: RSS bytes held per finished span (see extra_info)"
    result = {}

    def run():
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, impl, "20000"],
            capture_output=True,
            text=True,
            check=True,
            cwd=str(tmp_path),  # outside the checkout: the installed package, with its compiled modules
        )
        result.update(json.loads(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["bytes_per_span"] = result["bytes_per_span"]
    print("\n%s: %.0f bytes per finished span" % (impl, result["bytes_per_span"]))
