# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""The sampling hot path, compiled. Twin of ``ddfast/_pure/sampling.py``.

One keep/drop decision per trace, made on the local root span and carried downstream as the sampling
priority. The order, the tags and the arithmetic follow ddtrace 4.16 (``DatadogSampler``,
``SamplingRule``, ``RateLimiter``, single-span rules), and the Knuth hash over the low 64 bits of the
trace id is the one every Datadog tracer uses, so services in any language decide alike.
"""

from libc.math cimport floor
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from ftlock cimport cs_begin, cs_end, cs_t
from idcodec cimport ascii_str, low64, write_hex16

from ddfast._ext.context cimport Context
from ddfast._ext.span cimport Span, register_sampler

cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    cdef struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(clockid_t clk_id, timespec *tp)
    clockid_t CLOCK_MONOTONIC

cdef object _logger = None


cdef object _log():
    """The module's logger: ``logging`` is imported at the first warning, not by ``import ddfast``."""
    global _logger
    if _logger is None:
        import logging
        _logger = logging.getLogger("ddfast.sampling")
    return _logger

KNUTH_FACTOR = 1111111111111111111
MAX_UINT_64BITS = (1 << 64) - 1
cdef uint64_t _KNUTH = 1111111111111111111ULL
cdef double _MAX_U64 = 18446744073709551615.0

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

cdef str DECISION_MAKER_KEY = "_dd.p.dm"
cdef str KSR_KEY = "_dd.p.ksr"
cdef str RULE_PSR = "_dd.rule_psr"
cdef str AGENT_PSR = "_dd.agent_psr"
cdef str LIMIT_PSR = "_dd.limit_psr"
cdef tuple _DECISION_MAKERS = tuple("-%d" % m for m in range(13))


cdef inline int64_t monotonic_ns() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline uint64_t knuth_hash(uint64_t trace_id_low) noexcept:
    return trace_id_low * _KNUTH  # modulo 2**64 by unsigned overflow


cdef inline bint below(uint64_t hashed, double threshold) noexcept:
    """``hashed <= threshold`` compared exactly, as Python compares an int with a float."""
    if threshold >= 18446744073709551616.0:
        return True
    if threshold < 0:
        return False
    return hashed <= <uint64_t>floor(threshold)


def sampled_by_rate(trace_id, double rate):
    """The Knuth decision for ``rate``: keep when ``(low64(trace_id) * 1111111111111111111) mod 2**64
    <= rate * (2**64 - 1)``."""
    return below(knuth_hash(low64(trace_id)), rate * _MAX_U64)


def format_rate(double rate):
    """A rate as ``_dd.p.ksr`` carries it: at most 6 decimals, half rounded up, trailing zeros cut."""
    cdef double rounded = floor(rate * 1e6 + 0.5) / 1e6
    return ("%.6f" % rounded).rstrip("0").rstrip(".")


cdef str ot_state(uint64_t trace_id_low, double rate, bint sampled):
    """The OpenTelemetry ``ot=`` value ddtrace sends with a probabilistic decision (OTEP 235): ``th`` the
    56-bit rejection threshold of ``rate`` (rounded half away from zero, trailing zeros cut) and ``rv``
    the 56-bit randomness the Knuth hash gives, moved to the threshold's side of the decision made, so
    that an OTel ``rv >= th`` check agrees with it."""
    cdef uint64_t rv = (~knuth_hash(trace_id_low)) >> 8
    cdef uint64_t th = 0
    cdef double scaled
    if rate != 1.0:
        scaled = floor((1.0 - rate) * 72057594037927936.0 + 0.5)
        th = 0xFFFFFFFFFFFFFFULL if scaled >= 72057594037927935.0 else <uint64_t>scaled
    if sampled and rv < th:
        rv = th
    elif not sampled and rv >= th:
        rv = th - 1 if th > 0 else 0
    cdef char buf[35]  # "rv:" + 14 hex digits + ";th:" + 14 hex digits (56 bits each)
    cdef char digits[16]
    cdef int n = 35
    memcpy(buf, b"rv:", 3)
    write_hex16(digits, rv)
    memcpy(buf + 3, digits + 2, 14)
    memcpy(buf + 17, b";th:", 4)
    write_hex16(digits, th)
    memcpy(buf + 21, digits + 2, 14)
    while n > 22 and buf[n - 1] == b"0":  # trailing zeros of th cut, "0" kept
        n -= 1
    return ascii_str(buf, n)


