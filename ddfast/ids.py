"""Trace and span ids (ddtrace's ``rand64bits`` / ``generate_128bit_trace_id``) and id codecs.

The functions come from the compiled core when available (see ``ddfast.implementation()``).
"""

from ddfast._impl import load
from ddfast.settings import config

TYPE_CHECKING = False  # typing's, without importing typing (type checkers take it as True)
if TYPE_CHECKING:  # type checkers read the typed pure twin; at run time the selector picks (ddfast._impl)
    from ddfast._pure import ids as _impl
else:
    _impl = load("ids")

seed = _impl.seed
rand64bits = _impl.rand64bits
generate_128bit_trace_id = _impl.generate_128bit_trace_id
parse_dec = _impl.parse_dec
parse_hex = _impl.parse_hex
format_dec = _impl.format_dec
format_hex = _impl.format_hex


def new_trace_id():
    """A trace id for a new trace: 128-bit unless ``DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED=false``."""
    if config.trace_128_bit_traceid_generation_enabled:
        return generate_128bit_trace_id()
    return rand64bits()


__all__ = [
    "format_dec",
    "format_hex",
    "generate_128bit_trace_id",
    "new_trace_id",
    "parse_dec",
    "parse_hex",
    "rand64bits",
    "seed",
]
