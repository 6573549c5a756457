"""Instructions per operation, counted by callgrind: the steady measure behind the README's counts and
the per-operation CI gate (``benches/gate.py``).

On a shared machine a median can move 2x between runs, while the count of instructions an operation
executes repeats to within 0.12% (a fixed hash seed). The count is the difference between two runs of one loop,
a short and a long one (``ROUNDS``), divided by the difference of their lengths, so start-up and import
cost cancel.
Each run is a fresh interpreter under ``valgrind --tool=callgrind`` with a fixed hash seed, its working
directory outside the checkout so that it measures the installed ddfast.

    python -m benches.counts                       # every operation, ddfast compiled (about 1.5 minutes)
    python -m benches.counts --impl cython,ddtrace --ops inject,extract
    python -m benches.counts --json counts.json    # also as JSON, with the build (what benches.gate reads)

Needs valgrind (``apt install valgrind``). Counts depend on the CPython version and the compiler
flags: compare counts made on one build setup (a ``CFLAGS=-g`` build counts a few hundred more
instructions per call than the default one); the JSON records the interpreter's.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

# (short, long) loop lengths: fewer rounds for the implementations that take ~10x more per round
ROUNDS = {"cython": (2000, 22000), "python": (200, 2200), "ddtrace": (200, 2200)}

# Each operation as the body of ``make(impl) -> one_round``; the child runs ``one_round()`` n times.
# The inputs are the benchmark suites' (benches/test_propagation.py, test_tracing.py, the request).
# "loop" is the loop and the call of an empty round: subtracted from the others.
OPERATIONS = {
    "loop": """
def make(impl):
    def one_round():
        pass
    return one_round
""",
    "inject": """
def make(impl):
    styles = ("datadog", "tracecontext", "baggage")
    tid, sid = 0x6B06331600000000CFC2EF2D8C3C8F69, 0x1234567890ABCDEF
    if impl == "ddtrace":
        from ddtrace.propagation.http import HTTPPropagator
        from ddtrace.trace import Context
        ctx = Context(trace_id=tid, span_id=sid, sampling_priority=1, meta={"_dd.p.dm": "-0"}, is_remote=False)
        inject = HTTPPropagator.inject
    else:
        p = importlib.import_module(("ddfast._ext." if impl == "cython" else "ddfast._pure.") + "propagation")
        p.configure(p.Settings(inject_styles=styles))
        ctx = p.Context(trace_id=tid, span_id=sid, sampling_priority=1, meta={"_dd.p.dm": "-0"}, is_remote=False)
        inject = p.http_inject
    inject(ctx, {})

    def one_round():
        inject(ctx, {})
    return one_round
""",
    "extract": """
def make(impl):
    from ddfast.tools.request_bench import HEADER_SETS
    headers = dict(HEADER_SETS["default"][0])
    if impl == "ddtrace":
        from ddtrace.propagation.http import HTTPPropagator
        extract = HTTPPropagator.extract
    else:
        p = importlib.import_module(("ddfast._ext." if impl == "cython" else "ddfast._pure.") + "propagation")
        p.configure(p.Settings(extract_styles=("datadog", "tracecontext", "baggage")))
        extract = p.http_extract

    def one_round():
        extract(headers)
    return one_round
""",
    # the same headers in the WSGI environ a server (gunicorn) hands over: 36 keys, the header names
    # made at run time as a server makes them; ddtrace reads it as its WSGI middleware does
    "extract-environ": """
def make(impl):
    import io, sys
    from ddfast.tools.request_bench import HEADER_SETS
    environ = {
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.file_wrapper": object, "wsgi.input_terminated": True, "gunicorn.socket": object(),
        "SERVER_SOFTWARE": "gunicorn/23.0.0", "REQUEST_METHOD": "GET", "QUERY_STRING": "page=2",
        "RAW_URI": "/cart?page=2", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
        "REMOTE_PORT": "51234", "SERVER_NAME": "0.0.0.0", "SERVER_PORT": "8000", "SCRIPT_NAME": "",
        "PATH_INFO": "/cart", "CONTENT_LENGTH": "0",
    }
    extra = {"accept-language": "en-GB,en;q=0.8", "connection": "keep-alive", "x-forwarded-for": "203.0.113.9",
             "x-request-id": "b1946ac92492d2347c6235b4d2611184"}
    for name, value in list(HEADER_SETS["default"][0].items()) + list(extra.items()):
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if impl == "ddtrace":
        from ddtrace.contrib.internal.wsgi.wsgi import get_request_headers
        from ddtrace.propagation.http import HTTPPropagator
        def extract(environ):
            return HTTPPropagator.extract(get_request_headers(environ))
    else:
        p = importlib.import_module(("ddfast._ext." if impl == "cython" else "ddfast._pure.") + "propagation")
        p.configure(p.Settings(extract_styles=("datadog", "tracecontext", "baggage")))
        extract = p.http_extract
    extract(environ)

    def one_round():
        extract(environ)
    return one_round
