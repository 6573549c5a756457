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

    def _flat_attributes(self):
        """The attributes as the agent takes them, flattened as ddtrace does: text values, lists and
        tuples spread over ``key.0``, ``key.1``… (nested too), booleans as ``true``/``false``. ``None``
        values and empty lists have nothing to send and are left out."""
        flat = {}
        for key, value in self.attributes.items():
            _flatten(flat, str(key), value)
        return flat

    def to_dict(self):
        """The link as the agent's span-link JSON shape (ids in hex)."""
        d = {"trace_id": "%032x" % self.trace_id, "span_id": "%016x" % self.span_id}
        attributes = self._flat_attributes()
        if attributes:
            d["attributes"] = attributes
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


def _flatten(into, key, value):
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _flatten(into, "%s.%d" % (key, i), item)
    elif value is None:
        return
    elif isinstance(value, bool):
        into[key] = "true" if value else "false"
    elif isinstance(value, str):
        into[key] = value
    elif isinstance(value, (bytes, bytearray)):
        into[key] = bytes(value).decode("utf-8", "backslashreplace")
    else:
        into[key] = str(value)
