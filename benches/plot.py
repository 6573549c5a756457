"""Draw the per-request comparison of a pytest-benchmark run as a PNG (the README's picture).

``python -m benches.plot RESULT.json OUT.png``: one group of bars per header set, one bar per tracer
(microseconds per request, median), each labelled with its value and how many times ddfast compiled
it is. Needs matplotlib (the ``bench`` extra).
"""

import argparse
import json
import sys

from benches import ratios

TRACERS = (
    ("cython", "ddfast compiled", "#632ca6"),
    ("python", "ddfast pure Python", "#a58bd1"),
    ("ddtrace", "ddtrace 4.16", "#7d7d7d"),
    ("otel", "OpenTelemetry SDK", "#f5a800"),
)
PREFIX = "request: "


def per_request(result):
    """``[(header set, {impl: microseconds})]`` of the ``request:`` groups, in the suite's order."""
    rows = []
    for op, by_impl in ratios.medians(result["benchmarks"]).items():
        if op.startswith(PREFIX):
            rows.append((op[len(PREFIX) :].replace(" headers", ""), {i: m * 1e6 for i, (m, _) in by_impl.items()}))
    return rows


def draw(rows, out, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 1.2 + 1.1 * len(rows)), dpi=110)
    height = 0.8 / len(TRACERS)
    for n, (impl, label, colour) in enumerate(TRACERS):
        ys, xs = [], []
        for row, (_, values) in enumerate(rows):
            if impl in values:
                ys.append(row + (n - (len(TRACERS) - 1) / 2) * height)
                xs.append(values[impl])
        bars = ax.barh(ys, xs, height=height * 0.9, color=colour, label=label)
        for bar, (_, values) in zip(bars, [r for r in rows if impl in r[1]], strict=True):
            base = values.get("cython")
            text = "%.1f us" % bar.get_width()
            if base and impl != "cython":
                text += "  (%.1fx)" % (bar.get_width() / base)
            ax.text(bar.get_width() * 1.02, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name for name, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("microseconds per request (median; lower is better); (Nx) = N times the time of ddfast compiled")
    ax.set_xlim(0, max(v for _, values in rows for v in values.values()) * 1.3)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=len(TRACERS), fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benches.plot", description=__doc__.split("\n\n")[0])
    parser.add_argument("result", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("out", help="the PNG to write")
    args = parser.parse_args(argv)
    with open(args.result) as f:
        result = json.load(f)
    rows = per_request(result)
    if not rows:
        print("no request: benchmarks in %s" % args.result, file=sys.stderr)
        return 1
    cpu = (result.get("machine_info") or {}).get("cpu", {}).get("brand_raw", "")
    title = "Overhead per request: extract, server + client span, sampling, inject, encode\n%s %s" % (
        cpu,
        (result.get("datetime") or "")[:10],
    )
    draw(rows, args.out, title)
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
