"""Celery per message: what tracing adds to publishing one task and to running one, ddfast compiled vs
pure vs ddtrace 4.16's integration, measured in one run, without a broker (Celery's own publishing and
worker machinery is the same under both tracers and is left out): each side's signal receivers called as
Celery calls them.

- ``celery: publish``: ``before_task_publish`` and ``after_task_publish`` for one message as Celery 5
  builds it (protocol 2 headers): a ``celery.apply`` span, its tags, its context injected into the
  message's headers (ddtrace's layout), the span finished.
- ``celery: run``: ``task_prerun`` and ``task_postrun`` for one task whose request carries a context in
  ddtrace's layout (``task.request.headers``, default styles): the context extracted, a ``celery.run``
  span under it, the request's tags, the span finished.
"""

import pytest

from benches.conftest import NullWriter
from benches.conftest import twin

celery = pytest.importorskip("celery")

TASK = "bench.add"
TASK_ID = "d40b203b-3462-461e-b7f2-1c4223057725"
#: a message's headers as Celery 5.7 builds them for ``add.apply_async((2, 3))``
HEADERS = {
    "lang": "py", "task": TASK, "id": TASK_ID, "shadow": None, "eta": None, "expires": None, "group": None,
    "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": TASK_ID, "parent_id": None,
    "argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen4242@host", "ignore_result": False,
    "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
}  # fmt: skip
BODY = ((2, 3), {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
PROPERTIES = {"correlation_id": TASK_ID, "reply_to": "6b1e4a5c-9d9e-3c0d-9a43-f5a5ad8e1f10"}


def _carried():
    """What a traced producer (default styles) puts under ``headers["headers"]``."""
    from ddfast.context import Context
    from ddfast.propagation import HTTPPropagator

    headers = {}
    context = Context(trace_id=0x6B06331600000000CFC2EF2D8C3C8F69, span_id=0x1234567890ABCDEF, sampling_priority=1)
    HTTPPropagator.inject(context, headers)
    return headers


def _request():
    """The worker's request for that message (what Celery's worker makes of it)."""
    return dict(
        HEADERS, headers=_carried(), properties=PROPERTIES, reply_to=PROPERTIES["reply_to"], correlation_id=TASK_ID,
        hostname="celery@host", delivery_info={"exchange": "", "routing_key": "celery", "priority": 0,
                                               "redelivered": False}, args=(2, 3), kwargs={},
    )  # fmt: skip


class Sides:
    """One implementation's receivers of the four signals, on an app with the task registered."""

    def __init__(self, impl):
        from celery import Celery

        self.app = Celery("bench", broker="redis://127.0.0.1:6379/0", set_as_current=True)

        @self.app.task(name=TASK, shared=False)
        def add(x, y):
            return x + y

        self.task = self.app.tasks[TASK]
        if impl == "ddtrace":
            import ddtrace.contrib.internal.celery.patch  # noqa: F401  (registers the integration's settings)
            from ddtrace import config
            from ddtrace._trace.pin import Pin
            from ddtrace.contrib.internal.celery import signals
            from ddtrace.trace import tracer

            tracer._span_aggregator.writer = NullWriter()
            self.saved = config.celery["distributed_tracing"]
            config.celery["distributed_tracing"] = True  # off by default there; on to carry the trace
            Pin(service=config.celery["worker_service_name"], _config=config.celery).onto(self.app)
            self.before, self.after = signals.trace_before_publish, signals.trace_after_publish
            self.prerun, self.postrun = signals.trace_prerun, signals.trace_postrun
            self.tracer = tracer
            self.undo = lambda: config.celery.__setitem__("distributed_tracing", self.saved)
            return
        from ddfast.contrib import celery as dd_celery
        from ddfast.tracer import Tracer

        core = (twin("span", impl), twin("sampling", impl), twin("propagation", impl))
        self.tracer = Tracer(writer=NullWriter(), sampler=core[1].DatadogSampler(rules=[]), _core=core)
        dd_celery.unpatch()
        dd_celery.patch(tracer=self.tracer)
        handlers = dd_celery._handlers
        self.before, self.after = handlers["before_task_publish"], handlers["after_task_publish"]
        self.prerun, self.postrun = handlers["task_prerun"], handlers["task_postrun"]
        self.undo = dd_celery.unpatch

    def publish(self):
        headers = dict(HEADERS)  # Celery makes a new one per message
        self.before(sender=TASK, body=BODY, exchange="", routing_key="celery", headers=headers,
                    properties=PROPERTIES, declare=[], retry_policy=None)  # fmt: skip
        self.after(sender=TASK, body=BODY, exchange="", routing_key="celery", headers=headers)
        return headers

    def run(self):
        task = self.task
        self.prerun(sender=task, task_id=TASK_ID, task=task, args=(2, 3), kwargs={})
        self.postrun(sender=task, task_id=TASK_ID, task=task, args=(2, 3), kwargs={}, retval=5, state="SUCCESS")


@pytest.fixture
def sides(impl):
    made = Sides(impl)
    made.task.push_request(_request())
    try:
        yield made
    finally:
        made.task.pop_request()
        made.undo()


def test_celery_publish(benchmark, sides):
    benchmark.group = "celery: publish"
    headers = benchmark(sides.publish)
    assert headers["headers"]["x-datadog-parent-id"] and sides.tracer.current_span() is None


def test_celery_run(benchmark, sides):
    benchmark.group = "celery: run"
    benchmark(sides.run)
    assert sides.tracer.current_span() is None
