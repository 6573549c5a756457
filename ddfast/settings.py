"""ddfast's settings: the ``DD_*`` environment variables ddtrace reads, read once at import.

``config`` holds them; code may override an attribute at start-up (``ddfast.config.x = ...``). Nothing
on the request path reads the environment. Parsing follows ddtrace 4.16 (booleans: ``true``/``1``,
case-insensitive, are true; anything else is false).
"""

import os


def asbool(value, default):
    """ddtrace's boolean parsing: ``true``/``1`` (any case) is true; unset gives ``default``."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


class Config:
    """ddfast's settings, with ddtrace 4.16's defaults."""

    __slots__ = ("trace_128_bit_traceid_generation_enabled",)

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        #: new traces get 128-bit ids (DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED, default true)
        self.trace_128_bit_traceid_generation_enabled = asbool(
            env.get("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED"), True
        )

    def __repr__(self):
        fields = ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)
        return "Config(%s)" % fields


config = Config()
