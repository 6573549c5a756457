from typing import Any
from typing import Callable
from typing import Optional

from ddfast.span_link import SpanLink

def set_w3c_writers(traceparent_of: Callable[[Context], str], tracestate_of: Callable[[Context], str]) -> None: ...

class Context:
    trace_id: Optional[int]
    span_id: Optional[int]
    sampling_priority: Optional[float]
    _meta: dict[str, Any]
    _metrics: dict[str, Any]
    _baggage: dict[str, Any]
    _span_links: list[SpanLink]
    _is_remote: bool
    _priority: Optional[float]
    _origin: Optional[str]
    _shared: Optional[Context]
    _ot: Optional[str]
    _sink: Optional[Any]
    def __init__(
        self,
        trace_id: Optional[int] = None,
        span_id: Optional[int] = None,
        dd_origin: Optional[str] = None,
        sampling_priority: Optional[float] = None,
        meta: Optional[dict[str, Any]] = None,
        metrics: Optional[dict[str, Any]] = None,
        span_links: Optional[list[SpanLink]] = None,
        baggage: Optional[dict[str, Any]] = None,
        is_remote: bool = True,
    ) -> None: ...
    @property
    def dd_origin(self) -> Optional[str]: ...
    @dd_origin.setter
    def dd_origin(self, value: Optional[str]) -> None: ...
    @property
    def meta(self) -> dict[str, Any]: ...
    @property
    def metrics(self) -> dict[str, Any]: ...
    @property
    def baggage(self) -> dict[str, Any]: ...
    @property
    def span_links(self) -> list[SpanLink]: ...
    @property
    def is_remote(self) -> bool: ...
    @property
    def _trace_id_64bits(self) -> Optional[int]: ...
    @property
    def _traceparent(self) -> str: ...
    @property
    def _tracestate(self) -> str: ...
    def set_baggage_item(self, key: str, value: Any) -> None: ...
    def get_baggage_item(self, key: str) -> Optional[Any]: ...
    def get_all_baggage_items(self) -> dict[str, Any]: ...
    def remove_baggage_item(self, key: str) -> None: ...
    def remove_all_baggage_items(self) -> None: ...
    def __eq__(self, other: object) -> bool: ...
