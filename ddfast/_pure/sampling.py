"""The sampling hot path, pure Python. Twin of ``src/sampling.pyx``.

One keep/drop decision per trace, made on the local root span and carried downstream as the sampling
priority. The order, the tags and the arithmetic follow ddtrace 4.16 (``DatadogSampler``,
``SamplingRule``, ``RateLimiter``, single-span rules), and the Knuth hash over the low 64 bits of the
trace id is the one every Datadog tracer uses, so services in any language decide alike.
"""

import math
import threading
import time

from ddfast._pure.span import Span

_logger = None


def _log():
    """The module's logger: ``logging`` is imported at the first warning, not by ``import ddfast``."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("ddfast.sampling")
    return _logger


KNUTH_FACTOR = 1111111111111111111
MAX_UINT_64BITS = (1 << 64) - 1
_U64 = MAX_UINT_64BITS
_U56 = (1 << 56) - 1

# decision makers (ddtrace's SamplingMechanism) and the priorities each gives
DEFAULT = 0
AGENT_RATE_BY_SERVICE = 1
LOCAL_USER_TRACE_SAMPLING_RULE = 3
MANUAL = 4
APPSEC = 5
SPAN_SAMPLING_RULE = 8
REMOTE_USER_TRACE_SAMPLING_RULE = 11
REMOTE_DYNAMIC_TRACE_SAMPLING_RULE = 12
PROVENANCE_ORDER = ("customer", "dynamic", "default")
NO_LIMIT = -1

DECISION_MAKER_KEY = "_dd.p.dm"
KSR_KEY = "_dd.p.ksr"
RULE_PSR = "_dd.rule_psr"
AGENT_PSR = "_dd.agent_psr"
LIMIT_PSR = "_dd.limit_psr"
_DECISION_MAKERS = tuple("-%d" % m for m in range(13))


def knuth_hash(trace_id_low):
    return (trace_id_low * KNUTH_FACTOR) & _U64


def sampled_by_rate(trace_id, rate):
    """The Knuth decision for ``rate``: keep when ``(low64(trace_id) * 1111111111111111111) mod 2**64
    <= rate * (2**64 - 1)``."""
    return knuth_hash(trace_id & _U64) <= float(rate) * MAX_UINT_64BITS


def format_rate(rate):
    """A rate as ``_dd.p.ksr`` carries it: at most 6 decimals, half rounded up, trailing zeros cut."""
    rounded = math.floor(rate * 1e6 + 0.5) / 1e6
    return ("%.6f" % rounded).rstrip("0").rstrip(".")


def ot_state(trace_id_low, rate, sampled):
    """The OpenTelemetry ``ot=`` value ddtrace sends with a probabilistic decision (OTEP 235): ``th`` the
    56-bit rejection threshold of ``rate`` (rounded half away from zero, trailing zeros cut) and ``rv``
    the 56-bit randomness the Knuth hash gives, moved to the threshold's side of the decision made, so
    that an OTel ``rv >= th`` check agrees with it."""
    rv = (~knuth_hash(trace_id_low) & _U64) >> 8
    th = 0
    if rate != 1.0:
        th = min(_U56, max(0, math.floor((1.0 - rate) * 72057594037927936.0 + 0.5)))
    if sampled and rv < th:
        rv = th
    elif not sampled and rv >= th:
        rv = max(0, th - 1)
    th_text = ("%014x" % th).rstrip("0") or "0"
    return "rv:%014x;th:%s" % (rv, th_text)


# -- glob patterns ---------------------------------------------------------------------------------------


class GlobMatcher:
    """ddtrace's glob: ``*`` any run (also empty), ``?`` one character, no escapes, case-insensitive."""

    __slots__ = ("pattern", "wildcards_only", "_cache")

    def __init__(self, pattern):
        if not isinstance(pattern, str):
            raise TypeError("glob pattern must be a str, not %s" % type(pattern).__name__)
        self.pattern = pattern.lower()
        self.wildcards_only = not (set(self.pattern) - {"?", "*"})
        self._cache = {}

    def match(self, subject):
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        result = _glob(self.pattern, subject.lower())
        if len(self._cache) < 256:
            self._cache[subject] = result
        return result

    def __eq__(self, other):
        if isinstance(other, GlobMatcher):
            return self.pattern == other.pattern
        return NotImplemented

    def __hash__(self):
        return hash(self.pattern)

    def __repr__(self):
        return "GlobMatcher(pattern=%s)" % self.pattern


