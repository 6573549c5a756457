"""How the compiled core scales with threads: operations per second with 1 and with N threads at once
(ids, and whole traces: a root and a child span started, tagged and finished into a writer that keeps
nothing). On a free-threaded CPython (``python3.13t``) with the GIL off, N threads can run N times as
many; with the GIL, they share one core's worth.

    python benches/thread_scaling.py                 # 1 and 2 threads, 3 interleaved rounds of 2 s
    python benches/thread_scaling.py --threads 1,2,4 --seconds 3

Prints the median of the rounds per operation and thread count, and the speed-up over one thread.
"""

import argparse
import statistics
import sys
import threading
import time


class _DropWriter:
    def write(self, spans):
        pass


def _ids(core):
    rand64 = core["ids"].rand64bits

    def run(n):
        for _ in range(n):
            rand64()

    return run


def _traces(core):
    from ddfast.tracer import Tracer

    tracer = Tracer(writer=_DropWriter(), _core=(core["span"], core["sampling"], core["propagation"]))

    def run(n):
        trace = tracer.trace
        for _ in range(n):
            with trace("request", service="svc", resource="GET /x") as root:
                root.set_tag("http.method", "GET")
                with trace("child"):
                    pass

    return run


OPERATIONS = {"ids": (_ids, 20000), "traces": (_traces, 200)}


def measure(run, batch, threads, seconds):
    """Operations per second of ``threads`` threads each calling ``run(batch)`` for ``seconds``."""
    done = [0] * threads
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(i):
        start.wait()
        count = 0
        while time.perf_counter() < stop_at[0]:
            run(batch)
            count += batch
        done[i] = count

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - began)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", default=",".join(OPERATIONS))
    args = parser.parse_args(argv)
    from ddfast import _impl

    core = {name: _impl.load(name) for name in ("ids", "span", "sampling", "propagation")}
    counts = [int(n) for n in args.threads.split(",")]
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print("%s, %s core, GIL %s" % (sys.version.split()[0], _impl.implementation(), "on" if gil else "off"))
    for op in args.ops.split(","):
        make, batch = OPERATIONS[op]
        run = make(core)
        results = {n: [] for n in counts}
        for _ in range(args.rounds):  # interleaved: each round measures every thread count
            for n in counts:
                results[n].append(measure(run, batch, n, args.seconds))
        base = statistics.median(results[counts[0]])
        for n in counts:
            rate = statistics.median(results[n])
            print("%-7s %2d thread(s): %12.0f /s  (%.2fx of %d)" % (op, n, rate, rate / base, counts[0]))


if __name__ == "__main__":
    main()
