"""``http_inject_pairs``, on both twins: what ``http_inject`` writes into a dict, written as ``(name, value)``
pairs in the dict's order (a message's headers), for every combination of inject styles; values UTF-8
bytes when asked; an undecided trace decided first unless the caller says it has asked already."""

import itertools

import pytest

STYLES = ("datadog", "tracecontext", "b3multi", "b3", "baggage")
COMBINATIONS = [c for n in range(len(STYLES) + 1) for c in itertools.combinations(STYLES, n)]


def _contexts(prop):
    """Fresh contexts (injection can add to a context's meta): local and remote, 64- and 128-bit ids,
    with and without origin, propagated tags, upstream W3C state and baggage."""
    return [
        prop.Context(trace_id=5, span_id=6),
        prop.Context(
            trace_id=(0x6B063316 << 96) | 0xCFC2EF2D8C3C8F69,
            span_id=0x1234567890ABCDEF,
            sampling_priority=1,
            meta={"_dd.p.dm": "-0"},
            is_remote=False,
        ),
        prop.Context(
            trace_id=(7 << 64) | 9,
            span_id=10,
            sampling_priority=2,
            dd_origin="synthetics",
            meta={
                "_dd.p.dm": "-4",
                "_dd.p.usr.id": "dXNlcg==",
                "tracestate": "dd=s:2;o:synthetics,congo=t61rcWkgMzE",
                "traceparent": "00-00000000000000070000000000000009-0000000000000003-01",
                "_dd.parent_id": "0000000000000003",
            },
            baggage={"user.id": "u 1", "region": "eu/west"},
        ),
        prop.Context(trace_id=11, span_id=12, sampling_priority=-1, baggage={"k": "v"}, is_remote=False),
    ]


@pytest.fixture
def active(prop):
    """``active(**settings)``: make them the settings of ``http_inject``; the previous ones restored after."""
    saved = prop.active_settings()
    yield lambda **kw: prop.configure(prop.Settings(**kw))
    prop.configure(saved)


@pytest.mark.parametrize("styles", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
@pytest.mark.parametrize("http_baggage", [False, True])
def test_pairs_are_the_dicts_items_for_every_combination_of_styles(prop, active, styles, http_baggage):
    active(inject_styles=styles, http_baggage=http_baggage)
    for index, (into_dict, into_text, into_bytes) in enumerate(zip(*(_contexts(prop) for _ in range(3)), strict=True)):
        headers = {}
        prop.http_inject(into_dict, headers)
        text = prop.http_inject_pairs(into_text, False)
        assert type(text) is list and text == list(headers.items()), index
        binary = prop.http_inject_pairs(into_bytes, True)
        assert binary == [(name, value.encode("utf-8")) for name, value in headers.items()], index
        # what injection records on the context (the 128-bit id's _dd.p.tid) is recorded the same way
        assert into_text._meta == into_bytes._meta == into_dict._meta, index
    if "datadog" in styles:
        assert text, "a datadog style writes headers"


def test_pairs_of_a_span_and_of_a_failing_style_are_the_dicts(prop, active, make_tracer):
    active(inject_styles=("datadog", "tracecontext"))
    tracer = make_tracer()
    with tracer.trace("request") as request:
        request.context.sampling_priority = 1
        headers = {}
        prop.http_inject(request, headers)
        assert prop.http_inject_pairs(request, True) == [(k, v.encode()) for k, v in headers.items()]
    with pytest.raises(TypeError):
        prop.http_inject_pairs(object(), True)


def test_an_undecided_trace_is_decided_first_unless_the_caller_says_it_has_asked(prop, active):
    active(inject_styles=("datadog",))
    from ddfast.tracer import _sample_before_inject  # the hook every ddfast tracer installs

    asked = []

    def hook(obj, context):
        asked.append(obj)
        context.sampling_priority = 2

    prop.set_before_inject(hook)
    try:
        undecided = prop.Context(trace_id=5, span_id=6)
        pairs = prop.http_inject_pairs(undecided, False, False)
        assert asked == [] and undecided.sampling_priority is None
        assert "x-datadog-sampling-priority" not in dict(pairs)
        pairs = prop.http_inject_pairs(undecided, False)
        assert asked == [undecided] and dict(pairs)["x-datadog-sampling-priority"] == "2"
    finally:
        prop.set_before_inject(_sample_before_inject)