def _glob(pattern, subject):
    px = sx = next_px = next_sx = 0
    plen = len(pattern)
    slen = len(subject)
    while px < plen or sx < slen:
        if px < plen:
            c = pattern[px]
            if c == "?":
                if sx < slen:
                    px += 1
                    sx += 1
                    continue
            elif c == "*":
                next_px = px
                next_sx = sx + 1
                px += 1
                continue
            elif sx < slen and subject[sx] == c:
                px += 1
                sx += 1
                continue
        if 0 < next_sx <= slen:
            px = next_px
            sx = next_sx
            continue
        return False
    return True


# -- the rate limiter --------------------------------------------------------------------------------


class RateLimiter:
    """ddtrace's token bucket: ``rate_limit`` per ``time_window`` ns (0 blocks all, negative allows
    all), with the effective rate averaged over this window and the previous one. ``clock`` (monotonic
    ns) is for tests. A lock makes each call atomic."""

    __slots__ = (
        "rate_limit",
        "time_window",
        "tokens",
        "max_tokens",
        "last_update_ns",
        "current_window_ns",
        "tokens_allowed",
        "tokens_total",
        "prev_window_rate",
        "_clock",
        "_lock",
    )

    def __init__(self, rate_limit, time_window=1e9, clock=None):
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
            raise TypeError("rate_limit must be a number, not %s" % type(rate_limit).__name__)
        if not time_window > 0:
            raise ValueError("time_window must be > 0 ns, got %r" % (time_window,))
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning monotonic nanoseconds")
        self.rate_limit = rate_limit
        self.time_window = float(time_window)
        self.tokens = float(rate_limit)
        self.max_tokens = float(rate_limit)
        self._clock = clock or time.monotonic_ns
        self.last_update_ns = self._clock()
        self.current_window_ns = 0
        self.tokens_allowed = 0
        self.tokens_total = 0
        self.prev_window_rate = None
        self._lock = threading.Lock()

    def is_allowed(self):
        """Take a token if one is left (``True``), and count the call for the effective rate."""
        now = self._clock()
        with self._lock:
            limit = self.rate_limit
            if limit == 0:
                allowed = False
            elif limit < 0:
                allowed = True
            else:
                if self.tokens != self.max_tokens:
                    elapsed = (now - self.last_update_ns) / self.time_window
                    self.tokens = min(self.max_tokens, self.tokens + elapsed * limit)
                self.last_update_ns = now
                allowed = self.tokens >= 1
                if allowed:
                    self.tokens -= 1
            if not self.current_window_ns:
                self.current_window_ns = now
            elif now - self.current_window_ns >= self.time_window:
                self.prev_window_rate = self._window_rate()
                self.tokens_allowed = 0
                self.tokens_total = 0
                self.current_window_ns = now
            if allowed:
                self.tokens_allowed += 1
            self.tokens_total += 1
            return allowed

    def _window_rate(self):
        return 1.0 if not self.tokens_total else self.tokens_allowed / self.tokens_total

    @property
    def effective_rate(self):
        """The share of calls allowed, over this window and the previous one."""
        return self.effective()

    def effective(self):
        if self.prev_window_rate is None:
            return self._window_rate()
        return (self._window_rate() + self.prev_window_rate) / 2.0

    def __repr__(self):
        return "RateLimiter(rate_limit=%r, tokens=%r, last_update_ns=%r, effective_rate=%r)" % (
            self.rate_limit,
            self.tokens,
            self.last_update_ns,
            self.effective(),
        )


# -- trace sampling rules ----------------------------------------------------------------------------


def _pattern(value, what):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("SamplingRule %s must be a str glob or None, not %s" % (what, type(value).__name__))
    return GlobMatcher(value)


def _clamped_rate(sample_rate):
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, str)):
        raise TypeError("sample_rate must be a number, not %s" % type(sample_rate).__name__)
    rate = float(sample_rate)
    if rate != rate:
        raise ValueError("sample_rate must be a number in [0, 1], got NaN")
    return min(1.0, max(0.0, rate))


