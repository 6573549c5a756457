"""Ratios between implementations measured in one pytest-benchmark run, per operation.

An operation is a benchmark group plus the parameters other than the implementation; its ratios are
``ddtrace/cython`` and ``otel/cython`` (how many times faster ddfast compiled is than the reference
tracers), ``python/cython`` (compiled vs pure twin) and ``ddtrace/python`` (pure twin vs ddtrace),
each a quotient of medians. Only quotients of one run mean anything on a shared, noisy machine.
A benchmark that measures memory (``extra_info["bytes_per_span"]``) is compared by those bytes.
"""

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
