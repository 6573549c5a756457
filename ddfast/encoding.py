"""Encoding finished traces for the Datadog agent (compiled when available).

``MsgpackEncoderV05`` (``/v0.5/traces``, ddtrace's default) and ``MsgpackEncoderV04``
(``/v0.4/traces``) buffer traces with ``put(spans)`` and give one payload per ``encode()``, as
ddtrace's encoders do; ``BufferFull`` / ``BufferItemTooLarge`` say why a trace was refused.
``TraceBuffer`` is the agent writer's application side: the payload being filled, the sealed payloads,
the lock application threads take (see ``ddfast.writer``).
"""

from ddfast._impl import load
from ddfast.encoding_errors import BufferFull
from ddfast.encoding_errors import BufferItemTooLarge

TYPE_CHECKING = False  # typing's, without importing typing (type checkers take it as True)
if TYPE_CHECKING:  # type checkers read the typed pure twin; at run time the selector picks (ddfast._impl)
    from ddfast._pure import encoding as _core
else:
    _core = load("encoding")

MsgpackEncoderV04 = _core.MsgpackEncoderV04
MsgpackEncoderV05 = _core.MsgpackEncoderV05
TraceBuffer = _core.TraceBuffer

#: the encoder for each agent API version
MSGPACK_ENCODERS = {"v0.4": MsgpackEncoderV04, "v0.5": MsgpackEncoderV05}

__all__ = [
    "MSGPACK_ENCODERS",
    "BufferFull",
    "BufferItemTooLarge",
    "MsgpackEncoderV04",
    "MsgpackEncoderV05",
    "TraceBuffer",
]
