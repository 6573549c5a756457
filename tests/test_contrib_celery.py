"""Celery (``ddfast.patch(celery=True)``) against a real Redis broker and real Celery workers, started by
the tests: the producer's ``celery.apply`` span and the worker's ``celery.run`` span are ddtrace 4.16's,
the trace crosses the broker in ddtrace's layout (``headers["headers"]`` of the message) in both
directions with ddtrace, and from OpenTelemetry's Celery instrumentation (top-level ``traceparent``)
both ways; a message whose context cannot be read starts a new trace, counted, and its task runs.

ddfast runs in this process on the twin under test (its worker in a thread); ddtrace and OpenTelemetry
run ``celery_driver.py`` in subprocesses (the tracers never patch one process).
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

import ddfast
from ddfast import propagation as default_propagation

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "celery_driver.py")
SUBPROCESS_ENV = {
    "DD_TRACE_STARTUP_LOGS": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
    # off by default in ddtrace: without it ddtrace neither injects nor extracts
    "DD_CELERY_DISTRIBUTED_TRACING": "true",
}


def _missing(what):
    """Skip for a component this machine lacks, or fail where components are required (CI)."""
    if os.environ.get("DDFAST_REQUIRE_COMPONENTS", "").strip().lower() in ("1", "true", "yes", "on"):
        pytest.fail("%s is required (DDFAST_REQUIRE_COMPONENTS=1) but missing" % what)
    pytest.skip("%s is not installed" % what)


try:
    import celery  # noqa: F401
    import celery_driver
    import redis
except ImportError as exc:  # the module's tests need Celery and its Redis transport
    celery_driver = None
    _import_error = exc


@pytest.fixture(scope="module")
def broker():
    """A Redis server of its own on a free loopback port (no persistence), stopped afterwards."""
    if celery_driver is None:
        _missing("celery[redis] (%s)" % _import_error)
    server = shutil.which("redis-server")
    if server is None:
        _missing("redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
    try:
        yield "redis://127.0.0.1:%d/0" % port, client
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def queue():
    return "q-" + uuid.uuid4().hex[:12]


@pytest.fixture
def patched(traced):
    """ddfast's Celery integration on the twin under test; its finished spans in ``traced.spans()``."""
    from ddfast.contrib import celery as integration

    kept = []

    def spans():
        for trace in traced.writer.pop_traces():
            kept.extend(trace)
        return kept

    traced.spans = spans
    integration.unpatch()
    assert integration.patch(tracer=traced)
    try:
        yield traced
    finally:
        integration.unpatch()


def runs(spans):
    return [s for s in spans if s.name == "celery.run"]


def work(app, tracer, count):
    """A worker in this process consuming the app's queue until ``count`` tasks have run."""
    from celery.contrib.testing.worker import start_worker

    deadline = time.monotonic() + 30
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        while len(runs(tracer.spans())) < count:
            assert time.monotonic() < deadline, "the worker ran %d of %d tasks" % (len(runs(tracer.spans())), count)
            time.sleep(0.01)
    return tracer.spans()


def produce(app, tracer):
    """Publishes every scenario's task inside a ``caller`` span; their ``celery.apply`` spans by task id."""
    with tracer.trace("caller") as caller:
        for name, (args, _runs) in celery_driver.SCENARIOS.items():
            app.tasks[name].apply_async(args)
    applies = {s.get_tag("celery.id"): s for s in tracer.spans() if s.name == "celery.apply"}
    assert len(applies) == len(celery_driver.SCENARIOS)
    assert all(s.parent_id == caller.span_id and s.trace_id == caller.trace_id for s in applies.values())
    return caller, applies


RUNS = sum(r for _args, r in celery_driver.SCENARIOS.values()) if celery_driver else 0


