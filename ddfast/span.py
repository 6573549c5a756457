"""``ddfast.Span``: one timed operation of a trace (compiled when available)."""

from ddfast._impl import load

Span = load("span").Span

__all__ = ["Span"]
