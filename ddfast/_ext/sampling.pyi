from typing import Any
from typing import Callable
from typing import Mapping
from typing import Optional

from ddfast._ext.span import Span

KNUTH_FACTOR: int
MAX_UINT_64BITS: int
DEFAULT: int
AGENT_RATE_BY_SERVICE: int
LOCAL_USER_TRACE_SAMPLING_RULE: int
MANUAL: int
APPSEC: int
SPAN_SAMPLING_RULE: int
REMOTE_USER_TRACE_SAMPLING_RULE: int
REMOTE_DYNAMIC_TRACE_SAMPLING_RULE: int
PROVENANCE_ORDER: tuple[str, ...]
NO_LIMIT: int

def sampled_by_rate(trace_id: int, rate: float) -> bool: ...
def format_rate(rate: float) -> str: ...

class GlobMatcher:
    pattern: str
    wildcards_only: bool
    def __init__(self, pattern: str) -> None: ...
    def match(self, subject: str) -> bool: ...

class RateLimiter:
    rate_limit: float
    time_window: float
    tokens: float
    max_tokens: float
    tokens_allowed: int
    tokens_total: int
    def __init__(
        self, rate_limit: float, time_window: float = 1e9, clock: Optional[Callable[[], int]] = None
    ) -> None: ...
    def is_allowed(self) -> bool: ...
    @property
    def prev_window_rate(self) -> Optional[float]: ...
    @property
    def effective_rate(self) -> float: ...

class SamplingRule:
    sample_rate: float
    service: Optional[GlobMatcher]
    name: Optional[GlobMatcher]
    resource: Optional[GlobMatcher]
    tags: dict[str, GlobMatcher]
    provenance: str
    discard: bool
    def __init__(
        self,
        sample_rate: float,
        service: Optional[str] = None,
        name: Optional[str] = None,
        resource: Optional[str] = None,
        tags: Optional[dict[str, Any]] = None,
        provenance: str = "default",
        discard: bool = False,
    ) -> None: ...
    def matches(self, span: Span) -> bool: ...
    def sample(self, span: Span) -> bool: ...

def parse_sampling_rules(text: str) -> list[SamplingRule]: ...

DEFAULT_RATE_LIMIT: int

class DatadogSampler:
    rules: list[SamplingRule]
    limiter: RateLimiter
    _rate_limit_always_on: bool
    def __init__(
        self,
        rules: Optional[list[SamplingRule]] = None,
        rate_limit: Optional[int] = None,
        rate_limit_window: float = 1e9,
        rate_limit_always_on: bool = False,
    ) -> None: ...
    @staticmethod
    def _key(service: Optional[str], env: Optional[str]) -> str: ...
    def update_rate_by_service_sample_rates(self, rate_by_service: Mapping[str, float]) -> None: ...
    def set_sampling_rules(self, text: str) -> None: ...
    def sample(self, span: Span) -> bool: ...
    def sample_or_discard(self, span: Span) -> tuple[bool, bool]: ...

class SpanSamplingRule:
    sample_rate: float
    max_per_second: float
    service: Optional[GlobMatcher]
    name: Optional[GlobMatcher]
    def __init__(
        self,
        sample_rate: float = 1.0,
        max_per_second: float = -1,
        service: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None: ...
    def match(self, span: Span) -> bool: ...
    def sample(self, span: Span) -> bool: ...

def parse_span_sampling_rules(text: str) -> list[SpanSamplingRule]: ...
def sample_spans(spans: list[Span], rules: list[SpanSamplingRule]) -> None: ...
