"""Trace encoding (both implementations): payloads decode to what ddtrace 4.16's encoders produce for
the same spans, field by field and with their types; the buffer's limits; the twins' bytes agree."""

import json

import msgpack
import pytest
from ddtrace.internal.encoding import MsgpackEncoderV04 as DDEncoderV04
from ddtrace.internal.encoding import MsgpackEncoderV05 as DDEncoderV05
from ddtrace.trace import Span as DDSpan
from hypothesis import given
from hypothesis import strategies as st

from ddfast.encoding_errors import BufferFull
from ddfast.encoding_errors import BufferItemTooLarge

VERSIONS = ("v0.4", "v0.5")
BIG = 20 << 20


def encoder_of(encoding, version, *args):
    return (encoding.MsgpackEncoderV04 if version == "v0.4" else encoding.MsgpackEncoderV05)(*args)


def ddtrace_encoder(version):
    return (DDEncoderV04 if version == "v0.4" else DDEncoderV05)(BIG, BIG)


def decode(payload, version):
    """The payload as a list of traces of span dicts, whatever the version (v0.5 strings resolved;
    span links JSON parsed, so that key order does not matter)."""
    data = msgpack.unpackb(payload, strict_map_key=False)
    if version == "v0.4":
        return data
    table, traces = data
    assert table[:2] == ["", "_dd.origin"]  # the preset entries, as ddtrace sends them
    spans = []
    for trace in traces:
        spans.append([])
        for s in trace:
            assert len(s) == 12
            meta = {table[k]: table[v] for k, v in s[9].items()}
            if "_dd.span_links" in meta:
                meta["_dd.span_links"] = json.loads(meta["_dd.span_links"])
            spans[-1].append(
                {
                    "service": table[s[0]],
                    "name": table[s[1]],
                    "resource": table[s[2]],
                    "trace_id": s[3],
                    "span_id": s[4],
                    "parent_id": s[5],
                    "start": s[6],
                    "duration": s[7],
                    "error": s[8],
                    "meta": meta,
                    "metrics": {table[k]: v for k, v in s[10].items()},
                    "type": table[s[11]],
                }
            )
    return spans


