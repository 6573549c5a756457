"""The tracer (on both implementations): parenting, the active span per thread and asyncio task,
continuing an extracted trace, when the trace is decided, tags on finished traces, settings, writer."""

import asyncio
import gc
import threading

import pytest

from ddfast.settings import Config


def test_trace_parents_and_activates(make_tracer):
    t = make_tracer()
    with t.trace("root", service="svc", resource="GET /") as root:
        assert t.current_span() is root and t.current_root_span() is root
        with t.trace("child") as child:
            assert t.current_span() is child and t.current_root_span() is root
            assert child.parent_id == root.span_id and child.trace_id == root.trace_id
            assert child.service == "svc"
        assert t.current_span() is root
    assert t.current_span() is None
    (trace,) = t.writer.pop_traces()
    assert [s.name for s in trace] == ["root", "child"]


def test_finished_trace_is_tagged_as_ddtrace_tags_it(make_tracer):
    t = make_tracer()
    with t.trace("root", service="svc") as root:
        with t.trace("db", service="pg"):
            pass
        with t.trace("inner"):
            pass
    spans = t.writer.pop()
    root, db, inner = spans
    assert root.get_tag("language") == "python" and root.get_tag("runtime-id")
    assert root.get_metric("process_id") > 0 and root.get_metric("_sampling_priority_v1") == 1
    assert root.get_tag("_dd.p.dm") == "-0" and root.get_tag("_dd.p.tid") == "%016x" % (root.trace_id >> 64)
    assert root.get_metric("_dd.top_level") == 1 and db.get_metric("_dd.top_level") == 1
    assert inner.get_metric("_dd.top_level") is None and inner.get_tag("language") is None


def test_root_and_trace_tags_set_replaced_and_removed_as_stored_ones(make_tracer):
    # language, runtime-id, process_id, _sampling_priority_v1 and _dd.top_level are derived, not stored
    # per span; a user setting or removing one sees what ddtrace's stored tags would do
    t = make_tracer()
    with t.trace("root", service="svc") as root:
        assert root.get_tags()["language"] == "python" and root.get_metrics()["process_id"] > 0
        root.set_tag("language", "go")
        root.remove_tag("runtime-id")
        root.set_tag("process_id", "worker-1")  # text: a tag now, the metric goes (a key lives once)
        with t.trace("child") as child:
            child.set_tag("language", "rust")
        with t.trace("db", service="pg") as db:
            db.set_metric("_dd.top_level", 5)  # replaced when the trace finishes, as ddtrace assigns it
    root, child, db = t.writer.pop()
    tags, metrics = root.get_tags(), root.get_metrics()
    assert tags["language"] == "go" and tags["process_id"] == "worker-1" and "runtime-id" not in tags
    assert root.get_tag("runtime-id") is None and root.get_metric("process_id") is None
    assert metrics == {"_sampling_priority_v1": 1, "_dd.top_level": 1}
    root.set_metric("_dd.top_level", 0)
    root.remove_metric("_sampling_priority_v1")
    root.remove_tag("language")
    assert root.get_metrics() == {"_dd.top_level": 0} and root.get_metric("_sampling_priority_v1") is None
    assert "language" not in root.get_tags() and root.get_tag("language") is None
    assert child.get_tags()["language"] == "rust" and child.get_metrics() == {}
    assert db.get_metrics() == {"_dd.top_level": 1} and db.get_metric("_dd.top_level") == 1
    assert "runtime-id" not in db.get_tags() and "metrics={'_dd.top_level': 1}" in repr(db)


def test_sampling_rules_match_the_roots_derived_tags(make_tracer, sampling):
    t = make_tracer(rules=[sampling.SamplingRule(0.0, tags={"language": "py*"}, discard=True)])
    with t.trace("root"):
        pass
    assert t.writer.pop() == [] and t.dropped_traces == 1
    t = make_tracer(rules=[sampling.SamplingRule(0.0, tags={"process_id": "*"}, discard=True)])
    with t.trace("root") as root:
        root.remove_metric("process_id")
    assert [s.name for s in t.writer.pop()] == ["root"]


