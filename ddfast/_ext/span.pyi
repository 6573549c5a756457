from types import TracebackType
from typing import Any
from typing import Callable
from typing import Collection
from typing import Optional
from typing import Union

from ddfast._ext.context import Context
from ddfast.span_link import SpanLink

def set_trace_id_128(enabled: bool) -> None: ...
def format_traceback(
    exc_type: type, exc_val: BaseException, exc_tb: Optional[TracebackType], limit: Optional[int] = None
) -> str: ...

DERIVED_KEYS: tuple[str, str, str, str, str]

class Span:
    name: str
    service: Optional[str]
    span_type: Optional[str]
    trace_id: int
    span_id: int
    parent_id: Optional[int]
    start_ns: int
    duration_ns: Optional[int]
    error: int
    _meta: dict[str, str]
    _metrics: Optional[dict[str, float]]
    _on_finish: Optional[list[Callable[[Span], None]]]
    _trace_ctx: Context
    _parent: Optional[Span]
    def __init__(
        self,
        name: str,
        service: Optional[str] = None,
        resource: Optional[str] = None,
        span_type: Optional[str] = None,
        trace_id: Optional[int] = None,
        span_id: Optional[int] = None,
        parent_id: Optional[int] = None,
        start: Optional[float] = None,
        context: Optional[Context] = None,
        on_finish: Optional[list[Callable[[Span], None]]] = None,
        span_api: str = "datadog",
        links: Optional[list[SpanLink]] = None,
    ) -> None: ...
    resource: str
    @property
    def context(self) -> Context: ...
    @property
    def _local_root(self) -> Span: ...
    start: float
    duration: Optional[float]
    @property
    def finished(self) -> bool: ...
    @property
    def _trace_id_64bits(self) -> int: ...
    @property
    def _is_top_level(self) -> bool: ...
    @property
    def _span_links(self) -> list[SpanLink]: ...
    def set_tag(self, key: str, value: Any = None) -> None: ...
    def set_tags(self, tags: dict[str, Any]) -> None: ...
    def get_tag(self, key: str) -> Optional[str]: ...
    def get_tags(self) -> dict[str, str]: ...
    def remove_tag(self, key: str) -> None: ...
    def set_metric(self, key: str, value: Any) -> None: ...
    def set_metrics(self, metrics: dict[str, Any]) -> None: ...
    def get_metric(self, key: str) -> Optional[float]: ...
    def get_metrics(self) -> dict[str, float]: ...
    def remove_metric(self, key: str) -> None: ...
    def _set_attribute(self, key: str, value: Any) -> None: ...
    def set_exc_info(self, exc_type: Any, exc_val: Any, exc_tb: Any, limit: Optional[int] = None) -> None: ...
    def set_traceback(self, limit: Optional[int] = None) -> None: ...
    def _override_sampling_decision(self, decision: Optional[int]) -> None: ...
    def _set_sampling_decision_maker(self, mechanism: int) -> str: ...
    def set_link(
        self,
        trace_id: int,
        span_id: int,
        tracestate: Optional[str] = None,
        flags: Optional[int] = None,
        attributes: Optional[dict[str, Any]] = None,
    ) -> None: ...
    def link_span(self, context: Context, attributes: Optional[dict[str, Any]] = None) -> None: ...
    def finish(self, finish_time: Optional[float] = None) -> None: ...
    def _finish_ns(self, finish_time_ns: int) -> None: ...
    def __enter__(self) -> Span: ...
    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None: ...

def start_span(
    name: str,
    service: Optional[str],
    resource: Optional[str],
    span_type: Optional[str],
    parent: Optional[Span],
    remote: Optional[Context],
    sink: Optional[Callable[[list[Span]], None]],
    adopt: bool = False,
) -> Span: ...

