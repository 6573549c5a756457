"""Differential fuzzing of the trace encoders: the compiled and pure twins given the same spans.

An input is bytes read in order by ``Reader`` (past its end, zeros): the version (v0.4 or v0.5) and the
buffer's limits, then traces of spans: ids at and around every integer width, names, services,
resources and types of any text (invalid UTF-8 becomes lone surrogates), tags of every value type,
metrics of every number (huge ints, NaN, infinities, bools), span links, error, start and duration.
``encode_seed`` writes the bytes that read back as a given description, so seeds can be written by
hand (``make_seeds``).

``check`` builds the same spans three times (compiled span and encoder; pure span and encoder; pure
span, compiled encoder) and fails when any step (building a span, ``put``, ``len``, ``size``,
``encode``) gives another result or another exception type in one of them. Run it under atheris
(``make fuzz``) or replay inputs with ``check`` (tests/test_fuzz_corpus.py).
"""

import struct
import sys

# integers at the edges msgpack's encodings and the ids' widths meet
EDGES = [0, 1, 127, 128, 255, 256, 2**15, 2**16 - 1, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1,
         2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**127, 2**128 - 1, 2**128, -1, -32, -33, -128, -129, -(2**15) - 1,
         -(2**31), -(2**31) - 1, -(2**63), -(2**63) - 1, 10**30]  # fmt: skip
FLOATS = [0.0, -0.0, 0.5, 1e300, -1e-300, float("inf"), float("-inf"), float("nan"), 2.0**63, 2.0**64]
TEXTS = ["", "a", "é", "\u2603", "\U0001f600", "_dd.origin", "_dd.p.tid", "_dd.p.dm", "env", "version",
         "service.name", "manual.keep", "manual.drop", "_dd.measured", "_sampling_priority_v1", "x" * 300]  # fmt: skip
BIG = 20 << 20


class Reader:
    """The fuzz input as a stream of small decisions."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def uint(self, nbytes):
        raw = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return int.from_bytes(raw.ljust(nbytes, b"\0"), "big")

    def choice(self, n):
        return self.byte() % n

    def text(self):
        kind = self.choice(4)
        if kind == 0:
            return TEXTS[self.choice(len(TEXTS))]
        n = self.byte()
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", "surrogateescape" if kind == 1 else "replace")

    def integer(self):
        kind = self.choice(4)
        if kind == 0:
            return EDGES[self.choice(len(EDGES))]
        if kind == 1:
            return self.uint(8)
        if kind == 2:
            return self.uint(8) - 2**63
        return self.uint(1) - 128

    def number(self):
        kind = self.choice(4)
        if kind == 0:
            return self.integer()
        if kind == 1:
            return FLOATS[self.choice(len(FLOATS))]
        if kind == 2:
            return struct.unpack(">d", self.uint(8).to_bytes(8, "big"))[0]
        return bool(self.choice(2))

    def value(self):
        kind = self.choice(6)
        if kind == 0:
            return self.number()
        if kind == 1:
            return None
        if kind == 2:
            return [self.text() for _ in range(self.choice(3))]
        return self.text()

    def trace_id(self):
        kind = self.choice(3)
        if kind == 0:
            return EDGES[self.choice(len(EDGES))]
        return self.uint(8 if kind == 1 else 16)


def read_traces(r):
    """[(trace_id, [span description])] from the reader: a description is a list of (method, args)."""
    traces = []
    for _ in range(r.choice(4)):
        trace_id = r.trace_id()
        spans = []
        for _ in range(r.choice(5)):
            span = {
                "name": r.text(),
                "service": r.text() if r.choice(2) else None,
                "resource": r.text() if r.choice(2) else None,
                "span_type": r.text() if r.choice(2) else None,
                "trace_id": trace_id if r.choice(4) else r.trace_id(),
                "span_id": r.trace_id(),
                "parent_id": r.trace_id() if r.choice(2) else None,
                "calls": [],
            }
            for _ in range(r.choice(6)):
                what = r.choice(4)
                if what == 0:
                    span["calls"].append(("set_tag", (r.text(), r.value())))
                elif what == 1:
                    span["calls"].append(("set_metric", (r.text(), r.number())))
                elif what == 2:
                    attributes = {r.text(): r.value() for _ in range(r.choice(3))}
                    flags = r.choice(4)
                    flags = r.integer() if flags == 3 else [None, 0, 1][flags]
                    tracestate = r.text() if r.choice(2) else None
                    span["calls"].append(("set_link", (r.trace_id(), r.trace_id(), tracestate, flags, attributes)))
                else:
                    span["calls"].append(("error", (r.choice(2),)))
            span["start"] = r.uint(8) >> (1 + r.choice(3))  # within int64, as start_ns must be
            span["duration"] = r.uint(8) >> (1 + r.choice(3))
            spans.append(span)
        traces.append((trace_id, spans))
    return traces


def _outcome(fn, *args):
    """("ok", result) or ("raised", exception type name)."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the twins must agree on the type, whatever it is
        return ("raised", type(exc).__name__)


def _build(Span, desc):
    span = Span(desc["name"], service=desc["service"], resource=desc["resource"], span_type=desc["span_type"],
                trace_id=desc["trace_id"], span_id=desc["span_id"], parent_id=desc["parent_id"])  # fmt: skip
    log = []
    for method, args in desc["calls"]:
        if method == "error":
            span.error = args[0]
            continue
        outcome = _outcome(getattr(span, method), *args)
        log.append((method, outcome[0] if outcome[0] == "ok" else outcome))
    span.start_ns = desc["start"]
    span.duration_ns = desc["duration"]
    return span, log


