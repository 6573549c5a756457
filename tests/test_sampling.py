"""Sampling behaviour (both implementations): the Knuth decision, glob rules, the rate limiter with an
injected clock, the sampler's priorities and tags, single-span rules, bad settings, threads."""

import logging
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

KNUTH = 1111111111111111111
U64 = 2**64 - 1


def knuth_keep(trace_id, rate):
    """The reference formula, in Python integers (every Datadog tracer's comparison)."""
    return ((trace_id & U64) * KNUTH) % 2**64 <= rate * U64


@given(trace_id=st.integers(0, 2**128 - 1), rate=st.floats(0, 1))
def test_knuth_decision_matches_the_formula(sampling, trace_id, rate):
    assert sampling.sampled_by_rate(trace_id, rate) == knuth_keep(trace_id, rate)


def test_knuth_known_answers(sampling):
    # hash(1) = 1111111111111111111 ~ 0.0602 * 2**64: kept at rates above that, dropped below
    assert sampling.sampled_by_rate(1, 0.07) and not sampling.sampled_by_rate(1, 0.06)
    assert sampling.sampled_by_rate(0, 0.0)  # hash 0 <= 0
    assert sampling.sampled_by_rate(2**64 + 1, 0.07)  # only the low 64 bits count


@pytest.mark.parametrize(
    "rate, text",
    [(0.5, "0.5"), (1.0, "1"), (0.0, "0"), (0.0000005, "0.000001"), (0.123456789, "0.123457"), (0.1, "0.1")],
)
def test_format_rate(sampling, rate, text):
    from ddtrace.internal.sampling import format_rate

    assert sampling.format_rate(rate) == text == format_rate(rate)


@pytest.mark.parametrize(
    "pattern, subject, expected",
    [
        ("web*", "web.request", True),
        ("WEB.?equest", "web.Request", True),
        ("*", "", True),
        ("?", "", False),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axxbyy", False),
        ("db", "db2", False),
        ("", "", True),
    ],
)
def test_glob(sampling, pattern, subject, expected):
    from ddtrace.internal.glob_matching import GlobMatcher

    assert sampling.GlobMatcher(pattern).match(subject) is expected
    assert GlobMatcher(pattern).match(subject) is expected


class Clock:
    def __init__(self):
        self.now = 1_000_000_000

    def __call__(self):
        return self.now


def test_rate_limiter_bucket_and_effective_rate(sampling):
    clock = Clock()
    limiter = sampling.RateLimiter(2, clock=clock)
    assert [limiter.is_allowed() for _ in range(4)] == [True, True, False, False]
    assert limiter.effective_rate == 0.5
    clock.now += 500_000_000  # half a window: one token back
    assert limiter.is_allowed() and not limiter.is_allowed()
    clock.now += 1_000_000_000  # a new window: the previous window's rate is averaged in
    assert limiter.is_allowed()
    assert limiter.effective_rate == pytest.approx((1.0 + 3 / 6) / 2)


def test_rate_limiter_zero_and_negative(sampling):
    assert not any(sampling.RateLimiter(0).is_allowed() for _ in range(5))
    assert all(sampling.RateLimiter(-1).is_allowed() for _ in range(1000))
    with pytest.raises(TypeError):
        sampling.RateLimiter("10")
    with pytest.raises(ValueError):
        sampling.RateLimiter(10, time_window=0)