def driver(which, role, url, q, *args, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDFAST_", "OTEL_"))}
    full.update(SUBPROCESS_ENV, **env)
    proc = subprocess.run([sys.executable, DRIVER, which, role, url, q, *map(str, args)], env=full,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def first_message(client, q):
    raw = client.lrange(q, -1, -1)  # kombu pushes on the left: the first published is the last
    assert raw, "no message in %s" % q
    return json.loads(raw[0])


def errors_total(prop):
    """Propagation problems counted by the twin under test and by the default core (the integration's)."""
    counted = sum(prop.ERRORS.values())
    if prop.ERRORS is not default_propagation.ERRORS:
        counted += sum(default_propagation.ERRORS.values())
    return counted


# -- ddfast on both sides ------------------------------------------------------------------------------------


def test_ddfast_producer_to_ddfast_worker(broker, queue, patched):
    url, _client = broker
    app = celery_driver.make_app(url, queue)
    caller, applies = produce(app, patched)
    spans = work(app, patched, RUNS)
    by_name = {}
    for span in runs(spans):
        by_name.setdefault(span.resource, []).append(span)
        assert span.trace_id == caller.trace_id
    ok, boom, (first, second) = by_name["parity.add"][0], by_name["parity.boom"][0], by_name["parity.retry"]
    assert ok.parent_id == applies[ok.get_tag("celery.id")].span_id
    assert boom.parent_id == applies[boom.get_tag("celery.id")].span_id
    assert first.parent_id == applies[first.get_tag("celery.id")].span_id
    # the retry is published from the first run, under its span, and the second run continues from there
    (republish,) = [s for s in spans if s.name == "celery.apply" and s.parent_id == first.span_id]
    assert second.parent_id == republish.span_id and republish.get_metric("celery.retries") == 1
    assert (ok.service, ok.span_type, ok.error, ok.get_tag("celery.state")) == ("celery-worker", "worker", 0, "SUCCESS")
    assert (boom.error, boom.get_tag("error.type")) == (1, "builtins.ValueError")
    assert boom.get_tag("celery.state") == "FAILURE"
    assert first.get_tag("celery.state") == "RETRY" and "KeyError" in first.get_tag("celery.retry.reason")
    assert first.error == 0 and second.get_tag("celery.state") == "SUCCESS"
    apply = applies[ok.get_tag("celery.id")]
    assert (apply.service, apply.span_type, apply.resource) == ("celery-producer", None, "parity.add")
    assert apply.get_tag("span.kind") == "producer" and ok.get_tag("span.kind") == "consumer"
    assert patched.current_span() is None


def test_the_message_carries_the_context_where_ddtrace_puts_it(broker, queue, patched):
    """``headers["headers"]`` of the message (what ddtrace's worker reads), the W3C headers at the top level
    too (what OpenTelemetry's reads), and the body a worker without ddfast reads left as it was."""
    url, client = broker
    app = celery_driver.make_app(url, queue)
    _caller, applies = produce(app, patched)
    message = first_message(client, queue)
    headers = message["headers"]
    apply = applies[headers["id"]]
    carried = headers["headers"]
    assert carried["x-datadog-trace-id"] == str(apply.trace_id & (2**64 - 1))
    assert carried["x-datadog-parent-id"] == str(apply.span_id)
    assert carried["traceparent"] == "00-%032x-%016x-01" % (apply.trace_id, apply.span_id)
    assert headers["traceparent"] == carried["traceparent"] and headers["tracestate"] == carried["tracestate"]

    from ddfast.contrib import celery as integration

    integration.unpatch()
    untraced_queue = queue + "-untraced"
    untraced = celery_driver.make_app(url, untraced_queue)
    untraced.tasks["parity.add"].apply_async((2, 3), task_id=headers["id"])
    plain = first_message(client, untraced_queue)
    assert "headers" not in plain["headers"] and "traceparent" not in plain["headers"]
    assert base64.b64decode(plain["body"]) == base64.b64decode(message["body"])


def test_distributed_tracing_can_be_turned_off(broker, queue, patched, monkeypatch):
    url, client = broker
    from ddfast.contrib import celery as integration

    app = celery_driver.make_app(url, queue)
    with patched.trace("caller"):
        app.tasks["parity.add"].apply_async((1, 2))  # carries its context
    integration.unpatch()
    monkeypatch.setenv("DD_CELERY_DISTRIBUTED_TRACING", "false")
    assert integration.patch(tracer=patched)
    with patched.trace("caller"):
        app.tasks["parity.add"].apply_async((3, 4))
    newest = json.loads(client.lrange(queue, 0, 0)[0])
    assert "headers" not in newest["headers"] and "traceparent" not in newest["headers"]
    patched.spans().clear()
    spans = work(app, patched, 2)
    assert [s.parent_id for s in runs(spans)] == [None, None]  # the first message's context is not read


# -- with ddtrace and OpenTelemetry ----------------------------------------------------------------------


def test_ddtrace_producer_to_ddfast_worker(broker, queue, patched):
    url, _client = broker
    theirs = driver("ddtrace", "produce", url, queue)["spans"]
    applies = {s["tags"]["celery.id"]: s for s in theirs if s["name"] == "celery.apply"}
    assert len(applies) == len(celery_driver.SCENARIOS)
    app = celery_driver.make_app(url, queue)
    spans = work(app, patched, RUNS)
    first_runs = [s for s in runs(spans) if s.get_metric("celery.retries") is None]
    assert len(first_runs) == len(applies)
    for span in first_runs:
        apply = applies[span.get_tag("celery.id")]
        assert (span.trace_id, span.parent_id) == (apply["trace_id"], apply["span_id"])


def test_ddfast_producer_to_ddtrace_worker(broker, queue, patched):
    url, _client = broker
    app = celery_driver.make_app(url, queue)
    caller, applies = produce(app, patched)
    theirs = driver("ddtrace", "work", url, queue, RUNS)["spans"]
    first_runs = [s for s in theirs if s["name"] == "celery.run" and "celery.retries" not in s["metrics"]]
    assert len(first_runs) == len(applies)
    for span in first_runs:
        apply = applies[span["tags"]["celery.id"]]
        assert (span["trace_id"], span["parent_id"]) == (caller.trace_id, apply.span_id)


def test_opentelemetry_producer_to_ddfast_worker(broker, queue, patched):
    url, _client = broker
    theirs = driver("otel", "produce", url, queue)["spans"]
    applies = {s["attributes"]["messaging.message.id"]: s for s in theirs if s["kind"] == "PRODUCER"}
    assert len(applies) == len(celery_driver.SCENARIOS)
    app = celery_driver.make_app(url, queue)
    spans = work(app, patched, RUNS)
    first_runs = [s for s in runs(spans) if s.get_metric("celery.retries") is None]
    assert len(first_runs) == len(applies)
    for span in first_runs:
        apply = applies[span.get_tag("celery.id")]
        assert (span.trace_id, span.parent_id) == (apply["trace_id"], apply["span_id"])


def test_ddfast_producer_to_opentelemetry_worker(broker, queue, patched):
    url, _client = broker
    app = celery_driver.make_app(url, queue)
    caller, applies = produce(app, patched)
    theirs = driver("otel", "work", url, queue, RUNS)["spans"]
    first_runs = [s for s in theirs if s["kind"] == "CONSUMER" and s["attributes"].get("celery.retries") is None]
    assert len(first_runs) == len(applies)
    for span in first_runs:
        apply = applies[span["attributes"]["messaging.message.id"]]
        assert (span["trace_id"], span["parent_id"]) == (caller.trace_id, apply.span_id)


#: compared as values; the other tags (ids, reply queues, hosts) for presence only
VALUE_TAGS = ("component", "span.kind", "celery.action", "celery.state", "celery.routing_key", "celery.retry.reason",
              "celery.delivery_info.exchange", "celery.delivery_info.routing_key", "celery.delivery_info.redelivered",
              "error.type", "error.message", "out.host")  # fmt: skip
VALUE_METRICS = ("celery.retries", "_dd.measured", "celery.delivery_info.priority", "network.destination.port")
#: ddtrace's own bookkeeping, or ddfast's difference (the worker's celery.hostname: see the module)
IGNORED = frozenset(["_dd.base_service", "_dd.svc_src", "_dd.p.dm", "_dd.p.tid", "_dd.tags.process", "runtime-id",
                     "language", "process_id", "_sampling_priority_v1", "_dd.top_level", "error.stack"])  # fmt: skip


def _shape(span):
    """What the dashboards key on, of a driver's span (dict) or one of ours."""
    if isinstance(span, dict):
        name, resource, service, kind, error = (span[k] for k in ("name", "resource", "service", "type", "error"))
        tags, metrics = span["tags"], span["metrics"]
    else:
        name, resource, service, kind, error = span.name, span.resource, span.service, span.span_type, span.error
        tags, metrics = span.get_tags(), span.get_metrics()
    fields = {k: v for k, v in {**tags, **metrics}.items() if k not in IGNORED}
    values = tuple((k, fields.get(k)) for k in VALUE_TAGS + VALUE_METRICS)
    return name, resource, service, kind, error, tuple(sorted(fields)), values


@pytest.fixture(scope="module")
def ddtrace_spans(broker):
    """The scenarios published and run under ddtrace, once for both twins: (queue, spans)."""
    url, _client = broker
    q = "q-ddtrace-" + uuid.uuid4().hex[:8]
    return q, driver("ddtrace", "produce", url, q)["spans"] + driver("ddtrace", "work", url, q, RUNS)["spans"]


def test_spans_are_ddtrace_s(broker, queue, patched, ddtrace_spans):
    """The same tasks published and run under ddtrace (subprocesses) and under ddfast: the same spans."""
    url, _client = broker
    their_queue, theirs = ddtrace_spans
    app = celery_driver.make_app(url, queue)
    produce(app, patched)
    ours = work(app, patched, RUNS)

    def shapes(spans, q):
        out = sorted(repr(_shape(s)) for s in spans if (s["name"] if isinstance(s, dict) else s.name) != "caller")
        return [s.replace(q, "QUEUE") for s in out]

    assert shapes(ours, queue) == shapes(theirs, their_queue)
    origins = {s.get_tag("celery.hostname") for s in ours if s.name == "celery.apply"}
    for span in runs(ours):  # the worker's node, where ddtrace tags the worker's or the producer's at random
        assert span.get_tag("celery.hostname") and span.get_tag("celery.hostname") not in origins


def test_beat_spans_are_ddtrace_s(broker, queue, patched):
    """Celery beat's ticks under ddtrace (a subprocess) and under ddfast: the same spans, the task's
    ``celery.apply`` under its entry's span under the tick's."""
    url, _client = broker
    theirs = driver("ddtrace", "beat", url, queue + "-dd", 2)["spans"]
    app = celery_driver.make_app(url, queue)
    scheduler = celery_driver.beat(None, app, 2)
    ours = patched.spans()

    def shapes(spans, q):
        return sorted(repr(_shape(s)).replace(q, "QUEUE") for s in spans)

    assert shapes(ours, queue) == shapes(theirs, queue + "-dd")
    ticks = [s for s in ours if s.name == "celery.beat.tick"]
    assert len(ticks) == 2 and all(s.parent_id is None for s in ticks)
    for tick in ticks:
        (entry,) = [s for s in ours if s.parent_id == tick.span_id]
        assert (entry.name, entry.resource, entry.span_type) == ("celery.beat.apply_entry", "every-moment", "worker")
        (apply,) = [s for s in ours if s.parent_id == entry.span_id]
        assert (apply.name, apply.resource, apply.trace_id) == ("celery.apply", "parity.add", tick.trace_id)
    assert patched.current_span() is None
    scheduler.close()


def test_a_failing_tick_ends_its_span_with_the_error(patched):
    from celery import Celery
    from celery.beat import Scheduler

    app = Celery("beat-error", broker="memory://", set_as_current=False)
    scheduler = Scheduler(app, lazy=True)
    scheduler.populate_heap = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("schedule gone"))
    with pytest.raises(RuntimeError):
        scheduler.tick()
    (tick,) = [s for s in patched.spans() if s.name == "celery.beat.tick"]
    assert tick.error == 1 and tick.get_tag("error.message") == "schedule gone"


# -- bad input ---------------------------------------------------------------------------------------------

#: what a producer might put where the worker reads the context: none gives a parent
HOSTILE = [
    {"x-datadog-trace-id": "nan", "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": "1" * 5000, "x-datadog-parent-id": "2"},
    {"x-datadog-trace-id": 123, "x-datadog-parent-id": 456},
    {"x-datadog-trace-id": {"deep": {"er": [1, 2]}}, "x-datadog-parent-id": None},
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71"},
    {"traceparent": "00-" + "f" * 100000},
    {"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"},
    "x-datadog-trace-id=1",
    [["x-datadog-trace-id"], 7, None],
    12345,
]


def test_hostile_contexts_give_no_parent_and_the_tasks_run(broker, queue, patched, prop):
    url, _client = broker
    from ddfast.contrib import celery as integration

    integration.unpatch()  # an untraced producer writes what it likes
    app = celery_driver.make_app(url, queue)
    for carried in HOSTILE:
        app.send_task("parity.add", (1, 1), headers={"headers": carried})
    # the OpenTelemetry layout, garbled, and a top-level Datadog header nobody reads there
    app.send_task("parity.add", (1, 1), headers={"traceparent": "00-garbage", "tracestate": "\x00" * 10})
    app.send_task("parity.add", (1, 1), headers={"traceparent": ["00-0af7651916cd43dd8448eb211c80319c"]})
    before = errors_total(prop)
    assert integration.patch(tracer=patched)
    spans = work(app, patched, len(HOSTILE) + 2)
    ran = runs(spans)
    assert len(ran) == len(HOSTILE) + 2
    assert all(s.parent_id is None and s.get_tag("celery.state") == "SUCCESS" for s in ran)
    assert errors_total(prop) - before >= len(HOSTILE) - 1  # the all-zero trace id is not an error, only absent


def test_the_handlers_never_raise_into_celery(patched):
    """Signals with arguments no Celery sends: nothing raised, no span left open."""
    from ddfast.contrib import celery as integration

    handlers = integration._handlers
    handlers["before_task_publish"](sender="t", body=object(), headers="not headers")
    handlers["after_task_publish"]()
    handlers["before_task_publish"](sender=None, body=None, headers=None, exchange=object(), routing_key=7)
    handlers["after_task_publish"]()
    handlers["before_task_publish"](sender="t", headers={"id": object(), "headers": "taken", "timelimit": 3})
    handlers["after_task_publish"]()

    class Hostile:
        name = "hostile"

        @property
        def request(self):
            raise RuntimeError("no request")

    handlers["task_prerun"](sender=Hostile(), task_id="x")
    handlers["task_postrun"](sender=Hostile(), task_id="x")
    handlers["task_failure"](sender=None, task_id="x", einfo=object())
    handlers["task_retry"](request=object(), reason="r")
    assert integration._running == {} and patched.current_span() is None
    assert len([s for s in patched.spans() if s.name == "celery.apply"]) == 3


def test_a_failed_publish_ends_its_span_with_the_error(broker, queue, patched):
    """The message cannot be sent (its arguments do not serialize): after_task_publish never comes, and the
    span ends with the error apply_async raises."""
    url, _client = broker
    app = celery_driver.make_app(url, queue)
    with patched.trace("caller"), pytest.raises(Exception) as raised:
        app.tasks["parity.add"].apply_async((object(), 2))
    (apply,) = [s for s in patched.spans() if s.name == "celery.apply"]
    assert apply.error == 1 and apply.get_tag("error.type").endswith(type(raised.value).__name__)
    assert patched.current_span() is None


# -- settings and errors, the receivers called as Celery calls them ------------------------------------


def _one_task(tracer, headers=None, fail=None, throws=()):
    """Publishes and runs one ``parity.add`` through the receivers, without a broker; the spans made."""
    from ddfast.contrib import celery as integration

    handlers = integration._handlers
    app = celery_driver.make_app("memory://", "q-unit")
    task = app.tasks["parity.add"]
    task.throws = throws
    message = {"id": "t-1", "task": "parity.add", "origin": "gen1@producer", "retries": 0, "timelimit": [None, None]}
    with tracer.trace("caller"):
        handlers["before_task_publish"](sender="parity.add", body=((1, 2), {}, {}), exchange="", routing_key="celery",
                                        headers=message)  # fmt: skip
        handlers["after_task_publish"](sender="parity.add", body=None, exchange="", routing_key="celery")
    delivery = {"exchange": "", "routing_key": "celery", "priority": 0, "redelivered": False}
    carried = message.get("headers") if headers is None else headers
    request = dict(message, headers=carried, hostname="celery@worker", delivery_info=delivery)
    task.push_request(request)
    try:
        handlers["task_prerun"](sender=task, task_id="t-1", task=task, args=(1, 2), kwargs={})
        state = "SUCCESS"
        if fail is not None:
            from billiard.einfo import ExceptionInfo

            try:
                raise fail
            except Exception:
                einfo = ExceptionInfo()
            handlers["task_failure"](sender=task, task_id="t-1", exception=fail, einfo=einfo)
            state = "FAILURE"
        handlers["task_postrun"](sender=task, task_id="t-1", task=task, args=(1, 2), kwargs={}, retval=3, state=state)
    finally:
        task.pop_request()
    spans = {s.name: s for s in tracer.spans()}
    return spans["caller"], spans["celery.apply"], spans["celery.run"]


@pytest.mark.parametrize(
    "env, producer, worker",
    [
        ({}, "celery-producer", "celery-worker"),
        ({"DD_CELERY_PRODUCER_SERVICE": "pub", "DD_CELERY_WORKER_SERVICE": "wrk"}, "pub", "wrk"),
        ({"DD_TRACE_SPAN_ATTRIBUTE_SCHEMA": "v1", "DD_CELERY_WORKER_SERVICE": "w", "DD_CELERY_SERVICE": "x"}, 0, 0),
    ],
)
def test_services_as_ddtrace_names_them(traced, monkeypatch, env, producer, worker):
    if celery_driver is None:
        _missing("celery[redis] (%s)" % _import_error)
    from ddfast.contrib import celery as integration

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    integration.unpatch()
    integration.patch(tracer=traced)
    try:
        traced.spans = lambda: [s for trace in traced.writer.pop_traces() for s in trace]
        caller, apply, run = _one_task(traced)
    finally:
        integration.unpatch()
    # 0: the application's (the caller's, the tracer's)
    assert (apply.service, run.service) == (producer or caller.service, worker or traced._state.service)
    assert apply.parent_id == caller.span_id and run.parent_id == apply.span_id
    assert apply.get_tag("celery.hostname") == "gen1@producer" and run.get_tag("celery.hostname") == "celery@worker"
    assert apply.get_tag("celery.timelimit") is None and apply.get_metric("celery.retries") is None


def test_expected_errors_are_not_errors(patched):
    if celery_driver is None:
        _missing("celery[redis] (%s)" % _import_error)
    _caller, _apply, run = _one_task(patched, fail=KeyError("expected"), throws=(KeyError,))
    assert run.error == 0 and run.get_tag("celery.state") == "FAILURE"
    patched.spans().clear()
    _caller, _apply, run = _one_task(patched, fail=ValueError("bad"), throws=(KeyError,))
    assert (run.error, run.get_tag("error.type"), run.get_tag("error.message")) == (1, "builtins.ValueError", "bad")


def test_runs_of_one_task_id_each_get_their_span(patched):
    """An eager retry runs the task again under the same id, after the first run (as Celery 5.7 does); runs
    of one id nested in one another (a retry applied inside the run) each end their span too, under the run
    they ran in."""
    if celery_driver is None:
        _missing("celery[redis] (%s)" % _import_error)
    from ddfast.contrib import celery as integration

    app = celery_driver.make_app("memory://", "q-eager")
    app.conf.task_always_eager = True
    with patched.trace("caller") as caller:
        assert app.tasks["parity.retry"].apply_async().get() == "retried"
    first, second = sorted(runs(patched.spans()), key=lambda s: s.start_ns)
    assert first.parent_id == caller.span_id and second.parent_id in (caller.span_id, first.span_id)
    assert (first.get_tag("celery.state"), second.get_tag("celery.state")) == ("RETRY", "SUCCESS")
    patched.spans().clear()

    handlers, task = integration._handlers, app.tasks["parity.add"]
    task.push_request({"id": "same", "hostname": "w"})
    try:
        handlers["task_prerun"](sender=task, task_id="same")
        handlers["task_prerun"](sender=task, task_id="same")  # nested in the first
        handlers["task_postrun"](sender=task, task_id="same", state="SUCCESS")
        handlers["task_postrun"](sender=task, task_id="same", state="RETRY")
    finally:
        task.pop_request()
    outer, inner = sorted(runs(patched.spans()), key=lambda s: s.start_ns)
    assert inner.parent_id == outer.span_id and outer.get_tag("celery.state") == "RETRY"
    assert integration._running == {} and patched.current_span() is None


# -- patching -----------------------------------------------------------------------------------------------


def test_patch_by_name_and_under_ddfast_run(tmp_path):
    if celery_driver is None:
        _missing("celery[redis] (%s)" % _import_error)
    from ddfast.contrib import celery as integration
    from ddfast.patching import enabled_by_default

    integration.unpatch()
    try:
        assert ddfast.patch(celery=True) == ["celery"] and ddfast.patch(celery=True) == []
    finally:
        integration.unpatch()
    assert "celery" in enabled_by_default({}) and "celery" not in enabled_by_default({"DD_TRACE_CELERY_ENABLED": "0"})
    code = (
        "import sys; assert 'celery' not in sys.modules; import celery;"
        " from celery import signals; import ddfast.contrib.celery as c;"
        " print(c._patched is not None, any('ddfast' in repr(k) for k, _ in signals.task_prerun.receivers))"
    )
    runner = os.path.join(os.path.dirname(sys.executable), "ddfast-run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDFAST_"))}
    out = subprocess.run([runner, sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
