"""``python -m benches.counts`` (instruction counts under callgrind): every operation's round runs in
every implementation, so the tool does not rot; the callgrind total is read from valgrind's report.
(Counting itself needs valgrind and 1.5 minutes: `make counts-gate` does it; tests/test_bench_gate.py tests the
gate on made-up counts.)"""

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("bench_counts", os.path.join(ROOT, "benches", "counts.py"))
counts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(counts)


@pytest.mark.parametrize("impl", ["cython", "python", "ddtrace"])
@pytest.mark.parametrize("op", sorted(counts.OPERATIONS))
def test_every_operation_runs_rounds(op, impl, require_compiled):
    if impl == "cython" and not require_compiled:
        try:
            importlib.import_module("ddfast._ext.span")
        except ImportError:
            pytest.skip("compiled ddfast not built")
    with tempfile.TemporaryDirectory() as cwd:  # outside the checkout: the installed ddfast
        done = subprocess.run(
            [sys.executable, "-c", counts.CHILD % counts.OPERATIONS[op], impl, "3"],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0, done.stderr


def test_reads_callgrind_total():
    stderr = "==123== Events    : Ir\n==123== Collected : 274,116,698\n==123==\n==123== I   refs:      274,116,698\n"
    assert counts.collected(stderr) == 274116698
    with pytest.raises(RuntimeError):
        counts.collected("valgrind: command not found")


def test_the_build_names_what_the_counts_depend_on():
    build = counts.build()
    assert build["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert build["implementation"] == sys.implementation.name
    assert build["gil"] in ("enabled", "disabled") and build["compiler"] and build["machine"]
