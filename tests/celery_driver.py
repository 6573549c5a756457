"""One side of a Celery exchange, traced by ddtrace, ddfast or OpenTelemetry, in its own process (the
tracers never patch one process); prints what it traced as JSON on its last line.
``tests/test_contrib_celery.py`` runs it.

    python celery_driver.py ddtrace|ddfast|otel produce BROKER_URL QUEUE
    python celery_driver.py ddtrace|ddfast|otel work BROKER_URL QUEUE RUNS
    python celery_driver.py ddtrace|ddfast beat BROKER_URL QUEUE TICKS

``produce`` publishes the scenarios' tasks (``SCENARIOS``) inside a ``caller`` span and exits; ``work``
runs a worker on QUEUE until it has run RUNS tasks; ``beat`` ticks Celery beat's scheduler TICKS times
with an entry due at each tick. ddtrace carries the trace only with
``DD_CELERY_DISTRIBUTED_TRACING=true`` (the test sets it).
"""

import json
import os
import sys
import time

from capture_writer import CaptureWriter

#: task name -> (args, the runs its message makes: ``retry`` runs twice)
SCENARIOS = {"parity.add": ((2, 3), 1), "parity.boom": ((), 1), "parity.retry": ((), 2)}


def make_app(broker_url, queue):
    from celery import Celery

    app = Celery("parity", broker=broker_url, set_as_current=True)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=False,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
    )

    @app.task(name="parity.add", shared=False)
    def add(x, y):
        return x + y

    @app.task(name="parity.boom", shared=False)
    def boom():
        raise ValueError("boom")

    @app.task(name="parity.retry", shared=False, bind=True, max_retries=1, default_retry_delay=0)
    def retry(self):
        if self.request.retries == 0:
            raise self.retry(exc=KeyError("again"), countdown=0)
        return "retried"

    return app


class Capture(CaptureWriter):
    def taken(self):
        return [describe(s) for s in self.snapshot()]


def describe(span):
    """A ddtrace or ddfast span as JSON."""
    return {
        "name": span.name,
        "resource": span.resource,
        "service": span.service,
        "type": span.span_type,
        "error": int(span.error),
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id or None,
        "tags": {k: v for k, v in span.get_tags().items()},
        "metrics": {k: v for k, v in span.get_metrics().items()},
    }


def describe_otel(span):
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": span.context.trace_id,
        "span_id": span.context.span_id,
        "parent_id": span.parent.span_id if span.parent is not None else None,
        "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in span.attributes.items()},
    }


class Tracing:
    def __init__(self, which):
        self.which = which
        if which == "ddtrace":
            import ddtrace
            from ddtrace.trace import tracer

            self.capture = Capture()
            tracer._span_aggregator.writer = self.capture
            ddtrace.patch(celery=True)
            self.tracer = tracer
        elif which == "ddfast":
            import ddfast
            from ddfast.tracer import tracer

            self.capture = Capture()
            tracer.writer = self.capture
            ddfast.patch(celery=True)
            self.tracer = tracer
        else:
            from opentelemetry import trace
            from opentelemetry.instrumentation.celery import CeleryInstrumentor
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

            self.exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            trace.set_tracer_provider(provider)
            CeleryInstrumentor().instrument()
            self.tracer = trace.get_tracer("parity")

    def caller(self):
        if self.which == "otel":
            return self.tracer.start_as_current_span("caller")
        return self.tracer.trace("caller")

    def spans(self):
        if self.which == "otel":
            return [describe_otel(s) for s in self.exporter.get_finished_spans()]
        return self.capture.taken()

    def runs(self):
        return sum(1 for s in self.spans() if s["name"] == "celery.run" or s["name"].startswith("run/"))


def produce(tracing, app):
    with tracing.caller():
        for name, (args, _runs) in SCENARIOS.items():
            app.tasks[name].apply_async(args)


def work(tracing, app, runs):
    from celery.contrib.testing.worker import start_worker

    deadline = time.monotonic() + 30
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        while tracing.runs() < runs and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)  # the last run's span is written once postrun has finished it


def beat(tracing, app, ticks):
    """Celery beat's scheduler with one entry due at every tick, ticking ``ticks`` times."""
    from celery.beat import Scheduler

    app.conf.beat_schedule = {"every-moment": {"task": "parity.add", "schedule": 0.001, "args": (1, 2)}}
    scheduler = Scheduler(app)
    for _ in range(ticks):
        time.sleep(0.01)
        scheduler.tick()
    return scheduler


def main(argv):
    which, role, broker_url, queue = argv[:4]
    tracing = Tracing(which)  # before the app and its tasks, as ddtrace-run does
    app = make_app(broker_url, queue)
    if role == "produce":
        produce(tracing, app)
    elif role == "beat":
        beat(tracing, app, int(argv[4]))
    else:
        work(tracing, app, int(argv[4]))
    core = None
    if which == "ddfast":
        core = type(tracing.tracer._state).__module__
    out = {"spans": tracing.spans(), "core": core}
    sys.stdout.write("\n" + json.dumps(out, default=str) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no atexit flush to an agent


if __name__ == "__main__":
    main(sys.argv[1:])
