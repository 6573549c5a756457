"""Span links: a causal edge from a span to a span of another (or a restarted) trace."""


class SpanLink:
    """A link to the span ``span_id`` of trace ``trace_id`` (ddtrace's ``SpanLink``).

    Propagation makes these when incoming headers carry more than one trace (the styles disagree) or
    when ``DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT=restart`` starts a new trace.
    """

    __slots__ = ("trace_id", "span_id", "tracestate", "flags", "attributes")

    def __init__(self, trace_id, span_id, tracestate=None, flags=None, attributes=None):
        if not isinstance(trace_id, int) or not 0 < trace_id < 2**128:
            raise ValueError("SpanLink trace_id must be an int in [1, 2**128), got %r" % (trace_id,))
        if not isinstance(span_id, int) or not 0 < span_id < 2**64:
            raise ValueError("SpanLink span_id must be an int in [1, 2**64), got %r" % (span_id,))
        self.trace_id = trace_id
        self.span_id = span_id
        self.tracestate = tracestate
        self.flags = flags
        self.attributes = dict(attributes) if attributes else {}

    def to_dict(self):
        """The link as the agent's span-link JSON shape (ids in hex)."""
        d = {"trace_id": "%032x" % self.trace_id, "span_id": "%016x" % self.span_id}
        if self.attributes:
            d["attributes"] = dict(self.attributes)
        if self.tracestate:
            d["tracestate"] = self.tracestate
        if self.flags is not None:
            d["flags"] = self.flags
        return d

    def __eq__(self, other):
        if not isinstance(other, SpanLink):
            return NotImplemented
        return (
            self.trace_id == other.trace_id
            and self.span_id == other.span_id
            and self.tracestate == other.tracestate
            and self.flags == other.flags
            and self.attributes == other.attributes
        )

    __hash__ = None

    def __repr__(self):
        return "SpanLink(trace_id=%d, span_id=%d, attributes=%r, tracestate=%s, flags=%s)" % (
            self.trace_id,
            self.span_id,
            self.attributes,
            self.tracestate,
            self.flags,
        )
