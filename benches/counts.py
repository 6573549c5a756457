"""Instructions per operation, counted by callgrind: the steady measure behind the README's counts.

On a shared machine a median can move 2x between runs, while the count of instructions an operation
executes moves by about 1%. The count is the difference between two runs of one loop, a short
and a long one (``ROUNDS``), divided by the difference of their lengths, so start-up and import cost cancel.
Each run is a fresh interpreter under ``valgrind --tool=callgrind``, its working directory outside
the checkout so that it measures the installed ddfast.

    python -m benches.counts                       # every operation, ddfast compiled
    python -m benches.counts --impl cython,ddtrace --ops inject,extract

Needs valgrind (``apt install valgrind``); a development aid, not part of the CI gate. Counts
depend on the CPython version and the compiler flags: compare counts made on one build setup
(a ``CFLAGS=-g`` build counts a few hundred more instructions per call than the default one).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
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
}
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


def count(op, impl, python=sys.executable):
    """Instructions one round of ``op`` takes in ``impl`` (``cython``, ``python`` or ``ddtrace``)."""
    code = CHILD % OPERATIONS[op]
    short, long = ROUNDS[impl]
    totals = []
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
            done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError("%s %s failed:\n%s" % (op, impl, done.stderr[-2000:]))
            totals.append(collected(done.stderr))
    return (totals[1] - totals[0]) / (long - short)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default="cython", help="comma-separated: " + ", ".join(ROUNDS))
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="comma-separated: " + ", ".join(OPERATIONS))
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
    for op in ops:
        print("%-18s" % op + "".join("%12.0f" % (count(op, impl) - loop) for impl in impls), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