def test_a_sampler_subclass_is_asked_through_its_own_method(make_tracer, sampling):
    asked = []

    class Counting(sampling.DatadogSampler):
        def sample_or_discard(self, span):
            asked.append(span.name)
            return super().sample_or_discard(span)

    t = make_tracer(sampler=Counting(rules=[]))
    with t.trace("root"):
        pass
    (root,) = t.writer.pop()
    assert asked == ["root"] and root.get_metric("_sampling_priority_v1") == 1


def test_continues_an_extracted_trace_and_honours_its_decision(make_tracer, prop, sampling):
    # a rule that would drop everything: the upstream decision wins, it is never re-sampled
    t = make_tracer(rules=[sampling.SamplingRule(0.0)])
    ctx = prop.http_extract(
        {
            "x-datadog-trace-id": "123",
            "x-datadog-parent-id": "456",
            "x-datadog-sampling-priority": "1",
            "x-datadog-origin": "rum",
            "x-datadog-tags": "_dd.p.dm=-1,_dd.p.usr.id=abc",
        }
    )
    t.context_provider.activate(ctx)
    with t.trace("server") as server:
        with t.trace("client") as client:
            headers = {}
            prop.http_inject(client, headers)
    assert (server.trace_id, server.parent_id) == (123, 456)
    assert headers["x-datadog-trace-id"] == "123" and headers["x-datadog-parent-id"] == str(client.span_id)
    assert headers["x-datadog-sampling-priority"] == "1" and headers["x-datadog-origin"] == "rum"
    assert headers["x-datadog-tags"] == "_dd.p.dm=-1,_dd.p.usr.id=abc"
    spans = t.writer.pop()
    assert spans[0].get_metric("_sampling_priority_v1") == 1 and spans[0].get_tag("_dd.p.dm") == "-1"
    assert all(s.get_tag("_dd.origin") == "rum" for s in spans)
    assert spans[1].get_tag("_dd.p.usr.id") == "abc" and spans[1].get_tag("_dd.p.dm") is None


def test_injection_decides_the_trace_first(make_tracer, prop, sampling):
    t = make_tracer(rules=[sampling.SamplingRule(0.0)])
    with t.trace("root"):
        with t.trace("child") as child:
            assert child.context.sampling_priority is None
            headers = {}
            prop.http_inject(child.context, headers)  # a Context: found through the current root span
            assert headers["x-datadog-sampling-priority"] == "-1"
            assert "_dd.p.dm=-3" in headers["x-datadog-tags"]
    with t.trace("other") as other:
        headers = {}
        prop.http_inject(other, headers)
        assert headers["x-datadog-sampling-priority"] == "-1"
    # the decision stays: finishing does not re-sample
    assert [s.get_metric("_sampling_priority_v1") for s in t.writer.pop() if s._parent is None] == [-1, -1]


def test_holding_only_tracer_trace_keeps_the_tracer(make_tracer, prop, sampling):
    # tracer.trace is bound to its tracer as a method is: the tracer stays registered (so injection of
    # an undecided trace still finds it and samples first), even when nothing else refers to it
    trace = make_tracer(rules=[sampling.SamplingRule(0.0)]).trace
    gc.collect()
    with trace("root"):
        with trace("child") as child:
            headers = {}
            prop.http_inject(child.context, headers)
    assert headers["x-datadog-sampling-priority"] == "-1"
    assert trace.__self__.tracer.trace is trace  # the tracer's state, which holds the tracer


def test_manual_keep_wins(make_tracer, sampling):
    t = make_tracer(rules=[sampling.SamplingRule(0.0)])
    with t.trace("root") as root:
        root.set_tag("manual.keep")
    (span,) = t.writer.pop()
    assert span.get_metric("_sampling_priority_v1") == 2 and span.get_tag("_dd.p.dm") == "-4"


def test_discarding_rule_drops_the_trace(make_tracer, sampling):
    t = make_tracer(rules=[sampling.SamplingRule(0.0, discard=True)])
    with t.trace("root"):
        pass
    assert t.writer.pop() == [] and t.dropped_traces == 1