# -- glob patterns ---------------------------------------------------------------------------------------


cdef class GlobMatcher:
    """ddtrace's glob: ``*`` any run (also empty), ``?`` one character, no escapes, case-insensitive."""

    cdef readonly str pattern
    cdef readonly bint wildcards_only
    cdef dict _cache

    def __init__(self, pattern):
        if not isinstance(pattern, str):
            raise TypeError("glob pattern must be a str, not %s" % type(pattern).__name__)
        self.pattern = pattern.lower()
        self.wildcards_only = not (set(self.pattern) - {"?", "*"})
        self._cache = {}

    cpdef bint match(self, str subject):
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        cdef bint result = _glob(self.pattern, subject.lower())
        if len(self._cache) < 256:
            self._cache[subject] = result
        return result

    def __eq__(self, other):
        if isinstance(other, GlobMatcher):
            return self.pattern == (<GlobMatcher>other).pattern
        return NotImplemented

    def __hash__(self):
        return hash(self.pattern)

    def __repr__(self):
        return "GlobMatcher(pattern=%s)" % self.pattern


cdef bint _glob(str pattern, str subject):
    cdef Py_ssize_t px = 0, sx = 0, next_px = 0, next_sx = 0
    cdef Py_ssize_t plen = len(pattern), slen = len(subject)
    cdef Py_UCS4 c
    while px < plen or sx < slen:
        if px < plen:
            c = pattern[px]
            if c == u"?":
                if sx < slen:
                    px += 1
                    sx += 1
                    continue
            elif c == u"*":
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


cdef class RateLimiter:
    """ddtrace's token bucket: ``rate_limit`` per ``time_window`` ns (0 blocks all, negative allows
    all), with the effective rate averaged over this window and the previous one. ``clock`` (monotonic
    ns) is for tests. Each call is atomic under the GIL (no Python code runs inside the update)."""

    cdef readonly object rate_limit
    cdef readonly double time_window
    cdef readonly double tokens
    cdef readonly double max_tokens
    cdef readonly int64_t last_update_ns
    cdef readonly int64_t current_window_ns
    cdef readonly long long tokens_allowed
    cdef readonly long long tokens_total
    cdef double _prev_rate
    cdef bint _has_prev
    cdef double _limit
    cdef object _clock

    def __init__(self, rate_limit, time_window=1e9, clock=None):
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
            raise TypeError("rate_limit must be a number, not %s" % type(rate_limit).__name__)
        if not time_window > 0:
            raise ValueError("time_window must be > 0 ns, got %r" % (time_window,))
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning monotonic nanoseconds")
        self.rate_limit = rate_limit
        self._limit = rate_limit
        self.time_window = time_window
        self.tokens = rate_limit
        self.max_tokens = rate_limit
        self._clock = clock
        self.last_update_ns = self._now()
        self.current_window_ns = 0
        self.tokens_allowed = 0
        self.tokens_total = 0
        self._has_prev = False

    cdef inline int64_t _now(self) except? -1:
        return monotonic_ns() if self._clock is None else self._clock()

    cpdef bint is_allowed(self) except -1:
        """Take a token if one is left (``True``), and count the call for the effective rate."""
        cdef int64_t now = self._now()
        cdef bint allowed
        cdef double elapsed
        cdef cs_t cs
        # one limiter is shared by the threads deciding traces: where there is no GIL, its update is one
        # step under the limiter's own lock (under the GIL, the section compiles to nothing)
        cs_begin(&cs, self)
        if self._limit == 0:
            allowed = False
        elif self._limit < 0:
            allowed = True
        else:
            if self.tokens != self.max_tokens:
                elapsed = (now - self.last_update_ns) / self.time_window
                self.tokens = min(self.max_tokens, self.tokens + elapsed * self._limit)
            self.last_update_ns = now
            allowed = self.tokens >= 1
            if allowed:
                self.tokens -= 1
        if not self.current_window_ns:
            self.current_window_ns = now
        elif now - self.current_window_ns >= self.time_window:
            self._prev_rate = self._window_rate()
            self._has_prev = True
            self.tokens_allowed = 0
            self.tokens_total = 0
            self.current_window_ns = now
        if allowed:
            self.tokens_allowed += 1
        self.tokens_total += 1
        cs_end(&cs)
        return allowed

    cdef inline double _window_rate(self) noexcept:
        return 1.0 if not self.tokens_total else <double>self.tokens_allowed / self.tokens_total

    @property
    def prev_window_rate(self):
        return self._prev_rate if self._has_prev else None

    @property
    def effective_rate(self):
        """The share of calls allowed, over this window and the previous one."""
        return self.effective()

    cdef double effective(self):
        if not self._has_prev:
            return self._window_rate()
        return (self._window_rate() + self._prev_rate) / 2.0

    def __repr__(self):
        return "RateLimiter(rate_limit=%r, tokens=%r, last_update_ns=%r, effective_rate=%r)" % (
            self.rate_limit, self.tokens, self.last_update_ns, self.effective())


