"""Threads at once on the core's shared state: ids, traces, the tracer's counters, the sampler.

These run everywhere, on both twins; they are meaningful on a free-threaded CPython (3.13t, 3.14t),
where nothing serialises the threads: there, ids drawn at once must never repeat, spans of traces
started at once must never land in another thread's trace, and importing ddfast or tracing a request
must not turn the GIL back on.
"""

import os
import subprocess
import sys
import sysconfig
import threading

import pytest

THREADS = 8

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def run_threads(target, n=THREADS):
    """``target(i)`` in ``n`` threads started together; what each returned, in order."""
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # reported by the test, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_ids_drawn_at_once_never_repeat(ids):
    per_thread = 20000

    def draw(_):
        rand = ids.rand64bits
        return [rand() for _ in range(per_thread)]

    drawn = run_threads(draw)
    every = [i for chunk in drawn for i in chunk]
    assert len(every) == THREADS * per_thread
    assert len(set(every)) == len(every), "%d duplicate ids" % (len(every) - len(set(every)))
    assert all(0 < i < 2**64 for i in every)


def test_trace_ids_drawn_at_once_never_repeat(ids):
    per_thread = 5000
    drawn = run_threads(lambda _: [ids.generate_128bit_trace_id() for _ in range(per_thread)])
    every = [i for chunk in drawn for i in chunk]
    assert len(set(every)) == THREADS * per_thread


def test_seeded_sequence_is_the_same_drawn_in_threads(ids):
    """Threads share one sequence: together they draw exactly the ids one thread would have."""
    per_thread = 2000
    ids.seed(12345)
    alone = {ids.rand64bits() for _ in range(THREADS * per_thread)}
    ids.seed(12345)
    try:
        drawn = run_threads(lambda _: [ids.rand64bits() for _ in range(per_thread)])
    finally:
        ids.seed()
    assert {i for chunk in drawn for i in chunk} == alone


def test_threads_tracing_at_once_keep_their_traces_apart(make_tracer):
    tracer = make_tracer()
    per_thread = 300

    def serve(i):
        roots = []
        for _ in range(per_thread):
            with tracer.trace("web.request", service="svc", resource="thread-%d" % i) as root:
                root.set_tag("thread", str(i))
                with tracer.trace("db.query") as child:
                    child.set_tag("thread", str(i))
                    with tracer.trace("db.fetch") as grandchild:
                        grandchild.set_tag("thread", str(i))
                with tracer.trace("render") as child:
                    child.set_tag("thread", str(i))
            roots.append(root.trace_id)
        return roots

    started = run_threads(serve)
    traces = tracer.writer.pop_traces()
    assert len(traces) == THREADS * per_thread, "traces written: %d" % len(traces)
    assert sorted(t for chunk in started for t in chunk) == sorted(t[0].trace_id for t in traces)
    for spans in traces:
        assert len(spans) == 4
        by_id = {s.span_id: s for s in spans}
        assert len(by_id) == 4
        roots = [s for s in spans if s.parent_id is None]
        assert len(roots) == 1
        (root,) = roots
        thread = root.get_tag("thread")
        for s in spans:
            assert s.trace_id == root.trace_id
            assert s.get_tag("thread") == thread, "a span of another thread: %s" % s.get_tag("thread")
            if s is not root:
                assert s.parent_id in by_id, "parent outside its trace"
        assert {s.name for s in spans} == {"web.request", "db.query", "db.fetch", "render"}


def test_one_trace_with_children_in_many_threads_is_written_once_whole(make_tracer):
    tracer = make_tracer()
    per_thread = 200
    root = tracer.start_span("job")

    def work(_):
        for _ in range(per_thread):
            child = tracer.start_span("task", child_of=root)
            tracer.start_span("step", child_of=child).finish()
            child.finish()

    run_threads(work)
    assert tracer.writer.pop_traces() == []  # the root is still open
    root.finish()
    traces = tracer.writer.pop_traces()
    assert len(traces) == 1
    assert len(traces[0]) == 1 + 2 * THREADS * per_thread
    assert {s.trace_id for s in traces[0]} == {root.trace_id}
    assert len({s.span_id for s in traces[0]}) == len(traces[0])


