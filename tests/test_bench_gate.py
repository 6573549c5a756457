"""The benchmark gate (``python -m benches.gate``), on made-up runs: a regression made on purpose fails
it, noise within the margin does not, and nothing drops out of the comparison silently."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench(group, impl, median, iqr=None, **params):
    return {
        "group": group,
        "name": "test_x[%s]" % impl,
        "params": dict(params, impl=impl),
        "stats": {"min": median, "median": median, "iqr": median * 0.02 if iqr is None else iqr},
        "extra_info": {},
    }


def run_of(inject_cython=1.0e-6, extract_cython=1.5e-6, extra=()):
    """A run with two operations; ddtrace at 15 us / 30 us, pure at 10 us / 12 us."""
    benchmarks = [
        bench("inject: default", "cython", inject_cython),
        bench("inject: default", "python", 10e-6),
        bench("inject: default", "ddtrace", 15e-6),
        bench("extract: default headers, default styles", "cython", extract_cython),
        bench("extract: default headers, default styles", "python", 12e-6),
        bench("extract: default headers, default styles", "ddtrace", 30e-6),
    ]
    return {
        "machine_info": {"cpu": {"brand_raw": "test"}},
        "datetime": "2026-11-25",
        "benchmarks": benchmarks + list(extra),
    }


def gate(tmp_path, run, *args):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    return subprocess.run(
        [sys.executable, "-m", "benches.gate", str(path), "--baseline", str(tmp_path / "baseline.json"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_same_numbers_pass_and_a_deliberate_slowdown_fails(tmp_path):
    assert gate(tmp_path, run_of(), "--save-baseline").returncode == 0
    same = gate(tmp_path, run_of(inject_cython=1.1e-6))  # 10% slower: noise, within the margin
    assert same.returncode == 0, same.stdout
    assert "benchmark gate: passed" in same.stdout
    slower = gate(tmp_path, run_of(inject_cython=1.6e-6))  # 60% slower than the baseline, still above the floor
    assert slower.returncode == 1
    assert "FAIL baseline  inject: default" in slower.stdout and "ddtrace/cython" in slower.stdout
    assert "extract" not in slower.stdout.split("FAIL")[-1].split("\n")[0]


def test_the_baseline_holds_on_a_machine_of_another_speed(tmp_path):
    assert gate(tmp_path, run_of(), "--save-baseline").returncode == 0
    doubled = run_of(inject_cython=2.0e-6, extract_cython=3.0e-6)
    for b in doubled["benchmarks"]:  # everything twice as slow, ddfast and the reference alike
        if b["params"]["impl"] != "cython":
            b["stats"]["median"] *= 2
            b["stats"]["min"] *= 2
    result = gate(tmp_path, doubled)
    assert result.returncode == 0, result.stdout


def test_a_ratio_below_its_floor_fails(tmp_path):
    assert gate(tmp_path, run_of(inject_cython=5e-6), "--save-baseline").returncode == 0
    result = gate(tmp_path, run_of(inject_cython=5e-6))  # 3x faster than ddtrace: under the 5x floor
    assert result.returncode == 1
    assert "FAIL floor     inject: default" in result.stdout


def test_an_operation_missing_from_the_run_fails(tmp_path):
    assert gate(tmp_path, run_of(), "--save-baseline").returncode == 0
    run = run_of()
    run["benchmarks"] = [b for b in run["benchmarks"] if not b["group"].startswith("extract")]
    result = gate(tmp_path, run)
    assert result.returncode == 1 and "not measured in this run" in result.stdout


def test_noise_widens_the_margin(tmp_path):
    assert gate(tmp_path, run_of(), "--save-baseline").returncode == 0
    noisy = run_of(inject_cython=1.6e-6)
    noisy["benchmarks"][0]["stats"]["iqr"] = 1.0e-6  # the slow median comes with a wide spread
    assert gate(tmp_path, noisy).returncode == 0


def test_no_baseline_fails(tmp_path):
    result = gate(tmp_path, run_of())
    assert result.returncode == 1 and "is missing" in result.stdout


def test_targets_are_reported(tmp_path):
    gate(tmp_path, run_of(), "--save-baseline")
    out = gate(tmp_path, run_of()).stdout
    assert "met     target  inject: default" in out  # 15x >= 10x
    assert "met     target  extract: default headers, default styles" in out  # 20x


def test_a_failure_names_its_benchmarks_and_a_second_measurement_can_clear_it(tmp_path):
    assert gate(tmp_path, run_of(), "--save-baseline").returncode == 0
    noisy = run_of(inject_cython=1.6e-6)
    for b in noisy["benchmarks"]:
        b["fullname"] = "benches/test_x.py::%s[%s]" % (b["group"].split(":")[0], b["params"]["impl"])
    rerun = tmp_path / "rerun.txt"
    assert gate(tmp_path, noisy, "--rerun-file", str(rerun)).returncode == 1
    assert rerun.read_text().split() == ["benches/test_x.py::inject[cython]", "benches/test_x.py::inject[ddtrace]",
                                         "benches/test_x.py::inject[python]"]  # fmt: skip
    calm = [dict(b) for b in noisy["benchmarks"] if b["group"].startswith("inject")]
    calm[0] = dict(calm[0], stats={"min": 1.0e-6, "median": 1.0e-6, "iqr": 0.0})
    second = tmp_path / "second.json"
    second.write_text(json.dumps({"benchmarks": calm}))
    assert gate(tmp_path, noisy, "--merge", str(second)).returncode == 0  # the slowdown did not reproduce
    second.write_text(json.dumps({"benchmarks": [b for b in noisy["benchmarks"] if b["group"].startswith("inject")]}))
    assert gate(tmp_path, noisy, "--merge", str(second)).returncode == 1  # it did


def test_absolute_targets_are_reported_not_gated(tmp_path):
    assert gate(tmp_path, run_of(), "--save-baseline").returncode == 0
    fast = gate(tmp_path, run_of())
    assert "met     target  inject: default" in fast.stdout and "0.95 us" not in fast.stdout
    assert "1.00 us (target <= 1.0 us, median)" in fast.stdout
    slow = run_of(inject_cython=1.2e-6, extract_cython=1.8e-6)
    for b in slow["benchmarks"]:  # the reference slower too: the same ratios, so no regression
        if b["params"]["impl"] != "cython":
            b["stats"] = {k: v * 1.2 for k, v in b["stats"].items()}
    out = gate(tmp_path, slow)
    assert out.returncode == 0, out.stdout
    assert "NOT MET target  inject: default" in out.stdout and "1.20 us (target <= 1.0 us, median)" in out.stdout
    assert "NOT MET target  extract: default headers, default styles" in out.stdout