def typed(value):
    """``value`` with every leaf paired with its type, so 1 and 1.0 (or "1") differ."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def build(Span, spec, first):
    """A finished span from a spec, for either ddfast twin or ddtrace."""
    s = Span(
        spec["name"],
        service=spec["service"],
        resource=spec["resource"],
        span_type=spec["type"],
        trace_id=spec["trace_id"],
        span_id=spec["span_id"],
        parent_id=spec["parent_id"],
    )
    for key, value in spec["tags"]:
        s.set_tag(key, value)
    for key, value in spec["metrics"]:
        s.set_metric(key, value)
    for link in spec["links"]:
        s.set_link(**link)
    if first and Span is DDSpan and spec["trace_id"] >> 64:
        # ddtrace's tracer adds this tag to the chunk's first span; ddfast's encoder adds it itself
        s.set_tag("_dd.p.tid", "%016x" % (spec["trace_id"] >> 64))
    s.error = spec["error"]
    s.start_ns = spec["start"]
    s.duration_ns = spec["duration"]
    return s


def build_traces(Span, specs_per_trace):
    return [[build(Span, spec, i == 0) for i, spec in enumerate(specs)] for specs in specs_per_trace]


# -- strategies ---------------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda k: (
        k not in ("service.name", "manual.keep", "manual.drop", "_dd.measured", "version", "service.version")
        and not k.startswith("_dd.p.")
    )
)
metric_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(2**63, 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), True]),
)
attr_keys = st.text("abcxyz", min_size=1, max_size=3)
attr_values = st.one_of(
    text, st.booleans(), st.integers(-1000, 1000), st.floats(-1e6, 1e6), st.lists(st.one_of(text, st.booleans()))
)
links = st.fixed_dictionaries(
    {
        "trace_id": st.integers(1, 2**128 - 1),
        "span_id": st.integers(1, 2**64 - 1),
        "attributes": st.dictionaries(attr_keys, attr_values, max_size=3),
        "flags": st.sampled_from([None, 0, 1]),
        "tracestate": st.sampled_from([None, "dd=s:1;t.dm:-0", "rojo=00f067aa0ba902b7"]),
    }
)


@st.composite
def span_specs(draw, trace_id):
    return {
        "name": draw(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)),
        "service": draw(st.one_of(st.none(), text)),
        "resource": draw(st.one_of(st.none(), text)),
        "type": draw(st.one_of(st.none(), text)),
        "trace_id": trace_id,
        "span_id": draw(st.integers(1, 2**64 - 1)),
        "parent_id": draw(st.one_of(st.none(), st.integers(0, 2**64 - 1))),
        "tags": draw(st.lists(st.tuples(keys, text), max_size=4)),
        "metrics": draw(st.lists(st.tuples(keys, metric_values), max_size=4)),
        "links": draw(st.lists(links, max_size=2)),
        "error": draw(st.sampled_from([0, 1])),
        "start": draw(st.integers(0, 2**63 - 1)),
        "duration": draw(st.integers(0, 2**62)),
    }


@st.composite
def traces(draw):
    result = []
    for _ in range(draw(st.integers(0, 3))):
        trace_id = draw(st.one_of(st.integers(1, 2**64 - 1), st.integers(2**64, 2**128 - 1)))
        result.append(draw(st.lists(span_specs(trace_id), max_size=4)))
    return result


# -- same payload as ddtrace ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@given(specs=traces())
def test_payload_decodes_as_ddtrace_encoder_output(encoding, spanmod, version, specs):
    ours = encoder_of(encoding, version, BIG, BIG)
    theirs = ddtrace_encoder(version)
    for trace in build_traces(spanmod.Span, specs):
        ours.put(trace)
    for trace in build_traces(DDSpan, specs):
        theirs.put(trace)
    expected = theirs.encode()
    got = ours.encode()
    assert len(got) == len(expected)
    if not expected:
        return
    (payload, count), (dd_payload, dd_count) = got[0], expected[0]
    assert count == dd_count == len(specs)
    assert typed(decode(payload, version)) == typed(decode(dd_payload, version))


@pytest.mark.parametrize("version", VERSIONS)
def test_large_trace_unicode_and_huge_meta_as_ddtrace(encoding, spanmod, version):
    specs = [
        [
            {
                "name": "näme-%d ✓" % i,
                "service": "svc-é" if i % 3 else None,
                "resource": "GET /ünïcode/%d" % i,
                "type": "web",
                "trace_id": (0xABC << 64) | 0xDEF,
                "span_id": 1000 + i,
                "parent_id": 999 + i if i else None,
                "tags": [("huge", "x" * 70000 + "☃"), ("k%d" % i, "v")] if i == 0 else [("k%d" % i, "v%d" % i)],
                "metrics": [("int", 2**62), ("neg", -(2**63)), ("float", 0.25), ("zero", 0)],
                "links": [],
                "error": i % 2,
                "start": 1_700_000_000_000_000_000 + i,
                "duration": 10**9 + i,
            }
            for i in range(100)
        ]
    ]
    ours = encoder_of(encoding, version, BIG, BIG)
    theirs = ddtrace_encoder(version)
    ours.put(build_traces(spanmod.Span, specs)[0])
    theirs.put(build_traces(DDSpan, specs)[0])
    payload, _ = ours.encode()[0]
    dd_payload, _ = theirs.encode()[0]
    got = decode(payload, version)
    assert typed(got) == typed(decode(dd_payload, version))
    assert got[0][0]["meta"]["_dd.p.tid"] == "0000000000000abc"  # first span of the chunk only
    assert all("_dd.p.tid" not in s.get("meta", {}) for s in got[0][1:])


@pytest.mark.parametrize("version", VERSIONS)
def test_integers_at_the_width_boundaries_as_ddtrace(encoding, spanmod, version):
    """Ids and integer metrics on each side of the 30-bit digit, 2**63 and 2**64 boundaries."""
    ids = [1, 2**30 - 1, 2**30, 2**60 - 1, 2**60, 2**63 - 1, 2**63, 2**64 - 1]
    metrics = [-(2**63), -1, 0, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**68, 2**90]
    specs = [
        [
            {
                "name": "n",
                "service": "s",
                "resource": "r",
                "type": None,
                "trace_id": 7,
                "span_id": span_id,
                "parent_id": ids[-1 - i],
                "tags": [],
                "metrics": [("m%d" % j, v) for j, v in enumerate(metrics)],
                "links": [],
                "error": 0,
                "start": 1_700_000_000_000_000_000,
                "duration": 1,
            }
            for i, span_id in enumerate(ids)
        ]
    ]
    ours = encoder_of(encoding, version, BIG, BIG)
    theirs = ddtrace_encoder(version)
    ours.put(build_traces(spanmod.Span, specs)[0])
    theirs.put(build_traces(DDSpan, specs)[0])
    got = decode(ours.encode()[0][0], version)
    assert typed(got) == typed(decode(theirs.encode()[0][0], version))
    assert [s["span_id"] for s in got[0]] == ids


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_traces_and_empty_buffer(encoding, version):
    enc = encoder_of(encoding, version)
    assert enc.encode() == [] and len(enc) == 0
    enc.put([])
    enc.put([])
    ((payload, count),) = enc.encode()
    assert count == 2 and decode(payload, version) == [[], []]
    assert enc.encode() == []


# -- the buffer ----------------------------------------------------------------------------------------


def small_trace(spanmod, n=1, tag="v"):
    spans = []
    for i in range(n):
        # fixed times: a measured duration's msgpack width (uint16 below 65.536 us, else uint32) would
        # make two equal traces differ in size
        s = spanmod.Span(
            "op", service="svc", trace_id=7, span_id=100 + i, parent_id=99 + i if i else None, start=1000.0
        )
        s.set_tag("k", tag % i if "%" in tag else tag)
        s.finish(finish_time=1000.5)
        spans.append(s)
    return spans


@pytest.mark.parametrize("version", VERSIONS)
def test_size_is_the_payload_size(encoding, spanmod, version):
    enc = encoder_of(encoding, version)
    empty = enc.size
    for i in range(20):  # crosses the fixarray -> array16 boundary of the trace count
        enc.put(small_trace(spanmod, 1 + i % 3, tag="v%d" % i))
        assert len(enc) == i + 1
    size = enc.size
    ((payload, count),) = enc.encode()
    assert count == 20 and len(payload) == size
    assert enc.size == empty and len(enc) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_trace_too_large_is_refused_and_leaves_the_buffer_unchanged(encoding, spanmod, version):
    enc = encoder_of(encoding, version, BIG, 300)
    enc.put(small_trace(spanmod))
    before = enc.size
    with pytest.raises(BufferItemTooLarge):
        enc.put(small_trace(spanmod, 1, tag="x" * 400))
    assert enc.size == before and len(enc) == 1
    enc.put(small_trace(spanmod, 1, tag="after"))
    ((payload, count),) = enc.encode()
    traces = decode(payload, version)
    assert count == 2 and [t[0]["meta"]["k"] for t in traces] == ["v", "after"]
    assert b"xxxx" not in payload  # the refused trace's strings left no trace (v0.5 string table too)


@pytest.mark.parametrize("version", VERSIONS)
def test_full_buffer_refuses_the_trace_that_does_not_fit(encoding, spanmod, version):
    probe = encoder_of(encoding, version)
    probe.put(small_trace(spanmod, tag="a"))
    probe.put(small_trace(spanmod, tag="b"))
    enc = encoder_of(encoding, version, probe.size, BIG)  # room for exactly these two traces
    enc.put(small_trace(spanmod, tag="a"))
    enc.put(small_trace(spanmod, tag="b"))
    with pytest.raises(BufferFull):
        enc.put(small_trace(spanmod, tag="c"))
    assert len(enc) == 2 and enc.size == probe.size
    ((payload, count),) = enc.encode()
    assert count == 2 and [t[0]["meta"]["k"] for t in decode(payload, version)] == ["a", "b"]
    enc.put(small_trace(spanmod, tag="c"))  # room again after encode()
    assert [t[0]["meta"]["k"] for t in decode(enc.encode()[0][0], version)] == ["c"]


def test_the_same_strings_across_traces_payloads_and_refused_traces(twins):
    # the same str objects span after span, more of them than the compiled v0.5 encoder remembers by
    # identity, refused traces taking their new strings back out of the table, and new payloads: both
    # twins write the same bytes, and every span decodes to its own strings
    (compiled_enc, pure_enc), (compiled_span, pure_span) = twins("encoding"), twins("span")
    words = ["w%d" % i for i in range(700)]
    long_word = "z" * 400

    def run(encoding, spanmod):
        enc = encoding.MsgpackEncoderV05(BIG, 2000)
        payloads, expected = [], []
        for _ in range(3):
            for i in range(0, 700, 3):
                s = spanmod.Span(words[i], service=words[(i * 7) % 700], resource=words[(i * 11) % 700],
                                 trace_id=i + 1, span_id=i + 1, start=1.0)  # fmt: skip
                s.set_tag(words[(i * 13) % 700], words[(i * 17) % 700])
                s.finish(finish_time=2.0)
                if i % 10 == 0:  # refused: its new strings are taken back, then sent with the next trace
                    s.set_tag("big", long_word * 10)
                    with pytest.raises(BufferItemTooLarge):
                        enc.put([s])
                    s.remove_tag("big")
                enc.put([s])
                expected.append((s.name, s.service, s.resource, s.get_tags()))
            payloads.append(enc.encode()[0][0])
        return payloads, expected

    (ours, expected), (theirs, _) = run(compiled_enc, compiled_span), run(pure_enc, pure_span)
    assert ours == theirs
    got = [(d["name"], d["service"], d["resource"], d["meta"]) for p in ours for (d,) in decode(p, "v0.5")]
    assert got == expected


def test_equal_strings_of_new_objects_share_one_table_entry(twins):
    # tag values made anew for every span (equal text, other objects; one byte, two and four bytes per
    # character), and a payload of more distinct strings than the compiled table's index keeps between
    # payloads: both twins write the same bytes, each text once in a payload's table
    (compiled_enc, pure_enc), (compiled_span, pure_span) = twins("encoding"), twins("span")

    def run(encoding, spanmod):
        enc = encoding.MsgpackEncoderV05(BIG, BIG)
        payloads = []
        for distinct in (10, 12000, 10):
            for i in range(300):
                s = spanmod.Span("op", service="svc", trace_id=i + 1, span_id=i + 1, start=1.0)
                for j, stem in enumerate(("url/", "caf\xe9/", "\u20ac/", "\U0001f600/")):
                    s.set_tag("k%d" % j, "".join((stem, str(i // 3 % distinct))))  # as the span before, or not
                for j in range(40 if distinct > 300 else 0):
                    s.set_tag("n%d" % j, "%d-%d" % (i, j))
                s.finish(finish_time=2.0)
                enc.put([s])
            payloads.append(enc.encode()[0][0])
        return payloads

    ours, theirs = run(compiled_enc, compiled_span), run(pure_enc, pure_span)
    assert ours == theirs
    table, _ = msgpack.unpackb(ours[0], strict_map_key=False)
    assert len(table) == len(set(table)) == 2 + 2 + 4 + 4 * 10  # presets, svc, op, the keys, each value once
    assert ours[2] == ours[0]  # the table emptied between payloads


def test_a_refused_trace_takes_back_the_tag_values_it_made_known(twins):
    # the compiled v0.5 encoder remembers each key's last value; a refused trace's new values leave the
    # table, so the same text in the next trace (another object) is added again at the index now free
    (compiled_enc, pure_enc), (compiled_span, pure_span) = twins("encoding"), twins("span")

    def run(encoding, spanmod):
        enc = encoding.MsgpackEncoderV05(BIG, 1000)
        kept = []

        def trace(value, big=None):
            s = spanmod.Span("op", service="svc", trace_id=1, span_id=2, start=1.0)
            s.set_tag("k", "".join(value))  # a new object each time
            if big is not None:
                s.set_tag("big", big)
            s.finish(finish_time=2.0)
            kept.append(s)  # alive: an index taken back must not find its old string
            return [s]

        enc.put(trace(["x", "1"]))
        with pytest.raises(BufferItemTooLarge):
            enc.put(trace(["v", "new"], big="z" * 2000))
        enc.put(trace(["v", "new"]))
        enc.put(trace(["v", "new"]))
        enc.put(trace(["x", "1"]))
        return enc.encode()[0][0]

    ours, theirs = run(compiled_enc, compiled_span), run(pure_enc, pure_span)
    assert ours == theirs
    assert [t[0]["meta"]["k"] for t in decode(ours, "v0.5")] == ["x1", "vnew", "vnew", "x1"]


class _Text:
    """A tag value that is not a str: its str() is what is sent; ``grow`` adds a tag meanwhile."""

    def __init__(self, text, grow=None):
        self.text, self.grow = text, grow

    def __str__(self):
        if self.grow is not None:
            self.grow["added"] = "x"
        return self.text


class _Number:
    """A metric value that is not an int or float: sent as its float(); ``grow`` adds a metric meanwhile."""

    def __init__(self, value, grow):
        self.value, self.grow = value, grow

    def __float__(self):
        self.grow["added"] = 1
        return self.value


class _DuckSpan:
    """Not a ddfast Span: what the encoders read of one, its tags as given."""

    def __init__(self, tags, metrics):
        self.name, self.service, self.resource, self.span_type = "op", "svc", "res", None
        self.trace_id, self.span_id, self.parent_id, self.start_ns, self.duration_ns, self.error = 1, 2, 0, 3, 4, 0
        self._tags, self._metrics = tags, metrics

    def get_tags(self):
        return self._tags

    def get_metrics(self):
        return self._metrics


@pytest.mark.parametrize("version", VERSIONS)
def test_tags_that_are_not_str_are_sent_as_their_str_and_a_changing_dict_is_refused(twins, version):
    (compiled_enc, pure_enc), _ = twins("encoding"), None
    payloads = []
    for encoding in (compiled_enc, pure_enc):
        enc = encoder_of(encoding, version)
        tags = {"a": _Text("one"), _Text("b"): "two", "c": 3, "d": "four"}
        enc.put([_DuckSpan(tags, {"m": True, "n": 1.5, _Text("o"): 2})])
        size = enc.size
        tags = {"a": "one", "b": None}
        tags["z"] = _Text("zz", grow=tags)
        with pytest.raises(RuntimeError, match="changed size"):
            enc.put([_DuckSpan(tags, {})])
        metrics = {"m": 1}
        metrics["z"] = _Number(2.5, grow=metrics)
        with pytest.raises(RuntimeError, match="changed size"):
            enc.put([_DuckSpan({}, metrics)])
        assert enc.size == size and len(enc) == 1  # refused: the buffer as it was
        payloads.append(enc.encode()[0][0])
    assert payloads[0] == payloads[1]
    span = decode(payloads[0], version)[0][0]
    assert span["meta"] == {"a": "one", "b": "two", "c": "3", "d": "four"}
    assert typed(span["metrics"]) == typed({"m": 1, "n": 1.5, "o": 2})


@pytest.mark.parametrize("version", VERSIONS)
def test_buffer_is_reused_across_payloads(encoding, spanmod, version):
    enc = encoder_of(encoding, version)
    big = small_trace(spanmod, 50, tag="%05d" + "y" * 24990)  # > 1 MiB: the buffer grows, then is given back
    enc.put(big)
    first = enc.encode()[0][0]
    assert len(first) > 1 << 20
    enc.put(small_trace(spanmod, tag="small"))
    second = enc.encode()[0][0]
    assert len(second) < 300 and decode(second, version)[0][0]["meta"]["k"] == "small"
    enc.put(big)
    assert enc.encode()[0][0] == first


@pytest.mark.parametrize("version", VERSIONS)
def test_unencodable_text_is_escaped_not_fatal(encoding, spanmod, version):
    s = spanmod.Span("op\ud800", trace_id=1, span_id=2)  # a lone surrogate (ddtrace fails the trace)
    s.set_tag("k\udcff", "v")
    s.finish()
    enc = encoder_of(encoding, version)
    enc.put([s])
    span = decode(enc.encode()[0][0], version)[0][0]
    assert span["name"] == "op\\ud800" and span["meta"] == {"k\\udcff": "v"}


@pytest.mark.parametrize("version", VERSIONS)
def test_misuse_raises_clear_errors(encoding, spanmod, version):
    for bad in (0, -1, "10", 1.5, True):
        with pytest.raises(ValueError, match="max_size"):
            encoder_of(encoding, version, bad)
        with pytest.raises(ValueError, match="max_item_size"):
            encoder_of(encoding, version, 100, bad)
    enc = encoder_of(encoding, version)
    for bad in (None, "spans", small_trace(spanmod)[0]):
        with pytest.raises(TypeError, match="list of spans"):
            enc.put(bad)
    with pytest.raises(AttributeError):
        enc.put([object()])  # not a span: refused, buffer unchanged
    assert len(enc) == 0 and enc.encode() == []
    assert enc.content_type == "application/msgpack" and enc.endpoint == version + "/traces"


@pytest.mark.parametrize("version", VERSIONS)
@given(specs=traces())
def test_twins_write_the_same_bytes(twins, version, specs):
    (compiled_enc, pure_enc), (compiled_span, pure_span) = twins("encoding"), twins("span")
    payloads = []
    for encoding, spanmod in ((compiled_enc, compiled_span), (pure_enc, pure_span), (compiled_enc, pure_span)):
        enc = encoder_of(encoding, version)
        for trace in build_traces(spanmod.Span, specs):
            enc.put(trace)
        payloads.append(enc.encode())
    assert payloads[0] == payloads[1] == payloads[2]


@pytest.mark.parametrize("version", VERSIONS)
def test_tracer_spans_encode_their_derived_tags_once(make_tracer, twins, version):
    # the tags a tracer derives instead of storing (language, runtime-id, process_id,
    # _sampling_priority_v1, _dd.top_level) are written as if stored, a replaced one once
    t = make_tracer()
    with t.trace("root", service="svc") as root:
        root.set_tag("http.method", "GET")
        with t.trace("db", service="pg"):
            pass
        with t.trace("inner") as inner:
            inner.set_tag("language", "go")
    with t.trace("other") as other:
        other.remove_tag("language")
        other.set_metric("process_id", 7)
        other.set_tag("_dd.top_level", "x")  # a text tag of that name next to the metric
    traces = t.writer.pop_traces()
    payloads = []
    for encoding in twins("encoding"):
        enc = encoder_of(encoding, version, BIG, BIG)
        for trace in traces:
            enc.put(trace)
        ((payload, count),) = enc.encode()
        payloads.append(payload)
        decoded = decode(payload, version)
        assert count == 2 and [len(trace) for trace in decoded] == [3, 1]
        for trace, got in zip(traces, decoded, strict=True):
            for span, d in zip(trace, got, strict=True):
                assert d.get("meta", {}) == span.get_tags() and d.get("metrics", {}) == span.get_metrics()
    assert decoded[0][0]["meta"]["language"] == "python" and decoded[1][0]["metrics"]["process_id"] == 7
    assert decoded[1][0]["metrics"]["_dd.top_level"] == 1 and decoded[1][0]["meta"]["_dd.top_level"] == "x"
    assert payloads[0] == payloads[1]  # compiled and pure encoders, the same bytes


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("length", [25000, 25001])
def test_long_strings_are_truncated_as_ddtrace_does(encoding, spanmod, version, length):
    def long(c):
        return c * length

    spec = {
        "name": long("n"),
        "service": long("s"),
        "resource": long("é"),
        "type": long("t"),
        "trace_id": 1,
        "span_id": 2,
        "parent_id": None,
        "tags": [(long("k"), long("☃")), ("short", long("v"))],
        "metrics": [(long("m"), 1)],
        "links": [{"trace_id": 5, "span_id": 6, "attributes": {"a": long("a")}, "tracestate": long("t")}],
        "error": 0,
        "start": 1,
        "duration": 2,
    }
    ours = encoder_of(encoding, version, BIG, BIG)
    theirs = ddtrace_encoder(version)
    ours.put(build_traces(spanmod.Span, [[spec]])[0])
    theirs.put(build_traces(DDSpan, [[spec]])[0])
    if version == "v0.5":  # the links JSON is itself cut, so compare it as text
        got = msgpack.unpackb(ours.encode()[0][0], strict_map_key=False)
        expected = msgpack.unpackb(theirs.encode()[0][0], strict_map_key=False)
        resolve = lambda p: sorted(p[0][i] for i in p[1][0][0][9].values())  # noqa: E731
        assert resolve(got) == resolve(expected)
        return
    got = decode(ours.encode()[0][0], version)
    assert typed(got) == typed(decode(theirs.encode()[0][0], version))
    span = got[0][0]
    if length > 25000:
        assert span["name"] == "n" * 2486 + "<truncated>..." and span["meta"]["short"].endswith("<truncated>...")
    else:
        assert span["name"] == "n" * 25000


@pytest.mark.parametrize("version", VERSIONS)
def test_integers_take_their_smallest_msgpack_width(encoding, spanmod, version):
    """Ids, times and metrics at every msgpack width boundary encode as msgpack itself packs them."""
    for v in (0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000, 2**63, 2**64 - 1):
        s = spanmod.Span("op", service="svc", trace_id=v, span_id=v, parent_id=v, start=0.0)
        s.set_metric("m", v)  # dropped from 2**63 on, as ddtrace drops it
        s.finish(finish_time=1.0)
        enc = encoder_of(encoding, version)
        enc.put([s])
        ((payload, _),) = enc.encode()
        packed = msgpack.packb(v)
        if version == "v0.4":
            for key in ("trace_id", "span_id", "parent_id"):
                assert msgpack.packb(key) + packed in payload, (key, hex(v))
        else:  # trace id, span id and parent id follow each other
            assert packed * 3 in payload, hex(v)
        (span,) = decode(payload, version)[0]
        assert span["span_id"] == v and span.get("metrics", {}).get("m") == (v if v < 2**63 else None)