def test_single_span_rules_tag_spans_of_dropped_traces(make_tracer, sampling):
    t = make_tracer(rules=[sampling.SamplingRule(0.0)])
    t._state.span_rules = sampling.parse_span_sampling_rules('[{"name": "db.*"}]')
    with t.trace("root"):
        with t.trace("db.query"):
            pass
    root, db = t.writer.pop()
    assert db.get_metric("_dd.span_sampling.mechanism") == 8 and root.get_metric("_dd.span_sampling.mechanism") is None


def test_threads_have_their_own_active_span(make_tracer):
    t = make_tracer()
    seen = {}
    barrier = threading.Barrier(4)

    def work(i):
        with t.trace("t%d" % i) as span:
            barrier.wait()
            seen[i] = t.current_span() is span and span.parent_id is None

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert seen == {0: True, 1: True, 2: True, 3: True}
    assert len(t.writer.pop_traces()) == 4


def test_asyncio_tasks_have_their_own_active_span(make_tracer):
    t = make_tracer()

    async def handler(i):
        with t.trace("task%d" % i) as span:
            await asyncio.sleep(0)
            assert t.current_span() is span
            await asyncio.sleep(0)
            return span

    async def main():
        with t.trace("parent") as parent:
            spans = await asyncio.gather(*(handler(i) for i in range(5)))
        return parent, spans

    parent, spans = asyncio.run(main())
    assert all(s.parent_id == parent.span_id for s in spans)
    assert len({s.span_id for s in spans}) == 5


def test_wrap_sync_async_and_generators(make_tracer):
    t = make_tracer()

    @t.wrap()
    def plain(x):
        return x + 1

    @t.wrap("custom", service="svc")
    async def coro():
        return t.current_span().name

    @t.wrap()
    def gen():
        yield t.current_span().name

    assert plain(1) == 2
    assert asyncio.run(coro()) == "custom"
    assert list(gen()) == ["%s.gen" % __name__]
    names = [s.name for s in t.writer.pop()]
    assert names == ["%s.plain" % __name__, "custom", "%s.gen" % __name__]


def test_start_span_misuse(make_tracer):
    t = make_tracer()
    with pytest.raises(TypeError):
        t.start_span("x", child_of="not a span")
    with pytest.raises(TypeError):
        t.start_span(3)
    with pytest.raises(TypeError):
        t.writer = object()
    with pytest.raises(TypeError):
        t.sampler = object()


def test_settings_service_env_version_tags(make_tracer):
    t = make_tracer()
    t._configure(Config({"DD_SERVICE": "api", "DD_ENV": "prod", "DD_VERSION": "1.0", "DD_TAGS": "team:x,tier:1"}))
    with t.trace("root"):
        with t.trace("own"):
            pass
        with t.trace("db", service="pg"):
            pass
    root, own, db = t.writer.pop()
    assert root.service == "api" and own.service == "api"
    assert all(s.get_tag("env") == "prod" and s.get_tag("team") == "x" for s in (root, own, db))
    assert root.get_tag("version") == "1.0" and own.get_tag("version") == "1.0" and db.get_tag("version") is None
    assert db.get_tag("_dd.base_service") == "api" and root.get_tag("_dd.base_service") is None


def test_disabled_tracer_writes_nothing(make_tracer):
    t = make_tracer()
    t._configure(Config({"DD_TRACE_ENABLED": "false"}))
    with t.trace("root") as span:
        span.set_tag("k", "v")
    assert t.writer.pop() == []


def test_shutdown_counts_later_traces(make_tracer):
    t = make_tracer()
    t.shutdown()
    with t.trace("late"):
        pass
    assert t.writer.pop() == [] and t.dropped_traces == 1


def test_in_memory_writer_is_bounded(make_tracer):
    from ddfast.writer import InMemoryWriter

    t = make_tracer()
    t.writer = InMemoryWriter(max_traces=2)
    for i in range(5):
        with t.trace("t%d" % i):
            pass
    assert [trace[0].name for trace in t.writer.pop_traces()] == ["t3", "t4"]
    assert t.writer.dropped == 3
    with pytest.raises(ValueError):
        InMemoryWriter(max_traces=0)


