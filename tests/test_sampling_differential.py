"""Differential tests: ddfast's sampler (both twins) against ddtrace 4.16's on generated input.

The same trace ids, rules, rate limits, tags and agent rates must give the same priority, decision
maker (``_dd.p.dm``), rate tags (``_dd.rule_psr``, ``_dd.agent_psr``, ``_dd.limit_psr``,
``_dd.p.ksr``) and the same injected W3C headers, whose tracestate carries the OpenTelemetry ``ot=``
member (``rv``/``th``) of a probabilistic decision.
"""

from ddtrace._trace.sampler import DatadogSampler as DDSampler
from ddtrace._trace.sampling_rule import SamplingRule as DDRule
from ddtrace.propagation.http import HTTPPropagator as DDPropagator
from ddtrace.trace import Span as DDSpan
from hypothesis import given
from hypothesis import strategies as st

from tests.test_propagation_differential import ddtrace_settings

U64 = 2**64 - 1
RATE_KEYS = ("_dd.rule_psr", "_dd.agent_psr", "_dd.limit_psr")

rates = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.25, 0.1, 0.3, 1e-7, 0.9999999]), st.floats(0, 1))
patterns = st.sampled_from([None, "*", "web*", "svc", "SVC", "db.?uery", "other", "*request"])
trace_ids = st.one_of(st.integers(1, U64), st.integers(2**64, 2**128 - 1), st.sampled_from([1, 2**63, U64]))


@st.composite
def rule_args(draw):
    args = {"sample_rate": draw(rates)}
    for field in ("service", "name", "resource"):
        pattern = draw(patterns)
        if pattern is not None:
            args[field] = pattern
    if draw(st.booleans()):
        args["tags"] = {"http.status_code": draw(st.sampled_from(["2??", "200", "*", "5*"]))}
    args["provenance"] = draw(st.sampled_from(["default", "customer", "dynamic"]))
    return args


@st.composite
def cases(draw):
    return {
        "rules": draw(st.lists(rule_args(), max_size=3)),
        "rate_limit": draw(st.sampled_from([100, 1, 0, -1])),
        "agent": draw(
            st.sampled_from([None, {"service:svc,env:prod": 0.5}, {"service:svc,env:": 0.2, "service:,env:": 0.7}])
        ),
        "agent_rate": draw(rates),
        "spans": draw(
            st.lists(
                st.tuples(
                    trace_ids,
                    st.sampled_from(["svc", "other", "Svc"]),
                    st.sampled_from(["web.request", "db.query"]),
                    st.sampled_from(["GET /", "SELECT"]),
                    st.sampled_from([None, "prod"]),
                    st.sampled_from([None, 200, 503, "200", 2.5]),
                ),
                min_size=1,
                max_size=3,
            )
        ),
    }


def _agent(case):
    if case["agent"] is None:
        return None
    return {key: case["agent_rate"] if rate == 0.5 else rate for key, rate in case["agent"].items()}


def _make_span(make, trace_id, service, name, resource, env, status, span_id):
    span = make(name, service=service, resource=resource, trace_id=trace_id, span_id=span_id)
    if env is not None:
        span.set_tag("env", env)
    if status is not None:
        span.set_tag("http.status_code", status)
    return span


def _observed(span, tracestate_headers):
    ctx = span.context
    return {
        "priority": ctx.sampling_priority,
        "dm": ctx._meta.get("_dd.p.dm"),
        "rates": {key: span.get_metric(key) for key in RATE_KEYS},
        "ksr": span.get_tag("_dd.p.ksr"),
        "headers": tracestate_headers,
    }


@given(case=cases())
def test_sampler_decides_like_ddtrace(sampling, spanmod, prop, case):
    ours = sampling.DatadogSampler(
        rules=[sampling.SamplingRule(**r) for r in case["rules"]], rate_limit=case["rate_limit"]
    )
    theirs = DDSampler(rules=[DDRule(**r) for r in case["rules"]], rate_limit=case["rate_limit"])
    agent = _agent(case)
    if agent is not None:
        ours.update_rate_by_service_sample_rates(agent)
        theirs.update_rate_by_service_sample_rates(agent)
    w3c = prop.Settings(inject_styles=("tracecontext", "datadog"))
    for index, spec in enumerate(case["spans"]):
        span_id = 1000 + index
        mine = _make_span(spanmod.Span, *spec, span_id=span_id)
        ref = _make_span(DDSpan, *spec, span_id=span_id)
        assert ours.sample(mine) == theirs.sample(ref)
        mine_headers, ref_headers = {}, {}
        prop.inject(mine.context, mine_headers, w3c)
        with ddtrace_settings(w3c):
            DDPropagator.inject(ref.context, ref_headers)
        assert _observed(mine, mine_headers) == _observed(ref, ref_headers), (spec, case)


@given(trace_id=trace_ids, rate=rates)
def test_rule_rate_and_ot_member_like_ddtrace(sampling, spanmod, prop, trace_id, rate):
    mine = spanmod.Span("web.request", service="svc", trace_id=trace_id, span_id=7)
    ref = DDSpan("web.request", service="svc", trace_id=trace_id, span_id=7)
    sampling.DatadogSampler(rules=[sampling.SamplingRule(rate)]).sample(mine)
    DDSampler(rules=[DDRule(rate)]).sample(ref)
    w3c = prop.Settings(inject_styles=("tracecontext",))
    mine_headers, ref_headers = {}, {}
    prop.inject(mine.context, mine_headers, w3c)
    with ddtrace_settings(w3c):
        DDPropagator.inject(ref.context, ref_headers)
    assert mine_headers == ref_headers
    assert _observed(mine, None) == _observed(ref, None)