# -- trace sampling rules ----------------------------------------------------------------------------


cdef inline object _pattern(object value, str what):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("SamplingRule %s must be a str glob or None, not %s" % (what, type(value).__name__))
    return GlobMatcher(value)


cdef double _clamped_rate(object sample_rate) except? -1:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, str)):
        raise TypeError("sample_rate must be a number, not %s" % type(sample_rate).__name__)
    cdef double rate = float(sample_rate)
    if rate != rate:
        raise ValueError("sample_rate must be a number in [0, 1], got NaN")
    return min(1.0, max(0.0, rate))


cdef class SamplingRule:
    """Keep ``sample_rate`` of the traces whose local root matches every given pattern (ddtrace's
    ``SamplingRule``): ``service``, ``name``, ``resource`` globs and ``tags`` ``{key: glob}``."""

    cdef readonly double sample_rate
    cdef double _threshold
    cdef readonly GlobMatcher service
    cdef readonly GlobMatcher name
    cdef readonly GlobMatcher resource
    cdef readonly dict tags
    cdef readonly str provenance
    cdef readonly bint discard
    cdef int _mechanism  # the sampling mechanism of its provenance, found once

    def __init__(self, sample_rate, service=None, name=None, resource=None, tags=None,
                 provenance="default", discard=False):
        self.sample_rate = _clamped_rate(sample_rate)
        self._threshold = self.sample_rate * _MAX_U64
        if tags is not None and not isinstance(tags, dict):
            raise TypeError("SamplingRule tags must be a dict or None, not %s" % type(tags).__name__)
        self.tags = {k: GlobMatcher(str(v)) for k, v in tags.items()} if tags else {}
        self.service = _pattern(service, "service")
        self.name = _pattern(name, "name")
        self.resource = _pattern(resource, "resource") if resource else None
        if provenance not in PROVENANCE_ORDER:
            raise ValueError("SamplingRule provenance must be one of %s, got %r" % (PROVENANCE_ORDER, provenance))
        self.provenance = provenance
        self._mechanism = (REMOTE_USER_TRACE_SAMPLING_RULE if provenance == "customer" else
                           REMOTE_DYNAMIC_TRACE_SAMPLING_RULE if provenance == "dynamic" else
                           LOCAL_USER_TRACE_SAMPLING_RULE)
        if not isinstance(discard, bool):
            raise ValueError("discard must be a boolean, got %r" % (discard,))
        self.discard = discard

    cpdef bint matches(self, Span span) except -1:
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

    cdef bint _tags_match(self, Span span) except -1:
        cdef GlobMatcher pattern
        for key, p in self.tags.items():
            pattern = <GlobMatcher>p
            value = span.tag_value(key)  # stored or derived, as ddtrace's spans carry them
            if value is None:
                number = span.metric_value(key)
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

    cpdef bint sample(self, Span span) except -1:
        """The Knuth decision at this rule's rate for the span's trace."""
        if self.sample_rate == 1:
            return True
        if self.sample_rate == 0:
            return False
        return below(knuth_hash(low64(span.trace_id)), self._threshold)

    cdef inline int mechanism(self) noexcept:
        return self._mechanism

    def __eq__(self, other):
        if not isinstance(other, SamplingRule):
            return NotImplemented
        cdef SamplingRule o = <SamplingRule>other
        return (self.sample_rate == o.sample_rate and self.service == o.service and self.name == o.name
                and self.resource == o.resource and self.tags == o.tags and self.provenance == o.provenance
                and self.discard == o.discard)

    __hash__ = None

    def __repr__(self):
        return ("SamplingRule(sample_rate=%r, service=%r, name=%r, resource=%r, tags=%r, provenance=%r, "
                "discard=%r)" % (self.sample_rate, self.service, self.name, self.resource, self.tags,
                                 self.provenance, self.discard))


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


