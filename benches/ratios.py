"""Ratios between implementations measured in one pytest-benchmark run, per operation.

An operation is a benchmark group plus the parameters other than the implementation; its ratios are
``ddtrace/cython`` and ``otel/cython`` (how many times faster ddfast compiled is than the reference
tracers), ``python/cython`` (compiled vs pure twin) and ``ddtrace/python`` (pure twin vs ddtrace),
each a quotient of medians. Only quotients of one run mean anything on a shared, noisy machine.
``python -m benches.ratios RESULT.json`` prints them and the targets, met or not (a report: CI gates
on instruction counts, ``benches/gate.py``).
A benchmark that measures memory (``extra_info["bytes_per_span"]``) is compared by those bytes.
"""

import fnmatch

IMPL_PARAMS = ("impl", "tracer_impl")
PAIRS = (("ddtrace", "cython"), ("otel", "cython"), ("python", "cython"), ("ddtrace", "python"))


def _impl(bench):
    params = bench.get("params") or {}
    for key in IMPL_PARAMS:
        if key in params:
            return params[key]
    return None


def operation(bench, qualify=False):
    """The benchmark's group: the same work in every implementation. ``qualify`` appends the
    parameters other than the implementation, for groups that hold more than one operation."""
    op = bench["group"] or bench["name"].split("[")[0]
    if qualify:
        params = bench.get("params") or {}
        op = " ".join([op] + ["%s=%s" % (k, params[k]) for k in sorted(params) if k not in IMPL_PARAMS])
    return op


def medians(benchmarks, statistic="median"):
    """``{operation: {impl: (median seconds, interquartile range)}}`` (bytes and 0 for memory);
    ``statistic="min"`` gives the fastest round instead of the median."""
    measured = [(bench, _impl(bench)) for bench in benchmarks]
    measured = [(bench, impl) for bench, impl in measured if impl is not None]
    seen, shared = set(), set()
    for bench, impl in measured:
        key = (operation(bench), impl)
        if key in seen:
            shared.add(key[0])
        seen.add(key)
    out = {}
    for bench, impl in measured:
        stats = bench["stats"]
        held = (bench.get("extra_info") or {}).get("bytes_per_span")
        value = (float(held), 0.0) if held is not None else (stats[statistic], stats["iqr"])
        out.setdefault(operation(bench, operation(bench) in shared), {})[impl] = value
    return out


def ratios(benchmarks, statistic="median"):
    """``{operation: {"ddtrace/cython": x, ...}}`` for every pair measured in this run."""
    out = {}
    for op, by_impl in medians(benchmarks, statistic).items():
        row = {}
        for slow, fast in PAIRS:
            if slow in by_impl and fast in by_impl and by_impl[fast][0] > 0:
                row["%s/%s" % (slow, fast)] = round(by_impl[slow][0] / by_impl[fast][0], 3)
        if row:
            out[op] = row
    return out


#: the targets (ratios, slow/fast), reported by ``python -m benches.ratios``: seconds on a shared machine
#: move too much to gate on (CI gates on instruction counts, ``benches/gate.py``)
TARGETS = (
    ("inject: default", "ddtrace/cython", 10.0),
    ("extract: default headers, default styles", "ddtrace/cython", 10.0),
    ("sample: new root span + decision, 10 rules", "ddtrace/cython", 10.0),
    ("encode: *", "ddtrace/cython", 2.0),
    ("request: *", "ddtrace/cython", 30.0),
    ("request: *", "ddtrace/python", 1.0),
    ("span: start+finish*", "ddtrace/cython", 10.0),
    ("memory: *", "ddtrace/cython", 2.0),
    # carriers: per message
    ("kafka *", "ddtrace/cython", 10.0),
    ("aiokafka *", "ddtrace/cython", 10.0),
)
#: the absolute targets: (operation glob, most seconds for ddfast compiled's median); they hold for one
#: machine only (the README quotes them)
TIME_TARGETS = (
    ("inject: default", 1.0e-6),
    ("extract: default headers, default styles", 1.5e-6),
    ("span: start+finish*", 1.0e-6),
    ("request: *", 3.0e-6),
    # carriers: per message
    ("kafka *", 2.0e-6),
    ("aiokafka *", 2.0e-6),
)


def report(benchmarks):
    """The lines ``python -m benches.ratios`` prints: each ratio of the run, and each target met or not."""
    table = ratios(benchmarks)
    lines = ["%-55s %s" % (op, "  ".join("%s %.2fx" % pair for pair in sorted(row.items())))
             for op, row in sorted(table.items())]  # fmt: skip
    for pattern, pair, target in TARGETS:
        for op in sorted(o for o in table if fnmatch.fnmatchcase(o, pattern) and pair in table[o]):
            got = table[op][pair]
            lines.append("%s target  %-55s %-15s %6.2fx (target %.0fx)"
                         % ("met    " if got >= target else "NOT MET", op, pair, got, target))  # fmt: skip
    by_median = medians(benchmarks)
    for pattern, most in TIME_TARGETS:
        for op in sorted(o for o in by_median if fnmatch.fnmatchcase(o, pattern) and "cython" in by_median[o]):
            got = by_median[op]["cython"][0]
            lines.append("%s target  %-55s %-15s %6.2f us (target <= %.1f us, median)"
                         % ("met    " if got <= most else "NOT MET", op, "cython", got * 1e6, most * 1e6))  # fmt: skip
    return lines


if __name__ == "__main__":
    import json
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m benches.ratios RESULT.json (pytest-benchmark's --benchmark-json)")
    with open(sys.argv[1]) as f:
        print("\n".join(report(json.load(f)["benchmarks"])))
