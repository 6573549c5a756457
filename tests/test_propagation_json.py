"""The core's reader of a JSON object of text headers (the ``_datadog`` value of AWS messages), on both
twins: what it reads is what ``json.loads`` reads, and anything it does not read plainly it leaves to
``json.loads`` (None), never a different answer."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

DATADOG = {
    "x-datadog-trace-id": "5208471231060165668",
    "x-datadog-parent-id": "1311768467294899695",
    "x-datadog-sampling-priority": "1",
    "x-datadog-tags": "_dd.p.dm=-1,_dd.p.tid=6b06331600000000",
    "traceparent": "00-6b06331600000000484834fd2e2ec424-1234567890abcdef-01",
    "tracestate": "dd=s:1;p:1234567890abcdef;t.dm:-1;t.tid:6b06331600000000",
}


def test_the_layouts_ddtrace_writes(prop):
    for text in (json.dumps(DATADOG), json.dumps(DATADOG, separators=(",", ":")), json.dumps(DATADOG, indent=2)):
        assert prop.json_headers(text) == list(DATADOG.items())
    assert prop.json_headers("{}") == [] and prop.json_headers(" { } ") == []


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "b\\"c"}',  # an escape: json.loads decides
        '{"a": "\\u0041"}',
        '{"a": "b", "a": "c"}',  # a repeated name: json.loads keeps the last
        '{"a": 1}',  # not a string
        '{"a": {"b": "c"}}',
        '{"a": "b",}',  # not JSON
        '{"a": "b"',
        '{"a" "b"}',
        '["a", "b"]',
        '{"a": "b"} x',
        '{"a": "line\nbreak"}',  # a control character: not JSON
        "",
        "{",
        '{"a": "b"}}',
    ],
)
def test_anything_else_is_left_to_the_json_parser(prop, text):
    assert prop.json_headers(text) is None


@pytest.mark.parametrize("value", [None, b'{"a": "b"}', 42, ["{}"]])
def test_only_text_is_read(prop, value):
    assert prop.json_headers(value) is None


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(st.dictionaries(_text, _text, max_size=6), st.sampled_from([None, 2]), st.booleans())
def test_what_it_reads_is_what_json_reads(prop, headers, indent, ascii_only):
    text = json.dumps(headers, indent=indent, ensure_ascii=ascii_only)
    pairs = prop.json_headers(text)
    if pairs is not None:
        assert dict(pairs) == json.loads(text) and len(pairs) == len(headers)
    else:  # left to json.loads only where a string holds an escape
        assert "\\" in text


@given(st.text(max_size=40))
def test_arbitrary_text_never_raises_and_never_disagrees(prop, text):
    pairs = prop.json_headers(text)
    if pairs is not None:
        assert dict(pairs) == json.loads(text)


def test_the_twins_agree(compiled_prop):
    from ddfast._pure import propagation as pure

    for text in (json.dumps(DATADOG), '{"a": "é", "b": "\U0001f600"}', '{ "a" : "b" , "c" : "d" }', '{"a": 1}'):
        assert compiled_prop.json_headers(text) == pure.json_headers(text)