cdef class _AgentRate:
    cdef readonly double sample_rate
    cdef double threshold

    def __init__(self, double rate):
        self.sample_rate = min(1.0, max(0.0, rate))
        self.threshold = self.sample_rate * _MAX_U64

    def __repr__(self):
        return "RateSampler(sample_rate=%r)" % self.sample_rate


cdef class DatadogSampler:
    """ddtrace's ``DatadogSampler``: first matching rule (then the rate limiter), else the agent's rate
    for the span's service and env, else keep. ``sample(span)`` decides for the span's whole trace.
    It reads no setting: ``rules`` (default none) and ``rate_limit`` (default ``DEFAULT_RATE_LIMIT``) are
    what it is given (the tracer gives its default sampler ``DD_TRACE_SAMPLING_RULES`` and
    ``DD_TRACE_RATE_LIMIT``)."""

    cdef public list rules
    cdef public RateLimiter limiter
    cdef public bint _rate_limit_always_on
    cdef dict _agent_rates

    def __init__(self, rules=None, rate_limit=None, rate_limit_window=1e9, rate_limit_always_on=False):
        if rules is None:
            rules = []
        elif not isinstance(rules, list) or not all(isinstance(r, SamplingRule) for r in rules):
            raise TypeError("DatadogSampler rules must be a list of SamplingRule")
        if rate_limit is None:
            rate_limit = DEFAULT_RATE_LIMIT
        self.rules = list(rules)
        self.limiter = RateLimiter(rate_limit, rate_limit_window)
        self._rate_limit_always_on = rate_limit_always_on
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
        cdef cs_t cs
        cs_begin(&cs, self)  # no decision reads the old table while it is released
        old, self._agent_rates = self._agent_rates, rates
        cs_end(&cs)
        del old  # released after the section: a dict's release may run Python code (its values')

    @property
    def _agent_based_samplers(self):
        return dict(self._rates())

    cdef inline dict _rates(self):
        """The agent's rates, a reference of the caller's own (the writer's thread replaces them)."""
        cdef dict rates
        cdef cs_t cs
        cs_begin(&cs, self)
        rates = self._agent_rates
        cs_end(&cs)
        return rates

    def set_sampling_rules(self, text):
        """Replace the rules with those of a ``DD_TRACE_SAMPLING_RULES`` JSON text."""
        self.rules = parse_sampling_rules(text)

    def sample(self, Span span):
        """Decide the trace of ``span`` (its local root): set the priority, ``_dd.p.dm`` and the rate
        tags; returns True when the trace is kept."""
        return self.decide(span, NULL)

    def sample_or_discard(self, Span span):
        cdef bint discard = False
        sampled = self.decide(span, &discard)
        return sampled, discard

    cdef bint decide(self, Span span, bint *discard) except -1:
        cdef SamplingRule rule = None, r
        cdef _AgentRate agent = None
        cdef bint sampled = True, limited = False
        cdef double rate = 1.0
        cdef int mechanism
        cdef Context state = span._trace_ctx
        cdef uint64_t low = low64(span.trace_id)
        cdef dict agent_rates
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
            agent_rates = self._rates()
            if agent_rates:
                found = agent_rates.get(_agent_key(span.service, span._meta.get("env")))
                if found is not None:
                    agent = <_AgentRate>found
                    sampled = below(knuth_hash(low), agent.threshold)
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
        if discard != NULL:
            discard[0] = rule is not None and rule.discard and not sampled
        return sampled

    def __repr__(self):
        rates = {key: (<_AgentRate>r).sample_rate for key, r in self._rates().items()}
        return "DatadogSampler(agent_rates=%r, limiter=%r, rules=%r, rate_limit_always_on=%r)" % (
            rates, self.limiter, self.rules, self._rate_limit_always_on)


