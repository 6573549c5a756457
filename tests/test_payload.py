"""Taking payloads apart (``ddfast.writer``), on both encoders' payloads: halves of a payload decode to
its traces, in order, down to single traces; a v0.5 payload made v0.4 decodes as the v0.4 encoder's
payload of the same traces."""

import msgpack
import pytest

from ddfast import writer


def _traces(spanmod, n):
    traces = []
    for t in range(n):
        spans = []
        for i in range(3):
            s = spanmod.Span("op.%d" % i, service="svc%d" % (t % 2), resource="GET /%d" % t, span_type="web",
                             trace_id=1000 + t, span_id=i + 1, parent_id=i or None)  # fmt: skip
            s.set_tag("k%d" % t, "v%d" % i)
            s.set_metric("m", t * 1.5)
            if i == 1:
                s.error = 1
            s.finish()
            spans.append(s)
        traces.append(spans)
    return traces


def _encode(encoding, version, traces):
    cls = encoding.MsgpackEncoderV05 if version == "v0.5" else encoding.MsgpackEncoderV04
    encoder = cls(1 << 20, 1 << 20)
    for spans in traces:
        encoder.put(spans)
    ((data, count),) = encoder.encode()
    return data, count


def _decoded_v04(data):
    return msgpack.unpackb(data, strict_map_key=False)


def _decoded_v05(data):
    """A v0.5 payload with every string looked up: comparable across string tables."""
    strings, traces = msgpack.unpackb(data, strict_map_key=False)
    out = []
    for trace in traces:
        spans = []
        for span in trace:
            span = list(span)
            for field in (0, 1, 2, 11):
                span[field] = strings[span[field]]
            span[9] = {strings[k]: strings[v] for k, v in span[9].items()}
            span[10] = {strings[k]: v for k, v in span[10].items()}
            spans.append(span)
        out.append(spans)
    return out


@pytest.mark.parametrize("version", ["v0.4", "v0.5"])
@pytest.mark.parametrize("n", [2, 3, 7])
def test_split_gives_every_trace_once_in_order(encoding, spanmod, version, n):
    endpoint = version + "/traces"
    decode = _decoded_v05 if version == "v0.5" else _decoded_v04
    data, count = _encode(encoding, version, _traces(spanmod, n))
    assert count == n and writer.count_traces(data, endpoint) == n
    whole = decode(data)
    queue, singles = [(data, count)], []
    while queue:
        part, part_count = queue.pop(0)
        assert writer.count_traces(part, endpoint) == part_count
        if part_count == 1:
            singles.extend(decode(part))
            continue
        halves = writer.split_payload(part, endpoint)
        assert [c for _, c in halves] == [part_count // 2, part_count - part_count // 2]
        assert decode(halves[0][0]) + decode(halves[1][0]) == decode(part)
        queue.extend(halves)
    assert singles == whole
    if version == "v0.5":  # a half's string table holds only what its traces use
        one = writer.split_payload(_encode(encoding, version, _traces(spanmod, 2))[0], endpoint)[0][0]
        assert b"GET /1" not in one and b"GET /0" in one


def test_v05_to_v04_decodes_as_the_v04_encoders_payload(encoding, spanmod):
    traces = _traces(spanmod, 4)
    v05, _ = _encode(encoding, "v0.5", traces)
    v04, _ = _encode(encoding, "v0.4", traces)
    assert _decoded_v04(writer.to_v04(v05)) == _decoded_v04(v04)