def _run(encoding, spanmod, version, limits, traces):
    cls = encoding.MsgpackEncoderV04 if version == "v0.4" else encoding.MsgpackEncoderV05
    enc = cls(*limits)
    out = []
    for _, descs in traces:
        trace = []
        for desc in descs:
            built = _outcome(_build, spanmod.Span, desc)
            if built[0] == "raised":
                out.append(built)
                continue
            span, log = built[1]
            out.append(log)
            trace.append(span)
        out.append(_outcome(enc.put, trace))
        out.append((len(enc), enc.size))
    out.append(_outcome(enc.encode))
    out.append((len(enc), enc.size))
    return out


def check(data, twins):
    """Fail (AssertionError) when the twins' encoders disagree on the spans ``data`` describes.
    ``twins``: {"encoding": (compiled, pure), "span": (compiled, pure)}."""
    r = Reader(data)
    version = "v0.5" if r.choice(2) else "v0.4"
    limit = [BIG, BIG, 1 << 10, 1 << 14, 200, 64][r.choice(6)]
    limits = (limit, [limit, 1 << 10, 300][r.choice(3)])
    traces = read_traces(r)
    (c_enc, p_enc), (c_span, p_span) = twins["encoding"], twins["span"]
    compiled = _run(c_enc, c_span, version, limits, traces)
    pure = _run(p_enc, p_span, version, limits, traces)
    assert compiled == pure, "the twins disagree (%s, limits %r):\ncompiled %r\npure     %r" % (
        version,
        limits,
        compiled,
        pure,
    )
    mixed = _run(c_enc, p_span, version, limits, traces)
    assert mixed == pure, "the compiled encoder disagrees on pure spans:\n%r\n%r" % (mixed, pure)


# -- writing inputs by hand ------------------------------------------------------------------------------


class Writer:
    """The bytes a ``Reader`` reads back as the decisions written (for hand-made seeds)."""

    def __init__(self):
        self.out = bytearray()

    def byte(self, b):
        self.out.append(b)

    def uint(self, v, nbytes):
        self.out += v.to_bytes(nbytes, "big")

    def text(self, s):
        if s in TEXTS:
            self.byte(0)
            self.byte(TEXTS.index(s))
        else:
            raw = s.encode("utf-8", "surrogateescape")
            self.byte(1)
            self.byte(len(raw))
            self.out += raw

    def integer(self, v):
        if v in EDGES:
            self.byte(0)
            self.byte(EDGES.index(v))
        else:
            self.byte(1)
            self.uint(v, 8)

    def number(self, v):
        if isinstance(v, bool):
            self.byte(3)
            self.byte(int(v))
        elif isinstance(v, int):
            self.byte(0)
            self.integer(v)
        else:
            self.byte(2)
            self.out += struct.pack(">d", v)

    def value(self, v):
        if v is None:
            self.byte(1)
        elif isinstance(v, list):
            self.byte(2)
            self.byte(len(v))
            for item in v:
                self.text(item)
        elif isinstance(v, str):
            self.byte(3)
            self.text(v)
        else:
            self.byte(0)
            self.number(v)

    def trace_id(self, v):
        if v in EDGES:
            self.byte(0)
            self.byte(EDGES.index(v))
        else:
            self.byte(2)
            self.uint(v, 16)


def encode_seed(version, limit_choice, traces):
    """Seed bytes: ``traces`` is [(trace_id, [span])], a span a dict with name, service, resource,
    span_type (None or text), span_id, parent_id, calls [(method, args)], start, duration."""
    w = Writer()
    w.byte(1 if version == "v0.5" else 0)
    w.byte(limit_choice[0])
    w.byte(limit_choice[1])
    w.byte(len(traces))
    for trace_id, spans in traces:
        w.trace_id(trace_id)
        w.byte(len(spans))
        for span in spans:
            w.text(span["name"])
            for key in ("service", "resource", "span_type"):
                if span.get(key) is None:
                    w.byte(0)
                else:
                    w.byte(1)
                    w.text(span[key])
            w.byte(1)  # the trace's id
            w.trace_id(span["span_id"])
            if span.get("parent_id") is None:
                w.byte(0)
            else:
                w.byte(1)
                w.trace_id(span["parent_id"])
            calls = span.get("calls", [])
            w.byte(len(calls))
            for method, args in calls:
                if method == "set_tag":
                    w.byte(0)
                    w.text(args[0])
                    w.value(args[1])
                elif method == "set_metric":
                    w.byte(1)
                    w.text(args[0])
                    w.number(args[1])
                elif method == "set_link":
                    trace, span_id, tracestate, flags, attributes = args
                    w.byte(2)
                    w.byte(len(attributes))
                    for k, v in attributes.items():
                        w.text(k)
                        w.value(v)
                    if flags in (None, 0, 1):
                        w.byte([None, 0, 1].index(flags))
                    else:
                        w.byte(3)
                        w.integer(flags)
                    if tracestate is None:
                        w.byte(0)
                    else:
                        w.byte(1)
                        w.text(tracestate)
                    w.trace_id(trace)
                    w.trace_id(span_id)
                else:
                    w.byte(3)
                    w.byte(args[0])
            w.uint(span.get("start", 1_700_000_000_000_000_000) << 1, 8)
            w.byte(0)
            w.uint(span.get("duration", 1_000_000) << 1, 8)
            w.byte(0)
    return bytes(w.out)


def main():
    import atheris

    with atheris.instrument_imports(include=["ddfast"]):
        from ddfast._ext import encoding as c_enc
        from ddfast._ext import span as c_span
        from ddfast._pure import encoding as p_enc
        from ddfast._pure import span as p_span
    twins = {"encoding": (c_enc, p_enc), "span": (c_span, p_span)}

    def one_input(data):
        check(data, twins)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
