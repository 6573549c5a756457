"""Where the per-request targets (<= 3 us and >= 30x ddtrace, compiled) stand, and what propagation
could at most give back: per header set, the request as ``benches/test_request.py`` runs it, the same
request with propagation free (extract hands over the context it would make, inject writes nothing:
spans, tags, sampling, finishing and encoding only), and ddtrace's, measured in one process.

    python benches/headroom.py                        # every header set, ~4 s each (make headroom)
    python benches/headroom.py --sets datadog,default --seconds 10

Run as a script (not ``-m`` from the checkout, which would put the uncompiled source tree first on
``sys.path``): it measures the installed ddfast.

When the free-propagation request is itself slower than ddtrace / 30, no work on the headers alone can
meet the ratio on that header set. A development aid (medians of ~1 ms batches, as ``ddfast bench``).
"""

import argparse
import sys

from ddfast.tools import request_bench


def free_propagation(header_set):
    """``(request, restore)``: the compiled round of ``header_set`` with extract and inject costing
    nothing (a call each): extract returns the context the real one makes from these headers."""
    from ddfast._ext import propagation

    incoming, styles = request_bench.HEADER_SETS[header_set]
    context = propagation.extract(incoming, propagation.Settings(extract_styles=styles, inject_styles=styles))
    real_round = request_bench._round

    def free_round(activate, extract, trace, inject, incoming):
        return real_round(activate, lambda headers: context, trace, lambda ctx, headers: None, incoming)

    request_bench._round = free_round
    try:
        return request_bench.setup("cython", header_set)
    finally:
        request_bench._round = real_round


def measure(header_set, seconds):
    """``{"cython": s, "free": s, "ddtrace": s}``: medians per request, ``seconds`` for each."""
    out = {}
    with request_bench.quiet():
        for name, make in (
            ("cython", lambda: request_bench.setup("cython", header_set)),
            ("free", lambda: free_propagation(header_set)),
            ("ddtrace", lambda: request_bench.setup("ddtrace", header_set)),
        ):
            request, restore = make()
            try:
                out[name] = request_bench.measure(request, seconds)
            finally:
                restore()
    return out


def report(header_set, m):
    us = {k: v * 1e6 for k, v in m.items()}
    return "%-10s %7.2f us %5.1fx   %7.2f us %5.1fx   %8.1f us   %6.2f us" % (
        header_set,
        us["cython"],
        m["ddtrace"] / m["cython"],
        us["free"],
        m["ddtrace"] / m["free"],
        us["ddtrace"],
        us["ddtrace"] / 30,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(request_bench.HEADER_SETS), help="header sets, comma-separated")
    parser.add_argument("--seconds", type=float, default=1.3, help="per measurement (three per header set)")
    args = parser.parse_args(argv)
    print("%-10s %18s   %18s   %11s   %9s" % ("headers", "request (vs dd)", "free prop. (vs dd)", "ddtrace", "dd / 30"))
    for header_set in args.sets.split(","):
        print(report(header_set, measure(header_set, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