class SamplingRule:
    """Keep ``sample_rate`` of the traces whose local root matches every given pattern (ddtrace's
    ``SamplingRule``): ``service``, ``name``, ``resource`` globs and ``tags`` ``{key: glob}``."""

    __slots__ = ("sample_rate", "_threshold", "service", "name", "resource", "tags", "provenance", "discard")

    def __init__(
        self, sample_rate, service=None, name=None, resource=None, tags=None, provenance="default", discard=False
    ):
        self.sample_rate = _clamped_rate(sample_rate)
        self._threshold = self.sample_rate * MAX_UINT_64BITS
        if tags is not None and not isinstance(tags, dict):
            raise TypeError("SamplingRule tags must be a dict or None, not %s" % type(tags).__name__)
        self.tags = {k: GlobMatcher(str(v)) for k, v in tags.items()} if tags else {}
        self.service = _pattern(service, "service")
        self.name = _pattern(name, "name")
        self.resource = _pattern(resource, "resource") if resource else None
        if provenance not in PROVENANCE_ORDER:
            raise ValueError("SamplingRule provenance must be one of %s, got %r" % (PROVENANCE_ORDER, provenance))
        self.provenance = provenance
        if not isinstance(discard, bool):
            raise ValueError("discard must be a boolean, got %r" % (discard,))
        self.discard = discard

    def matches(self, span):
        """True when the span matches every pattern of the rule."""
        if self.tags and not self._tags_match(span):
            return False
        if self.service is not None and not self.service.match(str(span.service)):
            return False
        if self.name is not None and not self.name.match(str(span.name)):
            return False
        if self.resource is not None and not self.resource.match(str(span.resource)):
            return False
        return True

    def _tags_match(self, span):
        for key, pattern in self.tags.items():
            value = span.get_tag(key)  # stored or derived, as ddtrace's spans carry them
            if value is None:
                number = span.get_metric(key)
                if number is None:
                    return False
                if isinstance(number, int) or number.is_integer():
                    value = str(int(number))
                elif not pattern.wildcards_only:
                    return False
                else:
                    value = str(number)
            if not pattern.match(value):
                return False
        return True

    def sample(self, span):
        """The Knuth decision at this rule's rate for the span's trace."""
        if self.sample_rate == 1:
            return True
        if self.sample_rate == 0:
            return False
        return knuth_hash(span.trace_id & _U64) <= self._threshold

    def mechanism(self):
        if self.provenance == "customer":
            return REMOTE_USER_TRACE_SAMPLING_RULE
        if self.provenance == "dynamic":
            return REMOTE_DYNAMIC_TRACE_SAMPLING_RULE
        return LOCAL_USER_TRACE_SAMPLING_RULE

    def __eq__(self, other):
        if not isinstance(other, SamplingRule):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and self.service == other.service
            and self.name == other.name
            and self.resource == other.resource
            and self.tags == other.tags
            and self.provenance == other.provenance
            and self.discard == other.discard
        )

    __hash__ = None

    def __repr__(self):
        return "SamplingRule(sample_rate=%r, service=%r, name=%r, resource=%r, tags=%r, provenance=%r, discard=%r)" % (
            self.sample_rate,
            self.service,
            self.name,
            self.resource,
            self.tags,
            self.provenance,
            self.discard,
        )


def _json_list(text, setting):
    """The JSON list a rules setting holds, or None (with one warning) when it holds something else."""
    import json  # the rules' settings only: not imported by ``import ddfast``

    try:
        entries = json.loads(text)
    except (TypeError, ValueError) as e:
        _log().warning("ddfast: %s is not valid JSON (%s); no rules applied", setting, e)
        return None
    if not isinstance(entries, list):
        _log().warning("ddfast: %s must be a JSON list, got %s; no rules applied", setting, type(entries).__name__)
        return None
    return entries


def parse_sampling_rules(text):
    """``DD_TRACE_SAMPLING_RULES`` JSON as a list of SamplingRule, sorted by provenance. A bad rule is
    skipped and bad JSON gives no rules, each with one warning (never an exception)."""
    rules = []
    for entry in _json_list(text, "DD_TRACE_SAMPLING_RULES") or ():
        if not isinstance(entry, dict) or "sample_rate" not in entry:
            _log().warning("ddfast: sampling rule %r has no sample_rate; skipped", entry)
            continue
        try:
            rate = entry["sample_rate"]
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
                raise ValueError("sample_rate must be a number in [0, 1], got %r" % (rate,))
            rules.append(SamplingRule(**entry))
        except (TypeError, ValueError) as e:
            _log().warning("ddfast: sampling rule %r is invalid (%s); skipped", entry, e)
    rules.sort(key=lambda rule: PROVENANCE_ORDER.index(rule.provenance))
    return rules


