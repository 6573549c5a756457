"""``ddfast.Span``: one timed operation of a trace (compiled when available)."""

from ddfast._impl import load

TYPE_CHECKING = False  # typing's, without importing typing (type checkers take it as True)
if TYPE_CHECKING:  # type checkers read the typed pure twin; at run time the selector picks (ddfast._impl)
    from ddfast._pure.span import Span
else:
    Span = load("span").Span

__all__ = ["Span"]
