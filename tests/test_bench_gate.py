"""The per-operation gate on instruction counts (``python -m benches.gate``), on made-up counts: a rise
past the margin fails, a fall or a rise within it passes, an operation not counted fails, and a run on
another CPython build is compared loosely or not gated, as it says."""

import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = {"implementation": "cpython", "python": "3.11.7", "compiler": "GCC 12.2.0", "machine": "x86_64",
         "gil": "enabled"}  # fmt: skip


def counts_run(build=None, **counts):
    """A ``benches.counts --json`` output of the compiled core: inject 5,000 and extract 10,000
    instructions per round unless given."""
    ops = {"inject": 5000, "extract": 10000}
    ops.update(counts)
    return {"build": dict(BUILD, **(build or {})), "loop": 800, "counts": {"cython": ops}}


def gate(tmp_path, run, *args):
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(run))
    return subprocess.run(
        [sys.executable, "-m", "benches.gate", str(path), "--baseline", str(tmp_path / "baseline.json"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def save(tmp_path, *runs):
    paths = []
    for n, run in enumerate(runs):
        paths.append(tmp_path / ("run-%d.json" % n))
        paths[-1].write_text(json.dumps(run))
    return subprocess.run(
        [sys.executable, "-m", "benches.gate", "--save-baseline", "--baseline", str(tmp_path / "baseline.json")]
        + [str(p) for p in paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def line(out, op):
    return next(x for x in out.splitlines() if x.startswith(op + " "))


def test_a_rise_past_the_margin_fails_and_one_within_it_passes(tmp_path):
    assert save(tmp_path, counts_run()).returncode == 0
    same = gate(tmp_path, counts_run())
    assert same.returncode == 0, same.stdout
    assert "counts gate: passed" in same.stdout
    within = gate(tmp_path, counts_run(inject=5090))  # +1.8%
    assert within.returncode == 0, within.stdout
    risen = gate(tmp_path, counts_run(inject=5150))  # +3%
    assert risen.returncode == 1
    assert "RISEN" in line(risen.stdout, "inject") and "+3.0%" in line(risen.stdout, "inject")
    assert "ok" in line(risen.stdout, "extract")
    assert "counts gate: FAILED" in risen.stdout


def test_the_margin_is_an_option(tmp_path):
    assert save(tmp_path, counts_run()).returncode == 0
    assert gate(tmp_path, counts_run(inject=5150), "--margin", "0.05").returncode == 0
    assert gate(tmp_path, counts_run(inject=5050), "--margin", "0.005").returncode == 1


def test_a_fall_passes_and_says_by_how_much(tmp_path):
    assert save(tmp_path, counts_run()).returncode == 0
    fell = gate(tmp_path, counts_run(inject=2500))
    assert fell.returncode == 0, fell.stdout
    assert "-50.0%" in line(fell.stdout, "inject") and "ok" in line(fell.stdout, "inject")


def test_an_operation_not_counted_fails_and_a_new_one_is_reported(tmp_path):
    assert save(tmp_path, counts_run()).returncode == 0
    run = counts_run(span=8000)
    del run["counts"]["cython"]["extract"]
    result = gate(tmp_path, run)
    assert result.returncode == 1
    assert "MISSING" in line(result.stdout, "extract")
    assert "new" in line(result.stdout, "span")


def test_no_baseline_fails(tmp_path):
    result = gate(tmp_path, counts_run())
    assert result.returncode == 1 and "is missing" in result.stdout


def test_another_patch_version_or_compiler_is_compared_loosely(tmp_path):
    assert save(tmp_path, counts_run()).returncode == 0
    for build in ({"python": "3.11.9"}, {"compiler": "Clang 17.0.0"}):
        moved = gate(tmp_path, counts_run(build, inject=5750))  # +15%: the build's own difference
        assert moved.returncode == 0, moved.stdout
        assert "the build differs from the baseline's" in moved.stdout and "loose margin 25%" in moved.stdout
        assert gate(tmp_path, counts_run(build, inject=6500)).returncode == 1  # +30%: a regression still fails


def test_another_feature_version_or_gil_build_is_reported_not_gated(tmp_path):
    assert save(tmp_path, counts_run()).returncode == 0
    for build in ({"python": "3.13.1"}, {"gil": "disabled"}):
        result = gate(tmp_path, counts_run(build, inject=9000))
        assert result.returncode == 0, result.stdout
        key, value = next(iter(build.items()))
        assert "NOT gated" in result.stdout and "%s %s (baseline %s)" % (key, value, BUILD[key]) in result.stdout
        assert "not gated" in line(result.stdout, "inject")
    run = counts_run({"python": "3.13.1"})
    del run["counts"]["cython"]["extract"]
    assert gate(tmp_path, run).returncode == 1  # an operation not counted is a failure on any build


def test_the_baseline_keeps_the_higher_count_of_its_runs_and_their_spread(tmp_path):
    assert save(tmp_path, counts_run(inject=5000), counts_run(inject=5010)).returncode == 0
    base = json.loads((tmp_path / "baseline.json").read_text())
    assert base["counts"] == {"inject": 5010, "extract": 10000}
    assert base["build"] == BUILD and base["runs"] == 2
    assert base["spread"]["inject"] == round(10 / 5010, 5) and base["spread"]["extract"] == 0.0


def test_runs_of_different_builds_make_no_baseline(tmp_path):
    result = save(tmp_path, counts_run(), counts_run({"python": "3.11.9"}))
    assert result.returncode != 0 and "different builds" in result.stderr
    assert not (tmp_path / "baseline.json").exists()


def test_the_committed_baseline_holds_every_counted_operation():
    spec = importlib.util.spec_from_file_location("bench_counts", os.path.join(ROOT, "benches", "counts.py"))
    counts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(counts)
    with open(os.path.join(ROOT, "benches", "counts_baseline.json")) as f:
        base = json.load(f)
    assert sorted(base["counts"]) == sorted(op for op in counts.OPERATIONS if op != "loop")
    assert base["impl"] == "cython" and {"python", "compiler", "gil"} <= set(base["build"])
