"""``ddfast.contrib.starlette.patch()``: the patched ``Starlette.__call__`` does the ASGI middleware's work
itself, around the application's middleware stack (no coroutine of its own per request beyond
Starlette's), and keeps what the middleware does: spans named by route, the response's status, an
exception recorded with the status 500, FastAPI's ``fastapi.request``, user middlewares' spans nested,
one span per request, the lifespan passed through, unpatch. Driven in-process on both twins."""

import asyncio

import pytest

from ddfast.contrib import _http
from ddfast.contrib import starlette as traced_starlette

pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402


@pytest.fixture
def tracer(make_tracer):
    tracer = make_tracer()
    traced_starlette.patch(tracer=tracer)
    yield tracer
    traced_starlette.unpatch()


HEADERS = [(b"host", b"shop"), (b"x-datadog-trace-id", b"77"), (b"x-datadog-parent-id", b"88")]


def scope(path, method="GET"):
    return {"type": "http", "method": method, "path": path, "root_path": "", "scheme": "http", "query_string": b"",
            "headers": HEADERS}  # fmt: skip


def call(app, path):
    """Serve ``path``; the messages sent and the exception that escaped the application (or None)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    try:
        asyncio.run(app(scope(path), receive, send))
    except Exception as e:
        return sent, e
    return sent, None


async def hello(request):
    return PlainTextResponse("hi " + request.path_params["name"])


async def boom(request):
    raise RuntimeError("boom")


def app_of(**kwargs):
    return Starlette(routes=[Route("/hello/{name}", hello), Route("/boom", boom)], **kwargs)


def test_a_request_gets_one_span_named_by_its_route(tracer):
    app = app_of()
    for name in ("a", "b"):
        sent, error = call(app, "/hello/" + name)
        assert error is None and sent[0]["status"] == 200 and sent[1]["body"] == b"hi " + name.encode()
    first, second = tracer.writer.pop()
    for span in (first, second):
        assert span.name == "starlette.request" and span.resource == "GET /hello/{name}"
        assert span.get_tag("http.route") == "/hello/{name}" and span.get_tag("http.status_code") == "200"
        assert span.trace_id == 77 and span.parent_id == 88 and span.error == 0
    assert first.get_tag("http.url") == "http://shop/hello/a"


def test_an_exception_is_recorded_with_the_status_500(tracer):
    sent, error = call(app_of(), "/boom")
    assert isinstance(error, RuntimeError)  # Starlette's error middleware answers 500, then re-raises
    assert sent[0]["status"] == 500
    (span,) = tracer.writer.pop()
    assert span.error == 1 and span.get_tag("http.status_code") == "500"
    assert span.get_tag("error.type") == "builtins.RuntimeError" and span.get_tag("error.message") == "boom"
    assert span.resource == "GET /boom"


def test_an_exception_before_the_response_starts_gets_the_status_500(tracer):
    class Failing:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            raise KeyError("early")

    app = app_of()
    app.middleware_stack = Failing(None)  # below the tracing, above Starlette's error middleware
    sent, error = call(app, "/hello/a")
    assert isinstance(error, KeyError) and sent == []
    (span,) = tracer.writer.pop()
    assert span.error == 1 and span.get_tag("http.status_code") == "500"
    assert span.get_tag("error.type") == "builtins.KeyError" and span.resource == "GET /hello/a"


def test_a_user_middlewares_spans_nest_under_the_request_span(tracer):
    class Timing:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            with tracer.trace("timing"):
                await self.app(scope, receive, send)

    sent, error = call(app_of(middleware=[Middleware(Timing)]), "/hello/a")
    assert error is None and sent[0]["status"] == 200
    spans = {span.name: span for span in tracer.writer.pop()}
    assert spans["timing"].parent_id == spans["starlette.request"].span_id


def test_the_application_is_called_as_starlette_calls_it(tracer):
    app = app_of()
    assert app.middleware_stack is None
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["app"])
        await send({"type": "http.response.start", "status": 204, "headers": []})

    call(app, "/hello/a")
    stack = app.middleware_stack
    assert stack is not None  # built on the first request, once
    call(app, "/hello/b")
    assert app.middleware_stack is stack
    app.middleware_stack = inner
    call(app, "/x")
    assert seen == [app]
    spans = tracer.writer.pop()
    assert len(spans) == 3 and spans[-1].get_tag("http.status_code") == "204"


def test_an_unknown_call_is_run_as_it_is(tracer):
    # a Starlette whose __call__ does more than run its stack: the patch runs that __call__ itself
    async def other_call(self, scope, receive, send):
        scope["seen"] = True
        await self.router(scope, receive, send)

    assert traced_starlette._stack_call(other_call) is None
    # nor a wrapper of Starlette's own that shows its code (as wrapt's proxies do)
    original = Starlette.__call__.__ddfast_original__

    class Proxy:
        __code__ = original.__code__

        def __call__(self, *args):
            return original(*args)

    assert traced_starlette._stack_call(Proxy()) is None
    assert traced_starlette._stack_call(Starlette.__call__.__ddfast_original__) is not None


def test_a_fastapi_application_is_traced_once_as_fastapi(tracer):
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()

    @app.get("/items/{item}")
    async def item(item: int):
        return {"item": item}

    sent, error = call(app, "/items/3")
    assert error is None and sent[0]["status"] == 200
    (span,) = tracer.writer.pop()
    assert span.name == "fastapi.request" and span.resource == "GET /items/{item}"


def test_lifespan_passes_through_and_flushes_at_shutdown(tracer):
    flushed = []
    tracer.flush = lambda: flushed.append(True)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(app_of()({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"] and flushed == [True]
    assert tracer.writer.pop() == []


def test_a_disabled_tracer_leaves_requests_untraced(tracer):
    tracer.enabled = False
    sent, error = call(app_of(), "/hello/a")
    assert error is None and sent[0]["status"] == 200
    assert tracer.writer.pop() == []


def test_unpatch_restores_starlettes_call(tracer):
    app = app_of()
    assert _http.TRACED_APP_KEY not in app.__dict__
    call(app, "/hello/a")
    assert _http.TRACED_APP_KEY in app.__dict__ and len(tracer.writer.pop()) == 1
    traced_starlette.unpatch()
    assert not traced_starlette._app.patched
    sent, error = call(app_of(), "/hello/a")
    assert error is None and sent[0]["status"] == 200 and tracer.writer.pop() == []