# -- the trace sampler -------------------------------------------------------------------------------


#: the rate limit of a sampler made without one (ddtrace's DD_TRACE_RATE_LIMIT default); the tracer's
#: default sampler gets DD_TRACE_SAMPLING_RULES and DD_TRACE_RATE_LIMIT from the tracer
DEFAULT_RATE_LIMIT = 100


class _AgentRate:
    __slots__ = ("sample_rate", "threshold")

    def __init__(self, rate):
        self.sample_rate = min(1.0, max(0.0, float(rate)))
        self.threshold = self.sample_rate * MAX_UINT_64BITS

    def __repr__(self):
        return "RateSampler(sample_rate=%r)" % self.sample_rate


class DatadogSampler:
    """ddtrace's ``DatadogSampler``: first matching rule (then the rate limiter), else the agent's rate
    for the span's service and env, else keep. ``sample(span)`` decides for the span's whole trace.
    It reads no setting: ``rules`` (default none) and ``rate_limit`` (default ``DEFAULT_RATE_LIMIT``) are
    what it is given (the tracer gives its default sampler ``DD_TRACE_SAMPLING_RULES`` and
    ``DD_TRACE_RATE_LIMIT``)."""

    __slots__ = ("rules", "limiter", "_rate_limit_always_on", "_agent_rates")

    def __init__(self, rules=None, rate_limit=None, rate_limit_window=1e9, rate_limit_always_on=False):
        if rules is None:
            rules = []
        elif not isinstance(rules, list) or not all(isinstance(r, SamplingRule) for r in rules):
            raise TypeError("DatadogSampler rules must be a list of SamplingRule")
        if rate_limit is None:
            rate_limit = DEFAULT_RATE_LIMIT
        self.rules = list(rules)
        self.limiter = RateLimiter(rate_limit, rate_limit_window)
        self._rate_limit_always_on = bool(rate_limit_always_on)
        self._agent_rates = {}

    @staticmethod
    def _key(service, env):
        """The agent's key for a service and env."""
        return _agent_key(service, env)

    def update_rate_by_service_sample_rates(self, rate_by_service):
        """Replace the agent's rates (``{"service:S,env:E": rate}``) in one step: a concurrent decision
        sees the old table or the new one, never a mix."""
        rates = {}
        for key, rate in rate_by_service.items():
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise TypeError("agent rate for %r must be a number, not %s" % (key, type(rate).__name__))
            rates[key] = _AgentRate(rate)
        self._agent_rates = rates

    @property
    def _agent_based_samplers(self):
        return dict(self._agent_rates)

    def set_sampling_rules(self, text):
        """Replace the rules with those of a ``DD_TRACE_SAMPLING_RULES`` JSON text."""
        self.rules = parse_sampling_rules(text)

    def sample(self, span):
        """Decide the trace of ``span`` (its local root): set the priority, ``_dd.p.dm`` and the rate
        tags; returns True when the trace is kept."""
        return self.decide(span)[0]

    def sample_or_discard(self, span):
        return self.decide(span)

    def decide(self, span):
        if not isinstance(span, Span):
            raise TypeError("Argument 'span' has incorrect type (expected Span, got %s)" % type(span).__name__)
        rule = None
        agent = None
        sampled = True
        limited = False
        rate = 1.0
        state = span._trace_ctx
        low = span.trace_id & _U64
        for r in self.rules:
            if r.matches(span):
                rule = r
                break
        if rule is not None:
            sampled = rule.sample(span)
            rate = rule.sample_rate
            mechanism = rule.mechanism()
        elif self._rate_limit_always_on:
            mechanism = APPSEC
        else:
            mechanism = DEFAULT
            if self._agent_rates:
                agent = self._agent_rates.get(_agent_key(span.service, span._meta.get("env")))
                if agent is not None:
                    sampled = knuth_hash(low) <= agent.threshold
                    rate = agent.sample_rate
                    mechanism = AGENT_RATE_BY_SERVICE
        if (rule is not None or self._rate_limit_always_on) and sampled:
            sampled = self.limiter.is_allowed()
            limited = not sampled
            span.put(LIMIT_PSR, self.limiter.effective())
        if not state._meta.get(DECISION_MAKER_KEY):
            state._meta[DECISION_MAKER_KEY] = _DECISION_MAKERS[mechanism]
        if rule is not None:
            span.put(RULE_PSR, rate)
            span.put(KSR_KEY, format_rate(rate))
            state._priority = 2 if sampled else -1
        else:
            if agent is not None:
                span.put(AGENT_PSR, rate)
                span.put(KSR_KEY, format_rate(rate))
            state._priority = 1 if sampled else 0
        if rate > 0 and not limited and mechanism != APPSEC:
            state._ot = ot_state(low, rate, sampled)
        else:
            state._ot = None
        return sampled, rule is not None and rule.discard and not sampled

    def __repr__(self):
        rates = {key: r.sample_rate for key, r in self._agent_rates.items()}
        return "DatadogSampler(agent_rates=%r, limiter=%r, rules=%r, rate_limit_always_on=%r)" % (
            rates,
            self.limiter,
            self.rules,
            self._rate_limit_always_on,
        )


