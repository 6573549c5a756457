"""Trace sampling, as ddtrace's ``DatadogSampler`` / ``SamplingRule`` (compiled when available).

``DatadogSampler(rules=None, rate_limit=None)`` decides each trace once, on its local root: the first
matching ``SamplingRule`` (then the rate limiter, ``DD_TRACE_RATE_LIMIT``), else the agent's rate for
the service and env, else keep. The tracer's default sampler takes ``DD_TRACE_SAMPLING_RULES`` and
``DD_TRACE_RATE_LIMIT`` (read by the tracer, as propagation's settings are); a sampler made here takes
the rules and limit it is given (none, and 100 a second, by default).
"""

from ddfast._impl import load

TYPE_CHECKING = False  # typing's, without importing typing (type checkers take it as True)
if TYPE_CHECKING:  # type checkers read the typed pure twin; at run time the selector picks (ddfast._impl)
    from ddfast._pure import sampling as _core
else:
    _core = load("sampling")

DatadogSampler = _core.DatadogSampler
SamplingRule = _core.SamplingRule
SpanSamplingRule = _core.SpanSamplingRule
RateLimiter = _core.RateLimiter
GlobMatcher = _core.GlobMatcher
parse_sampling_rules = _core.parse_sampling_rules
parse_span_sampling_rules = _core.parse_span_sampling_rules
DEFAULT_RATE_LIMIT = _core.DEFAULT_RATE_LIMIT
sampled_by_rate = _core.sampled_by_rate

#: sampling priorities (ddtrace.constants)
USER_REJECT = -1
AUTO_REJECT = 0
AUTO_KEEP = 1
USER_KEEP = 2

__all__ = [
    "AUTO_KEEP",
    "AUTO_REJECT",
    "USER_KEEP",
    "USER_REJECT",
    "DatadogSampler",
    "GlobMatcher",
    "RateLimiter",
    "SamplingRule",
    "SpanSamplingRule",
    "parse_sampling_rules",
    "parse_span_sampling_rules",
    "sampled_by_rate",
]