def test_dropped_traces_are_counted_from_every_thread(make_tracer, sampling):
    # a rule that keeps nothing and discards what it rejects: every trace dropped, and counted
    tracer = make_tracer(rules=[sampling.SamplingRule(sample_rate=0.0, discard=True)])
    per_thread = 500

    def serve(_):
        for _ in range(per_thread):
            with tracer.trace("web.request"):
                pass

    run_threads(serve)
    assert tracer.writer.pop_traces() == []
    assert tracer._state.dropped == THREADS * per_thread


def test_rate_limiter_allows_no_more_than_its_tokens_across_threads(sampling):
    limiter = sampling.RateLimiter(100, time_window=1e15)  # a window no test outlasts: no refill
    allowed = run_threads(lambda _: sum(limiter.is_allowed() for _ in range(1000)))
    assert sum(allowed) == 100
    assert limiter.tokens_total == THREADS * 1000
    assert limiter.tokens_allowed == 100


def test_agent_rates_replaced_while_threads_decide(make_tracer, sampling):
    sampler = sampling.DatadogSampler()
    tracer = make_tracer(sampler=sampler)
    stop = threading.Event()

    def agent():
        n = 0
        while not stop.is_set():
            n += 1
            sampler.update_rate_by_service_sample_rates({"service:svc,env:": (n % 2) * 1.0, "service:,env:": 1.0})

    feeder = threading.Thread(target=agent)
    feeder.start()
    try:
        run_threads(lambda _: [tracer.trace("r", service="svc").finish() for _ in range(500)])
    finally:
        stop.set()
        feeder.join()
    traces = tracer.writer.pop_traces()
    assert len(traces) == THREADS * 500
    assert all(t[0].context.sampling_priority in (0, 1) for t in traces)


def test_propagation_errors_counted_from_every_thread(prop):
    before = prop.ERRORS.get("datadog_trace_id", 0)
    headers = {"x-datadog-trace-id": "not-a-number", "x-datadog-parent-id": "1"}
    settings = prop.Settings(extract_styles=("datadog",), inject_styles=("datadog",))
    results = run_threads(lambda _: [prop.extract(headers, settings) for _ in range(500)])
    assert all(ctx is None or ctx.trace_id is None for chunk in results for ctx in chunk)
    assert prop.ERRORS.get("datadog_trace_id", 0) - before == THREADS * 500


GIL_SCRIPT = """
import sys
assert not sys._is_gil_enabled(), "a GIL before ddfast is imported"
import ddfast
from ddfast.propagation import HTTPPropagator
from ddfast.tracer import Tracer
from ddfast.writer import InMemoryWriter
print("import", sys._is_gil_enabled(), ddfast.implementation())
tracer = Tracer(writer=InMemoryWriter())
headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "dd=s:1"}
for _ in range(200):
    with tracer.trace("web.request", service="svc") as root:
        with tracer.trace("db.query"):
            pass
        out = {}
        HTTPPropagator.inject(root.context, out)
        assert "traceparent" in out
        HTTPPropagator.extract(headers)
print("traced", sys._is_gil_enabled(), len(tracer.writer.pop_traces()))
"""


@pytest.mark.skipif(not FREE_THREADED, reason="the GIL can only stay off on a free-threaded CPython")
def test_gil_stays_off_after_import_and_traced_requests(kind, require_compiled):
    env = dict(os.environ)
    env.pop("PYTHON_GIL", None)
    if kind == "python":
        env["DDFAST_NO_EXTENSIONS"] = "1"
    else:
        env.pop("DDFAST_NO_EXTENSIONS", None)
    out = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", GIL_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[:2] == ["import", "False"], out.stdout + out.stderr
    if kind == "cython" and require_compiled:
        assert lines[2] == "cython"
    assert lines[3:] == ["traced", "False", "200"], out.stdout + out.stderr
