"""Differential fuzzing of header propagation: the compiled and pure twins given the same headers.

An input is text (UTF-8; invalid bytes become lone surrogates, hostile input too). Its first line picks
the settings, the others are headers, ``name:value`` (the value as written, spaces kept). A line
``@key:value`` instead sets ``key`` in the meta of a local context made in code (an upstream tracestate
set by the application, say). The first line holds up to three words:

- the extraction styles, one letter each: ``d`` datadog, ``t`` tracecontext, ``m`` b3multi, ``b`` b3,
  ``g`` baggage (``-``: none);
- the injection styles, the same way;
- flags: ``f`` extract first, ``r`` restart, ``i`` ignore, ``6`` 64-bit trace ids, ``h`` baggage as span
  tags, ``s`` a small ``x-datadog-tags`` limit, ``p`` the headers as a list of pairs (repeated names
  kept) instead of a dict, ``l`` the context holding the ``@`` meta remote.

``check`` extracts with each twin, injects what it got, then injects a local child of it (``p:`` added to
the ``dd=`` member) and a context of its own holding the ``@`` meta; the two twins must agree on every
field of each context, every header sent and every problem counted (``ERRORS``), and what is sent must
be within W3C's grammar and limits. Run it under atheris (``make fuzz``) or replay inputs with
``check`` (tests/test_fuzz_corpus.py).
"""

import re
import sys

STYLES = {"d": "datadog", "t": "tracecontext", "m": "b3multi", "b": "b3", "g": "baggage"}

# W3C trace context (level 1 and 2): a list member is key "=" value
_KEY = r"[a-z][_0-9a-z\-*/]{0,255}|[0-9a-z][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
W3C_MEMBER = re.compile(r"(?:%s)=(?:%s)" % (_KEY, _VALUE))


def parse(data):
    """(settings words, headers as a list of pairs, local meta, pairs wanted) of an input."""
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    words = lines[0].split(" ") + ["", "", ""]
    headers, meta = [], {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name.startswith("@"):
            meta[name[1:]] = value
        else:
            headers.append((name, value))
    return words[:3], headers, meta


def _styles(word):
    return [STYLES[c] for c in dict.fromkeys(word) if c in STYLES]


def make_settings(prop, words):
    ex, inj, flags = words
    behavior = "restart" if "r" in flags else ("ignore" if "i" in flags else "continue")
    return prop.Settings(
        extract_styles=_styles(ex) if ex else ("datadog", "tracecontext", "baggage"),
        inject_styles=_styles(inj) if inj else ("datadog", "tracecontext", "baggage"),
        extract_first="f" in flags,
        behavior_extract=behavior,
        tags_max_length=40 if "s" in flags else 512,
        trace_id_128="6" not in flags,
        baggage_tag_keys=("*",),
        http_baggage="h" in flags,
    )


def fields(ctx):
    """Everything a context holds, comparable across the twins."""
    return (
        repr(ctx),
        ctx.trace_id,
        ctx.span_id,
        ctx.sampling_priority,
        ctx.dd_origin,
        dict(ctx.meta),
        dict(ctx.baggage),
        [(link.trace_id, link.span_id, link.flags, link.tracestate, dict(link.attributes)) for link in ctx._span_links],
        ctx._is_remote,
    )


def _run(prop, words, headers, meta):
    """What one twin makes of an input: contexts, headers sent, problems counted."""
    before = dict(prop.ERRORS)
    s = make_settings(prop, words)
    carrier = list(headers) if "p" in words[2] else dict(headers)
    ctx = prop.extract(carrier, s)
    sent = {}
    prop.inject(ctx, sent, s)
    out = [fields(ctx), sent]
    trace_id = ctx.trace_id or 5
    child = prop.Context(trace_id=trace_id, span_id=7, meta=dict(ctx.meta), dd_origin=ctx.dd_origin,
                         sampling_priority=ctx.sampling_priority, is_remote=False)  # fmt: skip
    sent = {}
    prop.inject(child, sent, s)
    out.append(sent)
    if meta:
        own = prop.Context(trace_id=trace_id, span_id=9, meta=dict(meta), sampling_priority=ctx.sampling_priority,
                           is_remote="l" in words[2])  # fmt: skip
        sent = {}
        prop.inject(own, sent, s)
        out.append(sent)
    errors = {k: v - before.get(k, 0) for k, v in prop.ERRORS.items() if v != before.get(k, 0)}
    return out, errors


def check_sent(headers):
    """What is sent breaks no header, and its tracestate keeps W3C's grammar and limits."""
    for name, value in headers.items():
        assert type(name) is str and type(value) is str, (name, value)
        assert "\n" not in value and "\r" not in value, (name, value)
    if "traceparent" in headers:
        assert len(headers["traceparent"]) == 55, headers
    ts = headers.get("tracestate")
    if ts:
        members = [m.strip(" \t") for m in ts.split(",")]
        assert len(members) <= 32 and len(ts) <= 512, ts
        for member in members:  # a dd= member too: ours within 256 chars, an upstream one sent on within W3C's
            assert W3C_MEMBER.fullmatch(member), "tracestate member against W3C's grammar: %r in %r" % (member, ts)


def check(data, compiled, pure):
    """Fail (AssertionError) when the twins disagree on ``data`` or send what W3C forbids; an exception
    from either twin propagates (extraction and injection never raise on header content)."""
    words, headers, meta = parse(data)
    ours = _run(compiled, words, headers, meta)
    theirs = _run(pure, words, headers, meta)
    assert ours[0] == theirs[0], "the twins disagree:\ncompiled %r\npure     %r" % (ours[0], theirs[0])
    assert ours[1] == theirs[1], "the twins count different problems: %r != %r" % (ours[1], theirs[1])
    for sent in ours[0][1:]:
        check_sent(sent)


def main():
    import atheris

    with atheris.instrument_imports(include=["ddfast"]):
        from ddfast._ext import propagation as compiled
        from ddfast._pure import propagation as pure

    def one_input(data):
        check(data, compiled, pure)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
