"""Taking encoded trace payloads apart, for agents that refuse them as they are.

``split`` halves a payload the agent refused as too large (HTTP 413), so that every trace that fits a
payload on its own still arrives; ``to_v04`` turns a ``/v0.5/traces`` payload into its
``/v0.4/traces`` equivalent, for an agent without the v0.5 endpoint. Both work on the bytes the
encoders made (either twin; the payloads are the same), off the request path: they run only after
the agent said no, so msgpack is imported then, not with ddfast.
"""

V04 = "v0.4/traces"
V05 = "v0.5/traces"
# the v0.5 string table's first entries, as ddtrace and both encoders lay them out
_PRESET = (b"", b"_dd.origin")


def _packer():
    import msgpack

    return msgpack.Packer(use_bin_type=False)  # strings were decoded as raw bytes: pack them back as str


def _v04_traces(payload):
    """The raw bytes of each trace of a v0.4 payload."""
    import msgpack

    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=len(payload) + 1)
    unpacker.feed(payload)
    count = unpacker.read_array_header()
    bounds = [unpacker.tell()]
    for _ in range(count):
        unpacker.skip()
        bounds.append(unpacker.tell())
    return [payload[bounds[i] : bounds[i + 1]] for i in range(count)]


def _v05_decode(payload):
    import msgpack

    strings, traces = msgpack.unpackb(payload, raw=True, strict_map_key=False)
    return strings, traces


def _v05_encode(strings, traces):
    """A v0.5 payload of ``traces`` whose table holds only the strings they use (preset first)."""
    table = list(_PRESET)
    index = {s: i for i, s in enumerate(table)}

    def ref(i):
        s = strings[i]
        j = index.get(s)
        if j is None:
            j = index[s] = len(table)
            table.append(s)
        return j

    out = []
    for trace in traces:
        spans = []
        for span in trace:
            span = list(span)
            for field in (0, 1, 2, 11):  # service, name, resource, type
                span[field] = ref(span[field])
            span[9] = {ref(k): ref(v) for k, v in span[9].items()}
            span[10] = {ref(k): v for k, v in span[10].items()}
            spans.append(span)
        out.append(spans)
    return _packer().pack([table, out])


def count(payload, endpoint):
    """The number of traces in ``payload``."""
    import msgpack

    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=len(payload) + 1)
    unpacker.feed(payload)
    if endpoint == V05:
        unpacker.read_array_header()
        unpacker.skip()
    return unpacker.read_array_header()


def split(payload, endpoint):
    """``payload`` (of two or more traces) as two payloads of about half the traces each, in order."""
    if endpoint == V04:
        traces = _v04_traces(payload)
        half = len(traces) // 2
        pack = _packer()
        return [
            (pack.pack_array_header(len(part)) + b"".join(part), len(part)) for part in (traces[:half], traces[half:])
        ]
    strings, traces = _v05_decode(payload)
    half = len(traces) // 2
    return [(_v05_encode(strings, part), len(part)) for part in (traces[:half], traces[half:])]


def to_v04(payload):
    """A v0.5 ``payload`` as the v0.4 payload of the same traces (the fields the v0.4 encoder writes)."""
    strings, traces = _v05_decode(payload)
    out = []
    for trace in traces:
        spans = []
        for service, name, resource, trace_id, span_id, parent_id, start, duration, error, meta, metrics, kind in trace:
            span = {b"trace_id": trace_id}
            if parent_id:
                span[b"parent_id"] = parent_id
            span[b"span_id"] = span_id
            span[b"service"] = strings[service]
            span[b"resource"] = strings[resource]
            span[b"name"] = strings[name]
            span[b"start"] = start
            span[b"duration"] = duration
            if error:
                span[b"error"] = error
            if kind:
                span[b"type"] = strings[kind]
            if meta:
                span[b"meta"] = {strings[k]: strings[v] for k, v in meta.items()}
            if metrics:
                span[b"metrics"] = {strings[k]: v for k, v in metrics.items()}
            spans.append(span)
        out.append(spans)
    return _packer().pack(out)
