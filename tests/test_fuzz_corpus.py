"""The fuzzers' committed corpus (tests/fuzz/corpus/<harness>/) replayed through each harness's check,
without atheris: every input on which the compiled and pure twins once disagreed (or that reaches a path
worth keeping) stays checked in every run of the suite, sanitizer builds included."""

import os

import pytest
from fuzz import fuzz_encoding
from fuzz import fuzz_propagation

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "fuzz", "corpus")


def _harness(name):
    return {"propagation": fuzz_propagation, "encoding": fuzz_encoding}[name]


def _inputs(name):
    folder = os.path.join(CORPUS, name)
    return sorted(os.listdir(folder))


def _read(name, entry):
    with open(os.path.join(CORPUS, name, entry), "rb") as f:
        return f.read()


@pytest.mark.parametrize("entry", _inputs("propagation"))
def test_propagation_corpus(twins, entry):
    compiled, pure = twins("propagation")
    _harness("propagation").check(_read("propagation", entry), compiled, pure)


@pytest.mark.parametrize("entry", _inputs("encoding"))
def test_encoding_corpus(twins, entry):
    _harness("encoding").check(_read("encoding", entry), {"encoding": twins("encoding"), "span": twins("span")})


def test_corpus_is_small_and_every_harness_has_one():
    sizes = [os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(CORPUS) for f in files]
    assert len(sizes) < 200 and sum(sizes) < 1 << 20
    for name in ("propagation", "encoding"):
        assert _inputs(name), name


def test_the_propagation_check_catches_a_disagreement_and_a_broken_member(twins):
    # the harness is only worth its runs if it fails: a pure twin that forwards what it should drop
    harness = _harness("propagation")
    compiled, pure = twins("propagation")
    data = b"t t\ntraceparent:00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\ntracestate:a=1"
    harness.check(data, compiled, pure)

    class Forwarding:
        def __getattr__(self, name):
            return getattr(pure, name)

        @staticmethod
        def inject(ctx, headers, s):
            pure.inject(ctx, headers, s)
            headers["tracestate"] = headers.get("tracestate", "") + ",FOO=1"

    with pytest.raises(AssertionError):
        harness.check(data, compiled, Forwarding())
    with pytest.raises(AssertionError, match="grammar"):
        harness.check_sent({"tracestate": "dd=s:1,FOO=1"})


def test_the_encoding_seed_writer_reads_back(twins):
    harness = _harness("encoding")
    span = {"name": "web", "service": "svc", "resource": None, "span_type": "http", "span_id": 2**64 - 1,
            "parent_id": 5, "calls": [("set_tag", ("k", "v")), ("set_metric", ("m", 2**63)), ("error", (1,)),
                                      ("set_link", (7, 8, "dd=s:1", 1, {"a": ["x", "y"]}))],
            "start": 10, "duration": 20}  # fmt: skip
    r = harness.Reader(harness.encode_seed("v0.5", (0, 0), [(2**127, [span])]))
    assert (r.choice(2), r.choice(6), r.choice(3)) == (1, 0, 0)
    ((trace_id, (read,)),) = harness.read_traces(r)
    assert trace_id == 2**127 and read["trace_id"] == 2**127
    assert {k: read[k] for k in span if k != "calls"} == {k: span[k] for k in span if k != "calls"}
    assert read["calls"] == span["calls"]
