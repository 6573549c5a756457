"""benches/thread_scaling.py: counts what the threads did, and reports every operation and thread count."""

import importlib.util
import os

# loaded from its file: putting benches/ on sys.path would let its conftest shadow the tests' own
_spec = importlib.util.spec_from_file_location(
    "bench_thread_scaling",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benches", "thread_scaling.py"),
)
thread_scaling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(thread_scaling)


def test_measure_counts_every_threads_calls():
    calls = []

    def run(n):
        calls.append(n)

    rate = thread_scaling.measure(run, 7, 2, 0.05)
    assert calls and all(n == 7 for n in calls)
    assert rate > 0


def test_every_operation_and_thread_count_is_reported(capsys):
    thread_scaling.main(["--threads", "1,2", "--seconds", "0.02", "--rounds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert "core, GIL" in lines[0]
    reported = [(line.split()[0], int(line.split()[1])) for line in lines[1:]]
    assert reported == [(op, n) for op in thread_scaling.OPERATIONS for n in (1, 2)]