def test_rate_limiter_is_exact_under_threads(sampling):
    limiter = sampling.RateLimiter(1000, time_window=3600e9)  # no refill during the test
    allowed = []

    def worker():
        allowed.append(sum(limiter.is_allowed() for _ in range(500)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 1000 and limiter.tokens_total == 4000


def root(spanmod, trace_id=1, name="web.request", service="svc", resource="GET /", **tags):
    span = spanmod.Span(name, service=service, resource=resource, trace_id=trace_id)
    for key, value in tags.items():
        span.set_tag(key, value)
    return span


def test_default_decision_is_auto_keep(sampling, spanmod):
    span = root(spanmod)
    assert sampling.DatadogSampler(rules=[]).sample(span) is True
    ctx = span.context
    assert ctx.sampling_priority == 1 and ctx.meta["_dd.p.dm"] == "-0"
    assert span.get_metrics() == {} and span.get_tag("_dd.p.ksr") is None
    assert ctx._ot == "rv:%014x;th:0" % (~(((1 * KNUTH) % 2**64) >> 8) & (2**56 - 1))


def test_rule_decision_tags(sampling, spanmod):
    sampler = sampling.DatadogSampler(rules=[sampling.SamplingRule(0.07, service="svc")])
    kept = root(spanmod, trace_id=1)
    assert sampler.sample(kept)
    assert kept.context.sampling_priority == 2 and kept.context.meta["_dd.p.dm"] == "-3"
    assert kept.get_metric("_dd.rule_psr") == 0.07 and kept.get_tag("_dd.p.ksr") == "0.07"
    assert kept.get_metric("_dd.limit_psr") == 1.0
    assert kept.context._ot.endswith(";th:" + ("%014x" % round((1 - 0.07) * 2**56)).rstrip("0"))
    sampler = sampling.DatadogSampler(rules=[sampling.SamplingRule(0.06, service="svc")])
    dropped = root(spanmod, trace_id=1)
    assert not sampler.sample(dropped)
    assert dropped.context.sampling_priority == -1
    assert dropped.get_metric("_dd.limit_psr") is None  # the limiter only sees kept traces


def test_rate_limiter_drops_after_a_rule(sampling, spanmod):
    sampler = sampling.DatadogSampler(rules=[sampling.SamplingRule(1.0)], rate_limit=1)
    first, second = root(spanmod), root(spanmod)
    assert sampler.sample(first) and not sampler.sample(second)
    assert second.context.sampling_priority == -1 and second.get_metric("_dd.limit_psr") == 0.5
    assert second.context._ot is None  # a limiter drop is not probabilistic


def test_agent_rates(sampling, spanmod):
    sampler = sampling.DatadogSampler(rules=[])
    sampler.update_rate_by_service_sample_rates({"service:svc,env:prod": 0.06, "service:,env:": 1.0})
    span = root(spanmod, env="prod")
    assert not sampler.sample(span)
    assert span.context.sampling_priority == 0 and span.context.meta["_dd.p.dm"] == "-1"
    assert span.get_metric("_dd.agent_psr") == 0.06 and span.get_tag("_dd.p.ksr") == "0.06"
    other = root(spanmod, env="staging")  # no key for it: the default decision
    assert sampler.sample(other) and other.context.meta["_dd.p.dm"] == "-0"
    with pytest.raises(TypeError):
        sampler.update_rate_by_service_sample_rates({"service:a,env:": "0.5"})


def test_rules_match_first_in_provenance_order(sampling, spanmod):
    rules = sampling.parse_sampling_rules(
        '[{"sample_rate": 0, "name": "web.*"},'
        ' {"sample_rate": 1, "service": "svc", "provenance": "customer"},'
        ' {"sample_rate": 0.5, "resource": "GET /", "tags": {"http.status_code": "2??"}, "provenance": "dynamic"}]'
    )
    assert [r.provenance for r in rules] == ["customer", "dynamic", "default"]
    sampler = sampling.DatadogSampler(rules=rules)
    span = root(spanmod, service="other")
    span.set_metric("http.status_code", 200)  # a metric, matched as its integer text
    sampler.sample(span)
    assert span.context.meta["_dd.p.dm"] == "-12" and span.get_metric("_dd.rule_psr") == 0.5
    span = root(spanmod, service="SVC")  # case-insensitive
    sampler.sample(span)
    assert span.context.meta["_dd.p.dm"] == "-11"


def test_tag_patterns(sampling, spanmod):
    rule = sampling.SamplingRule(1, tags={"k": "v*", "n": "*"})
    assert rule.matches(root(spanmod, k="value", n=1.5))
    assert not rule.matches(root(spanmod, k="value"))
    assert not sampling.SamplingRule(1, tags={"n": "1.*"}).matches(root(spanmod, n=1.5))
    assert sampling.SamplingRule(1, tags={"n": "2"}).matches(root(spanmod, n=2.0))


def test_decision_maker_is_not_overwritten(sampling, spanmod):
    span = root(spanmod)
    span.context.meta["_dd.p.dm"] = "-4"
    sampling.DatadogSampler(rules=[]).sample(span)
    assert span.context.meta["_dd.p.dm"] == "-4"


def test_discard_rule(sampling, spanmod):
    sampler = sampling.DatadogSampler(rules=[sampling.SamplingRule(0, discard=True)])
    assert sampler.sample_or_discard(root(spanmod)) == (False, True)


def test_always_on_limiter_is_appsec(sampling, spanmod):
    sampler = sampling.DatadogSampler(rules=[], rate_limit=1, rate_limit_always_on=True)
    span = root(spanmod)
    assert sampler.sample(span) and span.context.meta["_dd.p.dm"] == "-5" and span.context._ot is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("not json", 0),
        ('{"sample_rate": 1}', 0),
        ('[{"service": "a"}]', 0),
        ('[{"sample_rate": 1.5}]', 0),
        ('[{"sample_rate": "0.5"}]', 0),
        ('[{"sample_rate": 0.5, "unknown": 1}]', 0),
        ('[{"sample_rate": 0.5, "service": 3}]', 0),
        ('[{"sample_rate": 0.5, "provenance": "elsewhere"}]', 0),
        ('[{"sample_rate": 0.5}, {"sample_rate": 2}]', 1),
    ],
)
def test_bad_rules_warn_and_are_skipped(sampling, caplog, text, expected):
    with caplog.at_level(logging.WARNING, logger="ddfast.sampling"):
        assert len(sampling.parse_sampling_rules(text)) == expected
    assert caplog.records


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"sample_rate": None}, TypeError),
        ({"sample_rate": float("nan")}, ValueError),
        ({"sample_rate": 1, "service": 3}, TypeError),
        ({"sample_rate": 1, "tags": ["k"]}, TypeError),
        ({"sample_rate": 1, "provenance": "x"}, ValueError),
        ({"sample_rate": 1, "discard": "yes"}, ValueError),
    ],
)
def test_rule_misuse(sampling, kwargs, error):
    with pytest.raises(error):
        sampling.SamplingRule(**kwargs)


