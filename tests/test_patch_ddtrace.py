"""``ddfast.patch_ddtrace()``: ddtrace's own HTTPPropagator, run on ddfast's core, gives what ddtrace
gives: the same extracted contexts (as ddtrace types) and the same injected headers, for random and
mutated header sets and contexts (the differential suite's generators)."""

import re

import pytest
import test_propagation_differential as diff
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ddfast import ddtrace_patch
from ddfast.tools.request_bench import NullWriter

DDPropagator = diff.DDPropagator


@pytest.fixture
def patched(prop):
    original = (DDPropagator.inject, DDPropagator.extract)
    assert ddtrace_patch.patch_ddtrace(_core_module=prop) is True
    try:
        yield original
    finally:
        ddtrace_patch.unpatch_ddtrace()
    assert (DDPropagator.inject, DDPropagator.extract) == original


@settings(max_examples=300)
@given(data=st.data())
def test_patched_extract_equals_ddtrace(patched, data):
    original_extract = patched[1]
    headers = data.draw(diff.header_sets())
    assume(diff.known_difference(headers) is None)
    theirs = diff._extracted(original_extract(diff.w3c_members_only_headers(headers)))  # README: W3C grammar
    assume(not diff.ddtrace_dropped_everything(headers, diff._PlainSettings(extract_styles=diff.STYLES), theirs))
    ours = DDPropagator.extract(headers)
    assert type(ours).__name__ == "Context" and type(ours).__module__.startswith("ddtrace")
    assert diff._extracted(ours) == theirs


@settings(max_examples=200)
@given(args=diff.context_args())
def test_patched_inject_equals_ddtrace(patched, args):
    original_inject = patched[0]
    args["meta"].pop("_dd.parent_id", None)
    mine, theirs = {}, {}
    DDPropagator.inject(diff.DDContext(**args), mine)
    original_inject(diff.DDContext(**diff.ddtrace_context_args(args)), theirs)  # README: W3C grammar, limits
    diff.as_ddfast_sends(mine, theirs)
    assert mine == theirs


def test_a_ddtrace_service_continues_and_sends_a_trace(patched, monkeypatch):
    from ddtrace.trace import tracer

    monkeypatch.setattr(tracer._span_aggregator, "writer", NullWriter())

    incoming = {
        "x-datadog-trace-id": "123",
        "x-datadog-parent-id": "456",
        "x-datadog-sampling-priority": "2",
        "x-datadog-tags": "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000",
        "traceparent": "00-640cfd8d00000000000000000000007b-00000000000001c8-01",
    }
    ctx = DDPropagator.extract(incoming)
    with tracer.start_span("handle", child_of=ctx) as span:
        outgoing = {}
        DDPropagator.inject(span, outgoing)
    assert span.trace_id == (0x640CFD8D << 96) | 123 and span.parent_id == 456
    assert outgoing["x-datadog-trace-id"] == "123" and outgoing["x-datadog-parent-id"] == str(span.span_id)
    assert outgoing["x-datadog-sampling-priority"] == "2"
    assert "_dd.p.dm=-4" in outgoing["x-datadog-tags"]


def test_patching_again_refreshes_and_unpatch_is_idempotent(prop):
    try:
        assert ddtrace_patch.patch_ddtrace(_core_module=prop) is True
        assert ddtrace_patch.patch_ddtrace(_core_module=prop) is False
    finally:
        ddtrace_patch.unpatch_ddtrace()
        ddtrace_patch.unpatch_ddtrace()
    assert DDPropagator.extract.__module__ == "ddtrace.propagation.http"


# -- a ddtrace span whose trace is undecided, injected by ddfast: decided first, as ddtrace's inject does --


def _generic(headers, span):
    """``headers`` with ``span``'s ids (and the random value derived from its trace id) replaced by
    names, so that the headers of two traces compare."""
    names = (
        ("%032x" % span.trace_id, "TRACE"),
        ("%016x" % (span.trace_id >> 64), "TID"),
        ("%016x" % span.span_id, "SPAN"),
        (str(span.trace_id & diff.U64), "TRACE64"),
        (str(span.span_id), "SPANDEC"),
    )
    out = {}
    for name, value in headers.items():
        for real, generic in names:
            value = value.replace(real, generic)
        out[name] = re.sub(r"rv:[0-9a-f]{14}", "rv:RV", value)
    return out


@pytest.fixture
def dd_tracer(monkeypatch):
    from ddtrace.trace import tracer

    monkeypatch.setattr(tracer._span_aggregator, "writer", NullWriter())
    return tracer


@pytest.mark.parametrize("what", ["span", "child span", "active context"])
def test_an_undecided_ddtrace_trace_is_decided_before_ddfast_injects_it(prop, make_tracer, dd_tracer, what):
    make_tracer()  # the tracer of this twin installs the decision before injection
    saved = prop.active_settings()
    prop.configure(prop.Settings())

    def injected(inject):
        root = dd_tracer.trace("root")
        try:
            span = dd_tracer.trace("child") if what == "child span" else root
            obj = span.context if what == "active context" else span
            assert span.context.sampling_priority is None
            headers = {}
            inject(obj, headers)
            if span is not root:
                span.finish()
            return span, headers
        finally:
            root.finish()

    try:
        with diff.ddtrace_settings(prop.Settings()):
            ours_span, ours = injected(prop.http_inject)
            theirs_span, theirs = injected(DDPropagator.inject)
            again = {}
            DDPropagator.inject(ours_span, again)  # ddtrace sends the decision ddfast sent
    finally:
        prop.configure(saved)
    assert ours["x-datadog-sampling-priority"] == "1" and ours["traceparent"].endswith("-01")
    assert _generic(ours, ours_span) == _generic(theirs, theirs_span)
    assert ours == again


def test_an_inactive_undecided_ddtrace_context_is_sent_undecided_as_ddtrace_sends_it(prop, make_tracer, dd_tracer):
    make_tracer()
    saved = prop.active_settings()
    prop.configure(prop.Settings())
    try:
        with diff.ddtrace_settings(prop.Settings()):
            span = dd_tracer.start_span("not active")
            ours, theirs = {}, {}
            prop.http_inject(span.context, ours)
            DDPropagator.inject(span.context, theirs)
            span.finish()
    finally:
        prop.configure(saved)
    assert "x-datadog-sampling-priority" not in ours and ours == theirs


def test_patched_inject_of_an_undecided_span_equals_ddtrace(patched, dd_tracer):
    original_inject = patched[0]
    sent = []
    for inject in (DDPropagator.inject, original_inject):
        with dd_tracer.trace("root") as span:
            headers = {}
            inject(span, headers)
            sent.append(_generic(headers, span))
    assert sent[0] == sent[1] and "ot=rv:RV;th:0" in sent[0]["tracestate"]
