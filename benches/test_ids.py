"""Id generation and id codecs: ddfast compiled vs ddfast pure vs ddtrace 4.16 (one group each)."""

import pytest

TRACE_ID_128 = 0x6B06331600000000CFC2EF2D8C3C8F69
SPAN_ID = 0xCFC2EF2D8C3C8F69


@pytest.mark.benchmark(group="ids: rand64bits")
def test_rand64bits(benchmark, ids):
    assert benchmark(ids.rand64bits) > 0


@pytest.mark.benchmark(group="ids: generate_128bit_trace_id")
def test_generate_128bit_trace_id(benchmark, ids):
    assert benchmark(ids.generate_128bit_trace_id) >> 64


@pytest.mark.benchmark(group="ids: format_dec")
def test_format_dec(benchmark, ids):
    assert benchmark(ids.format_dec, SPAN_ID) == str(SPAN_ID)


@pytest.mark.benchmark(group="ids: format_hex 32")
def test_format_hex32(benchmark, ids):
    assert benchmark(ids.format_hex, TRACE_ID_128, 32) == "%032x" % TRACE_ID_128


@pytest.mark.benchmark(group="ids: parse_dec")
def test_parse_dec(benchmark, ids):
    assert benchmark(ids.parse_dec, str(SPAN_ID)) == SPAN_ID


@pytest.mark.benchmark(group="ids: parse_hex 32 strict")
def test_parse_hex32(benchmark, ids):
    assert benchmark(ids.parse_hex, "%032x" % TRACE_ID_128, 32, True) == TRACE_ID_128