class TracerState:
    """A tracer's settings, sampler and writer; called with a finished trace's spans, it finishes it."""

    service: Optional[str]
    env: Optional[str]
    version: Optional[str]
    tags: dict[str, Any]
    proc: tuple[str, int]
    runtime_id: str
    pid: int
    sampler: Any
    writer: Any
    span_rules: list[Any]
    sample_spans: Callable[..., Any]
    enabled: bool
    shut_down: bool
    dropped: int
    var: Any
    tracer: Any
    def __init__(
        self, sampler: Any, writer: Any, sample_spans: Callable[..., Any], runtime_id: str, pid: int
    ) -> None: ...
    def __call__(self, spans: list[Span]) -> None: ...
    def before_inject(self, obj: Any, context: Context) -> bool: ...
    def trace(
        self,
        name: str,
        service: Optional[str] = None,
        resource: Optional[str] = None,
        span_type: Optional[str] = None,
    ) -> Span: ...

def tracer_start(
    st: TracerState,
    name: str,
    child_of: Union[Span, Context, None],
    service: Optional[str],
    resource: Optional[str],
    span_type: Optional[str],
    adopt: bool = False,
) -> Span: ...
def tracer_trace(
    st: TracerState,
    var: Any,
    name: str,
    service: Optional[str] = None,
    resource: Optional[str] = None,
    span_type: Optional[str] = None,
) -> Span: ...
def active_span_of(var: Any) -> Optional[Span]: ...
def url_without_query(url: str) -> str: ...
def split_url(url: str) -> tuple[Optional[str], str, str]: ...
def http_server_start(
    st: TracerState,
    var: Any,
    parent: Optional[Context],
    name: str,
    service: Optional[str],
    component: str,
    method: str,
    url: str,
    path: Optional[str],
    useragent: Optional[str],
) -> Span: ...
def http_client_start(
    st: TracerState,
    var: Any,
    name: str,
    component: str,
    method: str,
    url: str,
    service: Optional[str],
    resource: Optional[str] = None,
    useragent: Optional[str] = None,
) -> Span: ...
def http_status(span: Span, status: Union[int, str], error_statuses: Collection[int]) -> bool: ...

ROUTE_KEY: str
RESOURCE_KEY: str
STATUS_KEY: str
TRACED_KEY: str

class HttpNames:
    name: str
    component: str
    service: Optional[str]
    default_service: Optional[str]
    resource: Optional[str]
    useragent: bool
    distributed: bool
    def __init__(
        self,
        name: str,
        component: str,
        service: Optional[str] = None,
        default_service: Optional[str] = None,
        useragent: bool = True,
        resource: Optional[str] = None,
        distributed: bool = True,
    ) -> None: ...

class HttpTracer:
    state: TracerState
    var: Any
    extract: Callable[[Any], Context]
    inject: Callable[[Any, Any], None]
    inject_pairs: Callable[..., list[tuple[str, Any]]]
    in_client_call: Any
    server_errors: Any
    client_errors: Any
    on_server_request: Optional[Callable[..., Any]]
    on_client_request: Optional[Callable[..., Any]]
    on_response: Optional[Callable[..., Any]]
    server_query: Optional[Callable[..., Any]]
    client_query: Optional[Callable[..., Any]]
    enabled: bool
    def __init__(
        self, state: TracerState, var: Any, extract: Any, inject: Any, inject_pairs: Any, in_client_call: Any
    ) -> None: ...
    def start_span(
        self, name: str, child_of: Any, service: Any, resource: Any, span_type: Any, activate: bool = True
    ) -> Span: ...
    def server_start(
        self,
        names: HttpNames,
        carrier: Any,
        method: Any,
        url: str,
        path: Any,
        useragent: Any = None,
        peer_ip: Any = None,
        query: Any = None,
    ) -> Span: ...
    def wsgi_start(self, names: HttpNames, environ: dict[str, Any]) -> Optional[Span]: ...
    def asgi_start(self, names: HttpNames, scope: dict[str, Any]) -> Optional[Span]: ...
    def in_client_exchange(self) -> bool: ...
    def client_start(
        self,
        names: HttpNames,
        method: Any,
        url: Any,
        headers: Any = None,
        useragent: Any = None,
        request_headers: Any = None,
    ) -> Optional[Span]: ...
    def requests_send(self, names: HttpNames, send: Callable[..., Any], headers_type: type) -> RequestsSend: ...
    def status(self, span: Span, status: Any, headers: Any = None, client: bool = False) -> int: ...
    def route(self, span: Span, method: Any, route: Any, resource: Any = None) -> int: ...
    def annotate(self, span: Span, carrier: Any) -> int: ...
    def finish(
        self,
        span: Span,
        exc: Optional[BaseException] = None,
        status: Any = None,
        headers: Any = None,
        client: bool = False,
    ) -> int: ...