cdef int _decide_root(object sampler, Span root, bint *discard) except -1:
    (<DatadogSampler>sampler).decide(root, discard)
    return 0


# the tracer's finish path calls the decision directly (see span.register_sampler)
register_sampler(DatadogSampler, _decide_root)


cdef inline str _agent_key(object service, object env):
    return "service:%s,env:%s" % (service or "", env or "")


# -- single-span sampling ------------------------------------------------------------------------------


cdef class SpanSamplingRule:
    """Keep matching spans of a dropped trace (``DD_SPAN_SAMPLING_RULES``): Knuth by span id at
    ``sample_rate``, at most ``max_per_second`` (-1: no limit), tagged ``_dd.span_sampling.*``."""

    cdef readonly double sample_rate
    cdef readonly object max_per_second
    cdef double _threshold
    cdef RateLimiter _limiter
    cdef readonly GlobMatcher service
    cdef readonly GlobMatcher name

    def __init__(self, sample_rate=1.0, max_per_second=NO_LIMIT, service=None, name=None):
        self.sample_rate = _clamped_rate(sample_rate)
        self._threshold = self.sample_rate * _MAX_U64
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

    cpdef bint match(self, Span span) except -1:
        if span.service is None and span.name is None:
            return False
        if self.service is not None and (span.service is None or not self.service.match(span.service)):
            return False
        if self.name is not None and (span.name is None or not self.name.match(span.name)):
            return False
        return True

    cpdef bint sample(self, Span span) except -1:
        """Keep the span if its id passes the rate and the limiter allows it; tags it when kept."""
        if self.sample_rate == 0:
            return False
        if self.sample_rate != 1 and not below(knuth_hash(low64(span.span_id)), self._threshold):
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
            self.sample_rate, self.max_per_second, self.service, self.name)


def parse_span_sampling_rules(text):
    """``DD_SPAN_SAMPLING_RULES`` JSON as a list of SpanSamplingRule; bad entries skipped with a warning."""
    rules = []
    for entry in _json_list(text, "DD_SPAN_SAMPLING_RULES") or ():
        try:
            if not isinstance(entry, dict):
                raise TypeError("a rule must be a JSON object")
            if not entry.get("service") and not entry.get("name"):
                raise ValueError("a rule needs a service or a name")
            rules.append(SpanSamplingRule(
                sample_rate=entry.get("sample_rate", 1.0),
                max_per_second=entry.get("max_per_second", NO_LIMIT),
                service=entry.get("service"),
                name=entry.get("name"),
            ))
        except (TypeError, ValueError) as e:
            _log().warning("ddfast: span sampling rule %r is invalid (%s); skipped", entry, e)
    return rules


def sample_spans(list spans, list rules):
    """Single-span sampling of a dropped trace chunk: the first rule matching each span decides it."""
    cdef SpanSamplingRule rule
    cdef Span span
    for s in spans:
        span = <Span>s
        for r in rules:
            rule = <SpanSamplingRule>r
            if rule.match(span):
                rule.sample(span)
                break