""",
    "span": """
def make(impl):
    from ddfast.tools.request_bench import NullWriter
    if impl == "ddtrace":
        from ddtrace.trace import tracer
        tracer._span_aggregator.writer = NullWriter()
    else:
        from ddfast.tracer import Tracer
        package = "ddfast._ext." if impl == "cython" else "ddfast._pure."
        core = [importlib.import_module(package + m) for m in ("span", "sampling", "propagation")]
        tracer = Tracer(writer=NullWriter(), sampler=core[1].DatadogSampler(rules=[]), _core=tuple(core))
    trace = tracer.trace

    def one_round():
        with trace("web.request", service="svc", resource="GET /"):
            pass
    return one_round
""",
    "sample": """
def make(impl):
    rules = [dict(sample_rate=0.5, service="nomatch-%d" % i, name="web.*") for i in range(9)]
    rules.append(dict(sample_rate=0.5, service="svc", name="web.*"))
    if impl == "ddtrace":
        from ddtrace._trace.sampler import DatadogSampler
        from ddtrace._trace.sampling_rule import SamplingRule
        from ddtrace.trace import Span
    else:
        package = "ddfast._ext." if impl == "cython" else "ddfast._pure."
        sampling = importlib.import_module(package + "sampling")
        DatadogSampler, SamplingRule = sampling.DatadogSampler, sampling.SamplingRule
        Span = importlib.import_module(package + "span").Span
    sample = DatadogSampler(rules=[SamplingRule(**r) for r in rules], rate_limit=-1).sample

    def one_round():
        sample(Span("web.request", service="svc", resource="GET /"))
    return one_round
""",
}
for _version in ("v04", "v05"):
    OPERATIONS["encode-" + _version] = """
def make(impl):
    if impl == "ddtrace":
        from ddtrace.internal import encoding
        from ddtrace.trace import Span
    else:
        package = "ddfast._ext." if impl == "cython" else "ddfast._pure."
        encoding = importlib.import_module(package + "encoding")
        Span = importlib.import_module(package + "span").Span
    encoder = getattr(encoding, "MsgpackEncoder%s")(20 << 20, 20 << 20)
    trace = []
    for i in range(10):
        s = Span("flask.request" if i == 0 else "sqlite.query", service="shop" if i == 0 else "shop-db",
                 resource="GET /cart/<int:id>" if i == 0 else "SELECT * FROM items WHERE cart_id = ?",
                 span_type="web" if i == 0 else "sql", trace_id=(0x6553A1B2 << 96) | 0x1234567890ABCDEF,
                 span_id=1000 + i, parent_id=1000 if i else None)
        for key, value in (("component", "flask"), ("span.kind", "server"), ("http.method", "GET"),
                           ("http.url", "http://shop.example.com/cart/%%d" %% i), ("http.status_code", "200")):
            s.set_tag(key, value)
        s.set_metric("_dd.top_level", 1)
        s.set_metric("process_id", 4242)
        s.finish()
        trace.append(s)

    def one_round():
        encoder.put(trace)
        encoder.encode()
    return one_round
""" % _version.upper()
for _headers in ("datadog", "default"):
    OPERATIONS["request-" + _headers] = (
        """
def make(impl):
    from ddfast.tools import request_bench
    request, restore = request_bench.setup(impl, "%s")
    return request
