"""Msgpack encoders for the agent's trace API, pure Python (on the ``msgpack`` package). Twin of
``src/encoding.pyx``.

``MsgpackEncoderV04`` (``/v0.4/traces``: an array of traces, each an array of span maps) and
``MsgpackEncoderV05`` (``/v0.5/traces``: ``[string table, traces]``, each span a 12-item array of
string-table indices and numbers) buffer finished traces as they come, bounded by ``max_size``
(the payload) and ``max_item_size`` (one trace), and hand out one payload per ``encode()``. The
payloads decode to what ddtrace 4.16's encoders produce for the same spans.
"""

import msgpack

from ddfast._pure.span import DERIVED_METRICS
from ddfast._pure.span import DERIVED_TAGS
from ddfast._pure.span import Span as _PureSpan
from ddfast.encoding_errors import BufferFull
from ddfast.encoding_errors import BufferItemTooLarge

# ddtrace's limits: a longer string is cut to its first characters and a marker
MAX_TEXT_LEN = 25000
TRUNCATED_LEN = 2500
TRUNCATED_MARK = "<truncated>..."
TID_KEY = "_dd.p.tid"
LINKS_KEY = "_dd.span_links"
CONTENT_TYPE = "application/msgpack"
# ddtrace starts every v0.5 string table with these two entries
V05_PRESET = ("", "_dd.origin")
DEFAULT_MAX_SIZE = 20 << 20
_U64 = 0xFFFFFFFFFFFFFFFF


def _packer():
    # Lone surrogates are escaped rather than failing the whole trace.
    return msgpack.Packer(unicode_errors="backslashreplace", default=str)


def truncated(s):
    """``s``, or when longer than 25000 characters its first 2486 and ``<truncated>...`` (as ddtrace)."""
    if len(s) > MAX_TEXT_LEN:
        return s[: TRUNCATED_LEN - len(TRUNCATED_MARK)] + TRUNCATED_MARK
    return s


def _text(value):
    """A str (truncated), None as None (nil), anything else as its str()."""
    if value is None:
        return None
    return truncated(value if type(value) is str else str(value))


def _texts(mapping):
    """A str -> str mapping with every string as ``_text`` makes it (the mapping itself when it is)."""
    if _short_strings(mapping) and _short_strings(mapping.values()):
        return mapping
    return {_text(k): _text(v) for k, v in mapping.items()}


_NUMBERS = {int, float}


def _short_strings(items):
    """Whether no item can need truncating: together they are no longer than one may be (checked at C
    speed; a long or a non-text item sends the caller to the exact, slower path)."""
    try:
        return sum(map(len, items)) <= MAX_TEXT_LEN
    except TypeError:
        return False


def _numbers(metrics):
    """Metrics as ``_number`` makes them (the mapping itself when it already is)."""
    if _short_strings(metrics) and set(map(type, metrics.values())) <= _NUMBERS:
        return metrics  # a span's set_metric keeps ints within 64 bits
    return {_text(k): _number(v) for k, v in metrics.items()}


def low64(value):
    return 0 if value is None else value & _U64


def tid_of(trace_id, meta):
    """The ``_dd.p.tid`` tag the chunk's first span must carry, or None when present or not needed."""
    if trace_id is None:
        return None
    high = (trace_id >> 64) & _U64
    if high == 0 or TID_KEY in meta:
        return None
    return "%016x" % high


def _links_json(links):
    """The span links as the JSON text ddtrace puts in the ``_dd.span_links`` tag (v0.5)."""
    import json  # spans with links only: not imported by ``import ddfast``

    return json.dumps([link.to_dict() for link in links])


def header_size(n):
    """Bytes of an array/map header for ``n`` items."""
    return 1 if n < 16 else (3 if n <= 0xFFFF else 5)


def _fields(span):
    """The encoded fields of a span of either twin (or any span with ddtrace's public API)."""
    return (
        span.name,
        span.service,
        span.resource,
        span.span_type,
        span.trace_id,
        span.span_id,
        span.parent_id,
        span.start_ns,
        span.duration_ns,
        int(span.error),
        span.get_tags(),
        span.get_metrics(),
        getattr(span, "_links", None),
        (),
        (),
    )


def _derived_items(span, mask):
    """``[(key, value)]`` of the pure span's derived tags (``mask`` DERIVED_TAGS) or metrics, in the
    order the compiled encoders write them: after the stored ones."""
    if not span._derived & mask:
        return ()
    derived = {}
    span.add_derived(derived, mask)
    return derived.items()


