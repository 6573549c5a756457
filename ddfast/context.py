"""``ddfast.Context``: the propagated state of a trace (compiled when available)."""

from ddfast._impl import load

Context = load("context").Context

__all__ = ["Context"]
