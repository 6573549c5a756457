"""The per-operation gate CI runs: ``python -m benches.gate COUNTS.json`` (the JSON of
``python -m benches.counts --json``) exits 1 when an operation of ddfast's compiled core executes more
instructions per round than the committed baseline (``benches/counts_baseline.json``) by more than the
margin, or an operation of the baseline was not counted.

Instructions, not seconds: callgrind counts what the operation executes, whatever else the machine
does, so a loaded CI machine does not flag an operation that did not change, and a change of a few
percent shows. Two counts of the same code on one build agree to within 0.12% (a fixed hash seed); with
another hash seed they move by up to 0.8% (dict and set layouts). ``MARGIN`` allows 2%: a change that adds a
dict lookup to a 5k-instruction operation passes, one that adds a Python call does not. A count that
fell passes, and says by how much: commit a new baseline to hold the gain.

Counts depend on the interpreter: its version, its compiler and flags, a free-threaded build. The
baseline records the build it was counted on (``build``). A run on another CPython feature version
(3.13 against 3.11) or another GIL build is reported and not gated; one where only the patch version
or the compiler differs is compared with ``LOOSE_MARGIN``, which catches a large regression and not
the build's own difference.

Refresh the baseline on purpose, after a change meant to move the counts: ``make counts-baseline``,
look at ``git diff benches/counts_baseline.json``, and commit it with a message that says why.
"""

import argparse
import json
import os
import sys

BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "counts_baseline.json")
#: the implementation gated: the compiled core
IMPL = "cython"
#: the largest allowed rise of an operation's count on the baseline's build (0.02 = 2%)
MARGIN = 0.02
#: the same on a build that differs in the patch version or the compiler only
LOOSE_MARGIN = 0.25


def load(path):
    with open(path) as f:
        return json.load(f)


def _feature(version):
    return ".".join(str(version).split(".")[:2])


def build_match(run, baseline):
    """``(how, why)``: ``"same"``, ``"loose"`` (patch version or compiler differ: compared with the loose
    margin) or ``"other"`` (another feature version, interpreter or GIL build: not gated)."""
    differ = [key for key in sorted(set(run) | set(baseline)) if run.get(key) != baseline.get(key)]
    if not differ:
        return "same", ""
    why = ", ".join("%s %s (baseline %s)" % (key, run.get(key), baseline.get(key)) for key in differ)
    if any(run.get(key) != baseline.get(key) for key in ("implementation", "gil", "machine")):
        return "other", why
    if _feature(run.get("python")) != _feature(baseline.get("python")):
        return "other", why
    return "loose", why


def compare(run, baseline, margin=MARGIN, loose_margin=LOOSE_MARGIN):
    """``(how, why, rows)``: the build match (``build_match``) and, per operation, ``(operation, baseline
    count, counted or None, change, verdict)``; the verdict is ``ok``, ``RISEN``, ``MISSING`` (in the
    baseline, not counted), ``new`` (counted, not in the baseline) or ``not gated`` on another build."""
    how, why = build_match(run.get("build", {}), baseline.get("build", {}))
    allowed = margin if how == "same" else loose_margin
    now = run.get("counts", {}).get(IMPL, {})
    before = baseline["counts"]
    rows = []
    for op in sorted(set(before) | set(now)):
        old, new = before.get(op), now.get(op)
        change = (new - old) / old if old and new is not None else None
        if new is None:
            verdict = "MISSING"
        elif old is None:
            verdict = "new"
        elif how == "other":
            verdict = "not gated"
        else:
            verdict = "RISEN" if change > allowed else "ok"
        rows.append((op, old, new, change, verdict))
    return how, why, rows


def failed(rows):
    return [row for row in rows if row[4] in ("RISEN", "MISSING")]


def save_baseline(runs, path):
    """The baseline from one or more runs on one build: per operation, the highest count of the runs."""
    builds = {json.dumps(run["build"], sort_keys=True) for run in runs}
    if len(builds) != 1:
        raise ValueError("the runs were counted on different builds: %s" % ", ".join(sorted(builds)))
    counts = {}
    for run in runs:
        for op, n in run["counts"][IMPL].items():
            counts[op] = max(n, counts.get(op, n))
    spread = {}
    for op in counts:
        seen = [run["counts"][IMPL][op] for run in runs if op in run["counts"][IMPL]]
        spread[op] = round((max(seen) - min(seen)) / max(seen), 5) if max(seen) else 0.0
    base = {"build": runs[0]["build"], "impl": IMPL, "runs": len(runs), "spread": spread, "counts": counts}
    with open(path, "w") as f:
        json.dump(base, f, indent=1, sort_keys=True)
        f.write("\n")
    return base


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benches.gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("counts", nargs="+", help="JSON of python -m benches.counts --json (one, or with "
                        "--save-baseline one or more)")  # fmt: skip
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--margin", type=float, default=MARGIN, help="largest allowed rise (0.02 = 2%%)")
    parser.add_argument("--save-baseline", action="store_true", help="write these runs as the baseline and stop")
    args = parser.parse_args(argv)
    if args.save_baseline:
        base = save_baseline([load(path) for path in args.counts], args.baseline)
        print("baseline written: %s (%d operations, %d runs)" % (args.baseline, len(base["counts"]), base["runs"]))
        return 0
    if len(args.counts) != 1:
        parser.error("gate one run at a time")
    if not os.path.exists(args.baseline):
        print("counts gate: FAILED, %s is missing (make counts-baseline)" % args.baseline)
        return 1
    run = load(args.counts[0])
    how, why, rows = compare(run, load(args.baseline), args.margin)
    if how == "other":
        print("counts gate: counted on another build than the baseline's, reported and NOT gated: " + why)
    elif how == "loose":
        print("counts gate: the build differs from the baseline's (%s): compared with the loose margin %.0f%%"
              % (why, LOOSE_MARGIN * 100))  # fmt: skip
    allowed = args.margin if how == "same" else LOOSE_MARGIN
    print("%-18s %10s %10s %8s  %s" % ("instructions", "baseline", "counted", "change", "verdict"))
    for op, old, new, change, verdict in rows:
        print("%-18s %10s %10s %8s  %s" % (op, "-" if old is None else old, "-" if new is None else new,
                                           "-" if change is None else "%+.1f%%" % (change * 100), verdict))  # fmt: skip
    bad = failed(rows)
    print("counts gate: %s (%d operations, %s, allowed rise %.0f%%)" % (
        "FAILED" if bad else "passed", len(rows), IMPL, allowed * 100))  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