def _number(value):
    """A metric value: ints stay ints, floats stay floats (as ddtrace sends them)."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        return value if -(2**63) <= value <= _U64 else float(value)
    if t is bool:
        return int(value)
    if isinstance(value, int):
        return _number(int(value))
    return float(value)


class _BufferedEncoder:
    """Traces encoded as they come, one bytes object per trace, joined at ``encode()``."""

    content_type = CONTENT_TYPE

    def __init__(self, max_size=DEFAULT_MAX_SIZE, max_item_size=DEFAULT_MAX_SIZE):
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError("max_size must be a positive int, got %r" % (max_size,))
        if isinstance(max_item_size, bool) or not isinstance(max_item_size, int) or max_item_size <= 0:
            raise ValueError("max_item_size must be a positive int, got %r" % (max_item_size,))
        self._max_size = max_size
        self._max_item_size = max_item_size
        self._count = 0
        self._packer = _packer()
        self._parts = []
        self._length = 0

    @property
    def max_size(self):
        return self._max_size

    @property
    def max_item_size(self):
        return self._max_item_size

    def __len__(self):
        """The number of traces waiting in the buffer."""
        return self._count

    @property
    def size(self):
        """The size in bytes of the payload ``encode()`` would return now."""
        return self._size(self._count)

    def put(self, spans):
        """Add one trace (a list of finished spans). Raises ``BufferItemTooLarge`` when the trace alone
        exceeds ``max_item_size`` and ``BufferFull`` when the payload would exceed ``max_size``; the
        buffer is then unchanged, as after any error encoding the trace."""
        if not isinstance(spans, (list, tuple)):
            raise TypeError("a trace is a list of spans, not %s" % type(spans).__name__)
        self._mark()
        try:
            self._put(spans)
        except BaseException:
            self._rollback()
            raise
        item = self._item_size()
        if item > self._max_item_size:
            self._rollback()
            raise BufferItemTooLarge(item)
        if self._size(self._count + 1) > self._max_size:
            self._rollback()
            raise BufferFull(item)
        self._count += 1

    def encode(self):
        """``[(payload, trace_count)]`` for the traces buffered so far, or ``[]``; the buffer is reset."""
        if self._count == 0:
            return []
        payload = self._payload()
        count = self._count
        self._reset()
        return [(payload, count)]

    def encode_traces(self, traces):
        """One payload for ``traces`` (an iterable of span lists), through the same buffer."""
        for spans in traces:
            self.put(spans)
        payload = self._payload()
        self._reset()
        return payload

    def _put(self, spans):
        span_ = self._span
        encoded = [
            span_(_fast_fields(span) if type(span) is _PureSpan else _fields(span), i == 0)
            for i, span in enumerate(spans)
        ]
        self._append(self._packer.pack(encoded))

    def _append(self, data):
        self._parts.append(data)
        self._length += len(data)

    def _mark(self):
        self._mark_parts = len(self._parts)
        self._mark_length = self._length

    def _rollback(self):
        del self._parts[self._mark_parts :]
        self._length = self._mark_length

    def _item_size(self):
        return self._length - self._mark_length

    def _reset(self):
        self._count = 0
        self._parts = []
        self._length = 0


class MsgpackEncoderV04(_BufferedEncoder):
    """``/v0.4/traces``: an array of traces, each an array of span maps (see the module docstring)."""

    endpoint = "v0.4/traces"

    def _size(self, count):
        return header_size(count) + self._length

    def _span(self, fields, first):
        """One span (``fields`` as ``_fields`` reads them) in this version's shape."""
        (name, service, resource, span_type, trace_id, span_id, parent_id,
         start, duration, error, meta, metrics, links, derived_tags, derived_metrics) = fields  # fmt: skip
        tid = tid_of(trace_id, meta) if first else None
        d = {"trace_id": low64(trace_id)}
        if parent_id:
            d["parent_id"] = parent_id
        d["span_id"] = span_id
        d["service"] = _text(service)
        d["resource"] = _text(resource)
        d["name"] = _text(name)
        d["start"] = start
        d["duration"] = duration
        if error:
            d["error"] = error
        if span_type is not None:
            d["type"] = _text(span_type)
        if links:
            d["span_links"] = [_link_v04(link) for link in links]
        if meta or tid is not None or derived_tags:
            meta = _texts(meta)
            if tid is not None or derived_tags:
                meta = dict(meta)
                if tid is not None:
                    meta[TID_KEY] = tid
                meta.update(derived_tags)
            d["meta"] = meta
        if metrics or derived_metrics:
            metrics = _numbers(metrics) if metrics else {}
            if derived_metrics:
                metrics = dict(metrics)
                metrics.update(derived_metrics)
            d["metrics"] = metrics
        return d

    def _payload(self):
        return b"".join([self._packer.pack_array_header(self._count)] + self._parts)


