"""``python -m benches.ratios``: the report ``make bench`` prints after the timed suites, each
operation's ratios and each target met or not (a report: it never fails a build)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench(group, impl, median):
    return {"group": group, "name": "test_x[%s]" % impl, "params": {"impl": impl},
            "stats": {"min": median, "median": median, "iqr": median * 0.02}, "extra_info": {}}  # fmt: skip


def report(tmp_path, inject_cython):
    path = tmp_path / "run.json"
    benchmarks = [bench("inject: default", "cython", inject_cython), bench("inject: default", "ddtrace", 15e-6),
                  bench("inject: default", "python", 10e-6)]  # fmt: skip
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    return subprocess.run([sys.executable, "-m", "benches.ratios", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_ratios_and_targets_are_reported_never_failed(tmp_path):
    fast = report(tmp_path, 1.0e-6)
    assert fast.returncode == 0, fast.stderr
    assert "ddtrace/cython 15.00x" in fast.stdout and "python/cython 10.00x" in fast.stdout
    assert "met     target  inject: default" in fast.stdout and "15.00x (target 10x)" in fast.stdout
    assert "1.00 us (target <= 1.0 us, median)" in fast.stdout
    slow = report(tmp_path, 3.0e-6)  # 5x: below the 10x target, and 3 us: past the 1 us one
    assert slow.returncode == 0, slow.stderr
    assert "NOT MET target  inject: default" in slow.stdout and "5.00x (target 10x)" in slow.stdout
    assert "3.00 us (target <= 1.0 us, median)" in slow.stdout