"""
        % _headers
    )

# A message's traced call through the Kafka integrations (confluent-kafka's produce and poll, the library's
# own method a stub, no broker): what the per-message benchmarks (benches/test_kafka.py) time.
KAFKA = """
def make(impl):
    import types
    import confluent_kafka as ck
    from ddfast.tools.request_bench import NullWriter
    headers = [("x-datadog-trace-id", b"5208471231060165668"), ("x-datadog-parent-id", b"1311768467294899695"),
               ("x-datadog-sampling-priority", b"1"), ("x-datadog-tags", b"_dd.p.dm=-1,_dd.p.tid=6b06331600000000"),
               ("traceparent", b"00-6b06331600000000484834fd2e2ec424-1234567890abcdef-01"),
               ("tracestate", b"dd=s:1;p:1234567890abcdef;t.dm:-1;t.tid:6b06331600000000")]
    message = ck.Message(topic="orders", partition=0, offset=42, key=b"k1", value=b"payload", headers=headers)
    no_op = lambda *args, **kwargs: None
    servers = "127.0.0.1:9092"
    if impl == "ddtrace":
        from ddtrace import config
        from ddtrace.trace import tracer
        from ddtrace.contrib.internal.kafka import patch as theirs
        tracer._span_aggregator.writer = NullWriter()
        config.kafka.distributed_tracing_enabled = True
        producer = types.SimpleNamespace(_dd_bootstrap_servers=servers, _dd_cluster_id="cluster")
        consumer = types.SimpleNamespace(_dd_bootstrap_servers=servers, _dd_cluster_id="cluster", _group_id="g")
        produce = lambda: theirs.traced_produce(no_op, producer, ("orders", b"payload"), {"key": b"k1", "partition": 0})
        poll = lambda: theirs.traced_poll_or_consume(lambda *a, **k: message, consumer, (1.0,), {})
    else:
        from ddfast.contrib import kafka as ours
        from ddfast.tracer import Tracer
        package = "ddfast._ext." if impl == "cython" else "ddfast._pure."
        core = [importlib.import_module(package + m) for m in ("span", "sampling", "propagation")]
        tracer = Tracer(writer=NullWriter(), sampler=core[1].DatadogSampler(rules=[]), _core=tuple(core))
        make_produce, make_poll, _ = ours.traced_methods(ck.Message, tracer=tracer)
        traced_produce, traced_poll = make_produce(no_op, False), make_poll(lambda *a, **k: message)
        producer = types.SimpleNamespace(_dd_bootstrap_servers=servers, _dd_max_bytes=1000000, _dd_cluster_id="cluster")
        consumer = types.SimpleNamespace(_dd_bootstrap_servers=servers, _dd_group_id="g", _dd_cluster_id="cluster")
        produce = lambda: traced_produce(producer, "orders", b"payload", key=b"k1", partition=0)
        poll = lambda: traced_poll(consumer, 1.0)
    return %s
"""
OPERATIONS["kafka-produce"] = KAFKA % "produce"
OPERATIONS["kafka-consume"] = KAFKA % "poll"

CHILD = """
import importlib, sys
%s
one_round = make(sys.argv[1])
for _ in range(int(sys.argv[2])):
    one_round()
"""


def collected(stderr):
    """The total instruction count callgrind reports on stderr (``Collected : N``)."""
    m = re.search(r"Collected\s*:\s*([\d,]+)", stderr)
    if m is None:
        raise RuntimeError("no callgrind total in:\n" + stderr[-2000:])
    return int(m.group(1).replace(",", ""))


def count(op, impl, python=sys.executable, rounds=None):
    """Instructions one round of ``op`` takes in ``impl`` (``cython``, ``python`` or ``ddtrace``)."""
    code = CHILD % OPERATIONS[op]
    short, long = rounds or ROUNDS[impl]
    totals = []
    # a fixed hash seed: the same dict and set layouts in every run, so start-up counts alike in both
    env = dict(os.environ, PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as cwd:
        for n in (short, long):
            cmd = [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=" + os.devnull,
                python,
                "-c",
                code,
                impl,
                str(n),
            ]
            done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError("%s %s failed:\n%s" % (op, impl, done.stderr[-2000:]))
            totals.append(collected(done.stderr))
    return (totals[1] - totals[0]) / (long - short)


def build():
    """What the counts depend on besides ddfast: the interpreter, its version and compiler, the machine."""
    return {
        "implementation": sys.implementation.name,
        "python": platform.python_version(),
        "compiler": platform.python_compiler(),
        "machine": platform.machine(),
        "gil": "disabled" if sysconfig.get_config_var("Py_GIL_DISABLED") else "enabled",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default="cython", help="comma-separated: " + ", ".join(ROUNDS))
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="comma-separated: " + ", ".join(OPERATIONS))
    parser.add_argument("--json", metavar="PATH", help="also write the counts here (what benches.gate reads)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.exit(2, "benches.counts needs valgrind on PATH\n")
    impls = args.impl.split(",")
    ops = [op for op in args.ops.split(",") if op != "loop"]
    for op in ops:
        if op not in OPERATIONS:
            parser.error("unknown operation %r" % op)
    for impl in impls:
        if impl not in ROUNDS:
            parser.error("unknown implementation %r" % impl)
    loop = count("loop", "cython")
    print("instructions per round, net of the loop and the round's call (%.0f)" % loop)
    print("%-18s" % "" + "".join("%12s" % impl for impl in impls))
    counts = {impl: {} for impl in impls}
    for op in ops:
        for impl in impls:
            counts[impl][op] = round(count(op, impl) - loop)
        print("%-18s" % op + "".join("%12d" % counts[impl][op] for impl in impls), flush=True)
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            result = {"build": build(), "loop": round(loop), "rounds": {i: ROUNDS[i] for i in impls}, "counts": counts}
            json.dump(result, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