class MessageSpans:
    http: HttpTracer
    name: str
    service: Optional[str]
    span_type: Optional[str]
    distributed: bool
    as_bytes: bool
    keys: tuple[str, ...]
    tags: dict[str, Any]
    def __init__(
        self,
        http: HttpTracer,
        name: str,
        service: Optional[str] = None,
        span_type: Optional[str] = None,
        tags: Optional[dict[str, Any]] = None,
        keys: Any = (),
        distributed: bool = True,
        as_bytes: bool = True,
        on_error: Optional[Callable[[str, Any], Any]] = None,
    ) -> None: ...
    def start(
        self,
        values: Optional[tuple[Any, ...]] = None,
        child_of: Any = None,
        activate: bool = True,
        resource: Any = None,
        service: Optional[str] = None,
    ) -> Span: ...
    def extract(self, carrier: Any) -> Optional[Context]: ...
    def consume(
        self,
        carrier: Any,
        values: Optional[tuple[Any, ...]] = None,
        activate: bool = False,
        start_ns: Optional[int] = None,
        resource: Any = None,
        service: Optional[str] = None,
    ) -> Span: ...
    def context_pairs(self, span: Span) -> list[tuple[str, Any]]: ...
    def finish(self, span: Span, exc: Optional[BaseException] = None) -> int: ...

class RequestsSend:
    http: HttpTracer
    names: HttpNames
    send: Callable[..., Any]
    headers_type: type
    def __init__(self, http: HttpTracer, names: HttpNames, send: Callable[..., Any], headers_type: type) -> None: ...
    def __get__(self, instance: Any, owner: Optional[type] = None) -> Any: ...
    def __call__(self, session: Any, request: Any, **kwargs: Any) -> Any: ...

class RequestsSendCall:
    traced: RequestsSend
    session: Any
    def __init__(self, traced: RequestsSend, session: Any) -> None: ...
    def __call__(self, request: Any, **kwargs: Any) -> Any: ...

class AsgiSend:
    http: HttpTracer
    span: Span
    send: Callable[[Any], Any]
    scope: Any
    def __init__(self, http: HttpTracer, span: Span, send: Callable[[Any], Any], scope: Any = None) -> None: ...
    def __call__(self, message: Any) -> Any: ...
    def done(self) -> int: ...
    def failed(self, exc: BaseException) -> int: ...

class AsgiTracing:
    http: HttpTracer
    names: HttpNames
    def __init__(self, http: HttpTracer, names: HttpNames) -> None: ...
    def start(self, scope: Any, send: Callable[[Any], Any]) -> Optional[AsgiSend]: ...

class UrlText:
    attr: str
    parts_type: type
    def __init__(self, attr: str, parts_type: type) -> None: ...
    def of(self, url: Any) -> str: ...

def listed_header(items: list[Any], name: bytes) -> Optional[str]: ...

EXC_INFO_KEY: str

class TracedWsgiApp:
    http: HttpTracer
    names: HttpNames
    app: Callable[..., Any]
    annotate: Optional[Callable[[Span, dict[str, Any], Any], Any]]
    def __init__(
        self,
        http: HttpTracer,
        names: HttpNames,
        app: Callable[..., Any],
        annotate: Optional[Callable[[Span, dict[str, Any], Any], Any]] = None,
    ) -> None: ...
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any: ...

class WsgiStartResponse:
    def __call__(self, status: str, headers: Any, exc_info: Any = None) -> Any: ...

class WsgiResponse:
    def __iter__(self) -> WsgiResponse: ...
    def __next__(self) -> Any: ...
    def close(self) -> None: ...
