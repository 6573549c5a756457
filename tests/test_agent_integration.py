"""ddfast's writer against the real Datadog test agent (``ddapm-test-agent`` from PyPI), started here on
free loopback ports and a unix socket: payloads pass the agent's checks for v0.4 and v0.5 and read back
span by span; the agent's ``rate_by_service`` reaches the sampler."""

import pytest
from integration_helpers import RealAgent

from ddfast.settings import AgentURL
from ddfast.tracer import Tracer
from ddfast.writer import AgentWriter

pytest.importorskip("ddapm_test_agent", reason="ddapm-test-agent is a test dependency (pip install .[test])")


@pytest.fixture(scope="module")
def test_agent():
    agent = RealAgent()
    yield agent
    agent.stop()


@pytest.fixture
def session(test_agent):
    test_agent.start_session()
    return test_agent


def make_tracer(url, version, encoding, spanmod, sampling, prop):
    writer = AgentWriter(url, api_version=version, interval=60.0, _encoding=encoding)
    return Tracer(writer=writer, _core=(spanmod, sampling, prop))


def expected_span(span):
    d = {
        "name": span.name,
        "service": span.service,
        "resource": span.resource,
        "trace_id": span.trace_id & (2**64 - 1),
        "span_id": span.span_id,
        "parent_id": span.parent_id or 0,
        "start": span.start_ns,
        "duration": span.duration_ns,
        "error": span.error,
        "meta": span.get_tags(),
        "metrics": span.get_metrics(),
    }
    if span.span_type is not None:
        d["type"] = span.span_type
    return d


def received_span(span):
    d = {k: span.get(k) for k in ("name", "service", "resource", "trace_id", "span_id", "start", "duration")}
    d["parent_id"] = span.get("parent_id") or 0
    d["error"] = span.get("error") or 0
    d["meta"] = span.get("meta") or {}
    d["metrics"] = span.get("metrics") or {}
    if span.get("type"):
        d["type"] = span["type"]
    return d


@pytest.mark.parametrize("version", ["v0.4", "v0.5"])
def test_traces_pass_the_agent_checks_and_read_back_span_by_span(session, version, encoding, spanmod, sampling, prop):
    t = make_tracer(session.url, version, encoding, spanmod, sampling, prop)
    with t.trace("web.request", service="shop", resource="GET /cart", span_type="web") as root:
        root.set_tag("http.method", "GET")
        root.set_tag("unicode", "naïve ☃")
        root.set_metric("items", 3)
        root.set_metric("ratio", 0.25)
        with t.trace("db.query", service="db", resource="SELECT 1") as child:
            child.set_tag("huge", "z" * 20000)
        try:
            with t.trace("boom"):
                raise ValueError("bad")
        except ValueError:
            pass
    with t.trace("second.trace", service="shop"):
        pass
    t.flush()
    # the agent answers 400 to a payload that fails a check: the writer would count it as rejected
    assert t.writer.sent_traces == 2 and t.writer.dropped_traces == 0 and not t.writer.drops
    traces = sorted(session.traces(), key=len, reverse=True)
    assert [len(trace) for trace in traces] == [3, 1]
    got = {s["span_id"]: received_span(s) for s in traces[0]}
    sent = [root, child]
    for span in sent:
        assert got[span.span_id] == expected_span(span)
    assert got[root.span_id]["meta"]["_dd.p.tid"] == "%016x" % (root.trace_id >> 64)
    errored = [s for s in got.values() if s["name"] == "boom"][0]
    assert errored["error"] == 1 and errored["meta"]["error.type"] == "builtins.ValueError"
    t.shutdown()


def test_unix_socket_to_the_real_agent(session, encoding, spanmod, sampling, prop):
    t = make_tracer("unix://" + session.socket_path, "v0.5", encoding, spanmod, sampling, prop)
    with t.trace("over.uds", service="shop") as span:
        pass
    t.flush()
    (trace,) = session.traces()
    assert [s["span_id"] for s in trace] == [span.span_id]
    t.shutdown()


def test_agent_rates_reach_the_sampler(test_agent, encoding, spanmod, sampling, prop):
    test_agent.start_session(rates={"service:shop,env:": 0.0, "service:,env:": 1.0})
    t = make_tracer(test_agent.url, "v0.5", encoding, spanmod, sampling, prop)
    with t.trace("first", service="shop") as first:
        pass
    assert first.context.sampling_priority == 1  # before any agent answer: the default rate
    t.flush()  # the agent's answer carries its rates
    with t.trace("second", service="shop") as second:
        pass
    with t.trace("other", service="cart") as other:
        pass
    assert second.context.sampling_priority == 0 and second.get_metric("_dd.agent_psr") == 0.0
    # as in ddtrace 4.16, a service without its own key gets the default rate, not "service:,env:"'s
    assert other.context.sampling_priority == 1 and other.get_metric("_dd.agent_psr") is None
    assert other.get_tag("_dd.p.dm") == "-0"
    t.shutdown()


def test_the_agent_checks_are_on(session):
    """The checks above would catch a bad payload: a wrong trace count is answered with 400."""
    import msgpack

    from ddfast import agent

    body = msgpack.packb([[{"trace_id": 1, "span_id": 2, "name": "x", "service": "s", "resource": "r"}]])
    headers = dict(agent.BASE_HEADERS, **{"Content-Type": "application/msgpack", "X-Datadog-Trace-Count": "5"})
    status, _, answer = agent.post(AgentURL(session.url), "v0.4/traces", body, headers, 10)
    assert status == 400 and b"trace_count_header" in answer
