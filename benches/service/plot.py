"""Draw a service benchmark result (``benches.service.run``'s JSON) as a PNG: the README's picture.

``python -m benches.service.plot RESULT.json OUT.png``: left, what each tracer adds to the untraced
service's instructions per request (callgrind); right, CPU time of the server process per request under
``wrk`` load (median of the rounds), the untraced service included. One group of bars per scenario.
"""

import argparse
import json

VARIANTS = (
    ("none", "untraced", "#c8c8c8"),
    ("ddfast", "ddfast", "#632ca6"),
    ("ddfast-noinject", "ddfast, no headers sent", "#b79ce0"),
    ("ddtrace", "ddtrace 4.16", "#7d7d7d"),
    ("otel", "OpenTelemetry SDK", "#f5a800"),
)
SHORT = {"flask": "Flask + gunicorn\n+ requests", "starlette": "Starlette + uvicorn\n+ httpx"}


def _bars(ax, scenarios, value_of, label_of, skip_none):
    shown = [v for v in VARIANTS if not (skip_none and v[0] == "none")]
    width = 0.8 / len(shown)
    for n, (variant, label, colour) in enumerate(shown):
        xs, ys, labels = [], [], []
        for i, variants in enumerate(scenarios.values()):
            value = value_of(variants, variant)
            if value is None:
                continue
            xs.append(i - 0.4 + width * (n + 0.5))
            ys.append(value)
            labels.append(label_of(variants, variant, value))
        bars = ax.bar(xs, ys, width, label=label, color=colour)
        ax.bar_label(bars, labels, fontsize=7, padding=2)
    ax.set_xticks(range(len(scenarios)), [SHORT.get(s, s) for s in scenarios], fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the labels


def draw(result, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = result["scenarios"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)

    def added(variants, variant):
        try:
            return (
                variants[variant]["instructions"]["per_request"] - variants["none"]["instructions"]["per_request"]
            ) / 1e3
        except KeyError:
            return None

    def added_label(variants, variant, value):
        base = variants["none"]["instructions"]["per_request"] / 1e3
        return "+%.0fk\n%.1f%%" % (value, 100 * value / base)

    _bars(left, scenarios, added, added_label, skip_none=True)
    left.set_ylabel("instructions added per request (thousands)")
    left.set_title("What tracing adds (callgrind, deterministic)", fontsize=9)

    def cpu(variants, variant):
        return variants.get(variant, {}).get("load", {}).get("cpu_us_per_request")

    _bars(right, scenarios, cpu, lambda _v, _n, value: "%.0f" % value, skip_none=False)
    right.set_ylabel("server CPU per request under wrk (µs, median)")
    right.set_title("CPU time per request under load", fontsize=9)
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=len(labels), frameon=False)
    machine = result.get("machine", {})
    fig.suptitle("ddfast service benchmark, %s, %s, %d cores, CPython %s" % (
        result.get("date", "?"), machine.get("cpu", "?"), machine.get("cores") or 0, machine.get("python", "?")),
        fontsize=9)  # fmt: skip
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benches.service.plot", description=__doc__.split("\n\n")[0])
    parser.add_argument("result")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    with open(args.result) as f:
        draw(json.load(f), args.out)


if __name__ == "__main__":
    main()
