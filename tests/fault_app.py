"""The application of the writer's fault tests: one thread making traces at a steady rate through a
tracer (ddfast, or ddtrace for the comparison), timing every tracer call.

    python fault_app.py '{"rate": 1000, "seconds": 12, "out": "result.json", ...}'

Options: ``rate`` (traces a second), ``seconds``, ``spans`` (per trace), ``tag_bytes`` (one tag's size
on each root), ``big_every`` (every n-th trace gets ``big_bytes`` of tags), ``first_spans`` and
``first_tag_bytes`` (the first trace's span count, and a tag of that size on it), ``mode``: ``exit`` (ends
normally), ``sigterm`` (writes its result, says ``ready`` and waits to be killed), ``fork`` (a child
makes traces halfway through), ``tracer``: ``ddfast`` or ``ddtrace``. The result: the trace ids made
(low 64 bits), the slowest tracer calls, the time the thread waited for the writer's lock, the
writer's drop counts, and exceptions seen by the application (there must be none).
"""

import atexit
import json
import os
import sys
import time

_final = {}


@atexit.register  # registered before the tracer's own: runs after the tracer has sent what it held
def _write_drops_at_exit():
    writer = _final.get("writer")
    if writer is not None and "out" in _final:
        with open(_final["out"] + ".exit", "w") as f:
            json.dump({"drops": dict(getattr(writer, "drops", {}) or {})}, f)


def make_tracer(kind):
    if kind == "ddtrace":
        from ddtrace.trace import tracer

        return tracer, None
    from ddfast.tracer import Tracer

    tracer = Tracer()
    # the writer's buffer times each wait for its lock (an acquire that found it taken, by another
    # thread), so that the operating system preempting this process is not counted as waiting
    return tracer, tracer.writer._buffer


def run(options):
    tracer, lock = make_tracer(options.get("tracer", "ddfast"))
    rate = options.get("rate", 1000)
    total = int(rate * options.get("seconds", 1))
    spans = options.get("spans", 2)
    tag = "t" * options.get("tag_bytes", 16)
    big_every = options.get("big_every", 0)
    # a string tag is cut past 25,000 characters (as ddtrace does): a big trace carries several
    big = [
        "%d" % n + "b" * min(20000, options.get("big_bytes", 0) - n)
        for n in range(0, options.get("big_bytes", 0), 20000)
    ]
    made, calls, errors = [], [], []
    start = time.monotonic()
    child = None
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if options.get("mode") == "fork" and i == total // 2:
            child = os.fork()
            if child == 0:
                made.clear()
                calls.clear()
        t0 = time.perf_counter()
        try:
            with tracer.trace("request", service="faults", resource="GET /x") as root:
                if big_every and i % big_every == 0:
                    for n, part in enumerate(big):
                        root.set_tag("payload.%d" % n, part)
                else:
                    root.set_tag("payload", tag)
                if i == 0 and options.get("first_tag_bytes"):
                    root.set_tag("huge", "h" * options["first_tag_bytes"])
                for _ in range((options.get("first_spans") or spans) - 1 if i == 0 else spans - 1):
                    with tracer.trace("work"):
                        pass
        except Exception as e:  # the test fails on any
            errors.append(repr(e))
        calls.append(time.perf_counter() - t0)
        made.append(root.trace_id & (2**64 - 1))
        if child == 0 and len(made) >= total // 4:
            break
    calls.sort()
    writer = tracer._span_aggregator.writer if options.get("tracer") == "ddtrace" else tracer.writer
    result = {
        "pid": os.getpid(),
        "made": made,
        "errors": errors,
        "longest_call": calls[-1] if calls else 0.0,
        "p999_call": calls[int(len(calls) * 0.999)] if calls else 0.0,
        "median_call": calls[len(calls) // 2] if calls else 0.0,
        "lock_wait": lock.lock_wait if lock is not None else None,
        "lock_contended": lock.lock_contended if lock is not None else None,
        "drops": dict(getattr(writer, "drops", {}) or {}),
        "implementation": options.get("tracer", "ddfast") == "ddtrace" and "ddtrace" or _implementation(),
    }
    out = options["out"] + (".child" if child == 0 else "")
    _final.update(writer=writer, out=out)
    with open(out, "w") as f:
        json.dump(result, f)
    if child:
        os.waitpid(child, 0)
    if options.get("mode") == "sigterm":
        print("ready", flush=True)
        time.sleep(120)
    if child == 0:
        sys.exit(0)  # atexit runs: the child's traces are sent


def _implementation():
    import ddfast

    return ddfast.implementation()


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