def test_global_tracer_and_public_names(monkeypatch):
    import ddfast

    assert isinstance(ddfast.tracer, ddfast.Tracer)
    monkeypatch.setattr(ddfast.tracer, "writer", ddfast.InMemoryWriter())
    with ddfast.tracer.trace("x") as span:
        assert isinstance(span, ddfast.Span)
        headers = {}
        ddfast.HTTPPropagator.inject(span, headers)
        assert headers["x-datadog-sampling-priority"] == "1"
    assert [s.name for s in ddfast.tracer.writer.pop()] == ["x"]


def test_forked_child_tags_its_own_process(make_tracer):
    import os

    t = make_tracer()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe, and never returns to pytest
        try:
            with t.trace("child-root"):
                pass
            (span,) = t.writer.pop()
            os.write(write, b"%d %d" % (span.get_metric("process_id"), os.getpid()))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    reported, actual = os.read(read, 100).split()
    assert reported == actual and int(actual) != os.getpid()


def test_a_span_started_after_its_trace_was_written_goes_out_in_a_chunk_of_its_own(make_tracer):
    t = make_tracer()
    root = t.start_span("root")
    root.finish()
    late = t.start_span("late", child_of=root)
    late.finish()
    chunks = [[s.name for s in trace] for trace in t.writer.pop_traces()]
    assert chunks == [["root"], ["late"]]
    assert late.trace_id == root.trace_id and late.parent_id == root.span_id


def test_traces_of_one_second_share_their_tid_text(make_tracer):
    t = make_tracer()
    for _ in range(3):
        with t.trace("r"):
            pass
    roots = t.writer.pop()
    tids = [r.get_tag("_dd.p.tid") for r in roots]
    assert all(tid == "%016x" % (r.trace_id >> 64) for tid, r in zip(tids, roots, strict=True))
    if len({r.trace_id >> 64 for r in roots}) == 1:
        assert tids[0] is tids[1] is tids[2]


def test_status_codes_are_text(make_tracer):
    t = make_tracer()
    with t.trace("r") as span:
        span.set_tag("http.status_code", 404)
        assert span.get_tag("http.status_code") == "404"
        span.set_tag("http.status_code", 99)
        assert span.get_tag("http.status_code") == "99"
        span.set_tag("http.status_code", 600)
        assert span.get_tag("http.status_code") == "600"
        span.set_tag("http.status_code", True)
        assert span.get_tag("http.status_code") == "True"


def test_injecting_a_span_that_is_not_active_decides_its_trace(make_tracer, prop):
    t = make_tracer()
    span = t.start_span("x")  # started, not activated
    headers = {}
    prop.http_inject(span, headers)
    assert headers["x-datadog-sampling-priority"] == "1"
    assert span._trace_ctx._priority == 1


def test_injecting_the_context_of_a_trace_that_is_not_active_decides_that_trace(make_tracer, prop, sampling):
    # the core decides the context's own trace (its local root), not whatever trace is active
    t = make_tracer(rules=[sampling.SamplingRule(0.0)])
    background = t.start_span("background")  # a trace of its own, never activated
    with t.trace("request") as request:
        with t.trace("child") as child:
            headers = {}
            prop.http_inject(background.context, headers)
            assert headers["x-datadog-sampling-priority"] == "-1"
            assert background._trace_ctx._priority == -1
            assert request.context.sampling_priority is None and child.context.sampling_priority is None


def test_injecting_a_made_up_context_of_the_active_trace_decides_it(make_tracer, prop, sampling):
    # a Context that belongs to no local trace (made by hand) but carries the active trace's id: the
    # tracer's fallback finds the active root and decides there, as ddtrace does
    t = make_tracer(rules=[sampling.SamplingRule(0.0)])
    with t.trace("request") as request:
        headers = {}
        prop.http_inject(prop.Context(trace_id=request.trace_id, span_id=7), headers)
        assert request.context.sampling_priority == -1
        assert headers["x-datadog-sampling-priority"] == "-1"