def _agent_key(service, env):
    return "service:%s,env:%s" % (service or "", env or "")


# -- single-span sampling ------------------------------------------------------------------------------


class SpanSamplingRule:
    """Keep matching spans of a dropped trace (``DD_SPAN_SAMPLING_RULES``): Knuth by span id at
    ``sample_rate``, at most ``max_per_second`` (-1: no limit), tagged ``_dd.span_sampling.*``."""

    __slots__ = ("sample_rate", "max_per_second", "_threshold", "_limiter", "service", "name")

    def __init__(self, sample_rate=1.0, max_per_second=NO_LIMIT, service=None, name=None):
        self.sample_rate = _clamped_rate(sample_rate)
        self._threshold = self.sample_rate * MAX_UINT_64BITS
        if isinstance(max_per_second, bool) or not isinstance(max_per_second, (int, float)):
            raise TypeError("max_per_second must be a number, not %s" % type(max_per_second).__name__)
        self.max_per_second = max_per_second
        self._limiter = RateLimiter(max_per_second)
        if service is None and name is None:
            raise ValueError("a span sampling rule needs a service or a name pattern")
        for pattern in (service, name):
            if isinstance(pattern, str) and ("[" in pattern or "]" in pattern or "\\" in pattern):
                raise ValueError("unsupported glob character in %r ([, ] and \\ are not supported)" % pattern)
        self.service = _pattern(service, "service")
        self.name = _pattern(name, "name")

    def match(self, span):
        if span.service is None and span.name is None:
            return False
        if self.service is not None and (span.service is None or not self.service.match(span.service)):
            return False
        if self.name is not None and (span.name is None or not self.name.match(span.name)):
            return False
        return True

    def sample(self, span):
        """Keep the span if its id passes the rate and the limiter allows it; tags it when kept."""
        if self.sample_rate == 0:
            return False
        if self.sample_rate != 1 and not knuth_hash(span.span_id) <= self._threshold:
            return False
        if not self._limiter.is_allowed():
            return False
        span.put("_dd.span_sampling.mechanism", SPAN_SAMPLING_RULE)
        span.put("_dd.span_sampling.rule_rate", self.sample_rate)
        if self.max_per_second != NO_LIMIT:
            span.put("_dd.span_sampling.max_per_second", self.max_per_second)
        return True

    def __repr__(self):
        return "SpanSamplingRule(sample_rate=%r, max_per_second=%r, service=%r, name=%r)" % (
            self.sample_rate,
            self.max_per_second,
            self.service,
            self.name,
        )


def parse_span_sampling_rules(text):
    """``DD_SPAN_SAMPLING_RULES`` JSON as a list of SpanSamplingRule; bad entries skipped with a warning."""
    rules = []
    for entry in _json_list(text, "DD_SPAN_SAMPLING_RULES") or ():
        try:
            if not isinstance(entry, dict):
                raise TypeError("a rule must be a JSON object")
            if not entry.get("service") and not entry.get("name"):
                raise ValueError("a rule needs a service or a name")
            rules.append(
                SpanSamplingRule(
                    sample_rate=entry.get("sample_rate", 1.0),
                    max_per_second=entry.get("max_per_second", NO_LIMIT),
                    service=entry.get("service"),
                    name=entry.get("name"),
                )
            )
        except (TypeError, ValueError) as e:
            _log().warning("ddfast: span sampling rule %r is invalid (%s); skipped", entry, e)
    return rules


def sample_spans(spans, rules):
    """Single-span sampling of a dropped trace chunk: the first rule matching each span decides it."""
    for span in spans:
        for rule in rules:
            if rule.match(span):
                rule.sample(span)
                break