def test_rates_are_clamped(sampling):
    assert sampling.SamplingRule(7).sample_rate == 1.0 and sampling.SamplingRule(-1).sample_rate == 0.0


def test_sampler_misuse(sampling, spanmod):
    with pytest.raises(TypeError):
        sampling.DatadogSampler(rules=[{"sample_rate": 1}])
    with pytest.raises(TypeError):
        sampling.DatadogSampler(rules=[]).sample(object())


def test_span_sampling_rules(sampling, spanmod):
    rules = sampling.parse_span_sampling_rules(
        '[{"service": "svc", "name": "db.*", "max_per_second": 1}, {"name": "cache", "sample_rate": 0}]'
    )
    assert len(rules) == 2
    spans = [root(spanmod, name="db.query"), root(spanmod, name="db.query"), root(spanmod, name="cache")]
    sampling.sample_spans(spans, rules)
    assert spans[0].get_metrics() == {
        "_dd.span_sampling.mechanism": 8,
        "_dd.span_sampling.rule_rate": 1.0,
        "_dd.span_sampling.max_per_second": 1,
    }
    assert spans[1].get_metrics() == {}  # over max_per_second
    assert spans[2].get_metrics() == {}  # rate 0


@pytest.mark.parametrize(
    "text", ["nope", '{"service": "a"}', '[{"sample_rate": 1}]', '[{"service": "a[b]"}]', '[{"name": 3}]']
)
def test_bad_span_rules_warn(sampling, caplog, text):
    with caplog.at_level(logging.WARNING, logger="ddfast.sampling"):
        assert sampling.parse_span_sampling_rules(text) == []
    assert caplog.records


def test_threads_sample_while_agent_rates_change(sampling, spanmod):
    """Every decision uses one whole table, old or new: with rates 0 and 1 swapped for both keys at once,
    two spans of different services decided together never disagree."""
    sampler = sampling.DatadogSampler(rules=[])
    tables = [{"service:a,env:": 0.0, "service:b,env:": 0.0}, {"service:a,env:": 1.0, "service:b,env:": 1.0}]
    stop = threading.Event()
    errors = []

    def flip():
        i = 0
        while not stop.is_set():
            sampler.update_rate_by_service_sample_rates(tables[i % 2])
            i += 1

    def decide():
        try:
            for i in range(2000):
                span = root(spanmod, trace_id=i + 1, service="a")
                sampler.sample(span)
                assert span.context.sampling_priority in (0, 1)
                assert span.get_metric("_dd.agent_psr") == span.context.sampling_priority
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    flipper = threading.Thread(target=flip)
    flipper.start()
    workers = [threading.Thread(target=decide) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    flipper.join()
    assert errors == []
