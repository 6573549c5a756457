from typing import Any
from typing import Callable
from typing import Iterable
from typing import Mapping
from typing import MutableMapping
from typing import Optional
from typing import Sequence
from typing import Union

from ddfast._ext.context import Context as Context

Carrier = Union[Mapping[Any, Any], Iterable[tuple[Any, Any]], None]

TRACE_ID: str
PARENT_ID: str
SAMPLING_PRIORITY: str
ORIGIN: str
TAGS: str
TRACEPARENT: str
TRACESTATE: str
B3_TRACE_ID: str
B3_SPAN_ID: str
B3_SAMPLED: str
B3_FLAGS: str
B3_SINGLE: str
BAGGAGE: str
HEADERS: tuple[str, ...]
WSGI_VERSION: str
ENVIRON_KEYS: tuple[str, ...]
STYLES: tuple[str, ...]
BEHAVIORS: tuple[str, ...]
ERRORS: dict[str, int]

class Settings:
    extract_styles: tuple[str, ...]
    inject_styles: tuple[str, ...]
    extract_first: bool
    behavior_extract: str
    tags_max_length: int
    trace_id_128: bool
    baggage_max_items: int
    baggage_max_bytes: int
    baggage_tag_keys: tuple[str, ...]
    http_baggage: bool
    def __init__(
        self,
        extract_styles: Sequence[str] = ...,
        inject_styles: Sequence[str] = ...,
        extract_first: bool = False,
        behavior_extract: str = "continue",
        tags_max_length: int = 512,
        trace_id_128: bool = True,
        baggage_max_items: int = 64,
        baggage_max_bytes: int = 8192,
        baggage_tag_keys: Sequence[str] = ...,
        http_baggage: bool = False,
    ) -> None: ...

def record(reason: str, detail: Any = None) -> None: ...
def normalize(carrier: Carrier, ot_baggage: bool = False) -> dict[str, str]: ...
def json_headers(text: Any) -> Optional[list[tuple[str, str]]]: ...
def parse_u64(text: str) -> Optional[int]: ...
def parse_priority(text: str) -> Optional[int]: ...
def parse_hex_id(text: str, max_digits: int) -> Optional[int]: ...
def is_lower_hex(text: str, length: int) -> bool: ...
def is_hex(text: str, length: int) -> bool: ...
def decode_tagset(text: str, max_size: int = 512) -> Union[dict[str, str], str]: ...
def encode_tagset(tags: dict[str, str], max_size: int) -> str: ...
def parse_traceparent(text: str) -> Optional[tuple[int, int, int]]: ...
def dd_member_of(ctx: Context) -> str: ...
def traceparent_of(ctx: Context) -> str: ...
def tracestate_of(ctx: Context) -> str: ...
def as_context(obj: Any) -> Context: ...
def extract(carrier: Carrier, s: Settings) -> Context: ...
def inject(ctx: Context, headers: MutableMapping[str, str], s: Settings) -> None: ...
def configure(s: Settings) -> None: ...
def active_settings() -> Settings: ...
def set_before_inject(hook: Optional[Callable[[Any, Context], None]]) -> None: ...
def http_inject(context: Any, headers: MutableMapping[str, str]) -> None: ...
def http_inject_pairs(context: Any, as_bytes: bool, decide: bool = True) -> list[tuple[str, Any]]: ...
def http_extract(headers: Carrier) -> Context: ...