def _link_v04(link):
    """A span link as a v0.4 map: ids split in 64-bit halves, flags with bit 31 set to say "set"."""
    high = (link.trace_id >> 64) & _U64
    d = {"trace_id": link.trace_id & _U64, "span_id": link.span_id}
    attributes = link._flat_attributes()
    if attributes:
        d["attributes"] = _texts(attributes)
    if link.tracestate:
        d["tracestate"] = _text(link.tracestate)
    if link.flags is not None:
        d["flags"] = (link.flags & 0xFFFFFFFF) | 0x80000000
    if high:
        d["trace_id_high"] = high
    return d


class MsgpackEncoderV05(_BufferedEncoder):
    """``/v0.5/traces``: ``[string table, traces]``, each span a 12-item array (see the module docstring)."""

    endpoint = "v0.5/traces"

    def __init__(self, max_size=DEFAULT_MAX_SIZE, max_item_size=DEFAULT_MAX_SIZE):
        super().__init__(max_size, max_item_size)
        self._clear_table()

    def _clear_table(self):
        self._index = {}
        self._strings = []
        self._table_length = 0
        for s in V05_PRESET:
            self._ref(s)

    def _ref(self, s):
        """The table index of ``s`` (None is the empty string), adding it on first use."""
        if type(s) is str:
            i = self._index.get(s)  # the common case: a (short) string already in the table
            if i is not None:
                return i
        elif s is None:
            return 0
        s = _text(s)
        i = self._index.get(s)
        if i is not None:
            return i
        i = len(self._strings)
        self._table_length += len(self._packer.pack(s))
        self._index[s] = i
        self._strings.append(s)
        return i

    def _size(self, count):
        return 1 + header_size(len(self._strings)) + self._table_length + header_size(count) + self._length

    def _mark(self):
        super()._mark()
        self._table_mark = self._table_length
        self._strings_mark = len(self._strings)

    def _rollback(self):
        super()._rollback()
        self._table_length = self._table_mark
        for s in self._strings[self._strings_mark :]:
            self._index.pop(s, None)
        del self._strings[self._strings_mark :]

    def _item_size(self):
        return super()._item_size() + self._table_length - self._table_mark

    def _span(self, fields, first):
        """One span (``fields`` as ``_fields`` reads them) in this version's shape."""
        (name, service, resource, span_type, trace_id, span_id, parent_id,
         start, duration, error, meta, metrics, links, derived_tags, derived_metrics) = fields  # fmt: skip
        ref = self._ref
        tid = tid_of(trace_id, meta) if first else None
        # table indices are taken in the compiled twin's order, so both give the same bytes
        service_i = ref(service)
        name_i = ref(name)
        resource_i = ref(resource)
        encoded_meta = {ref(k): ref(v) for k, v in meta.items()}
        if tid is not None:
            key = ref(TID_KEY)
            encoded_meta[key] = ref(tid)
        if links:
            key = ref(LINKS_KEY)
            encoded_meta[key] = ref(_links_json(links))
        for k, v in derived_tags:
            key = ref(k)
            encoded_meta[key] = ref(v)
        encoded_metrics = {ref(k): _number(v) for k, v in metrics.items()} if metrics else {}
        for k, v in derived_metrics:
            encoded_metrics[ref(k)] = _number(v)
        return [
            service_i,
            name_i,
            resource_i,
            low64(trace_id),
            span_id,
            parent_id or 0,
            start,
            duration or 0,
            error,
            encoded_meta,
            encoded_metrics,
            ref(span_type),
        ]

    def _payload(self):
        pack = self._packer
        head = pack.pack_array_header(2) + pack.pack(self._strings)
        return b"".join([head, pack.pack_array_header(self._count)] + self._parts)

    def _reset(self):
        super()._reset()
        self._clear_table()


def _fast_fields(span):
    """The encoded fields of a pure ``Span``, read from its slots."""
    return (
        span.name,
        span.service,
        span._resource if span._resource is not None else span.name,
        span.span_type,
        span.trace_id,
        span.span_id,
        span.parent_id,
        span.start_ns,
        span.duration_ns,
        span.error,
        span._meta,
        span._metrics,
        span._links,
        _derived_items(span, DERIVED_TAGS),
        _derived_items(span, DERIVED_METRICS),
    )
