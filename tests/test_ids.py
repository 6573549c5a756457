"""Trace and span ids and the id codecs, on both implementations."""

import os
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ddfast
from ddfast._pure import ids as pure_ids
from ddfast.ids import new_trace_id

U64 = 2**64 - 1
U128 = 2**128 - 1
DRAWS = 100_000


# -- the generator ------------------------------------------------------------------------------


def test_known_answer_splitmix64(ids):
    # Reference outputs of splitmix64 seeded with 0 (Vigna's splitmix64.c).
    ids.seed(0)
    assert [ids.rand64bits() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    ids.seed()


def test_twins_draw_the_same_sequence(ids):
    ids.seed(2**64 + 7)  # seeds are taken modulo 2**64
    ours = [ids.rand64bits() for _ in range(1000)]
    pure_ids.seed(7)
    assert ours == [pure_ids.rand64bits() for _ in range(1000)]
    ids.seed()
    pure_ids.seed()


def test_span_ids_are_nonzero_64bit_and_distinct(ids):
    draws = [ids.rand64bits() for _ in range(DRAWS)]
    assert all(0 < d <= U64 for d in draws)
    assert len(set(draws)) == DRAWS


def test_span_id_bits_are_balanced(ids):
    draws = [ids.rand64bits() for _ in range(DRAWS)]
    # each bit is a Bernoulli(1/2): sd = sqrt(n)/2 ~ 158; allow 5 sd (false alarm ~ 4e-5 over 64 bits)
    limit = 5 * (DRAWS**0.5) / 2
    for bit in range(64):
        ones = sum((d >> bit) & 1 for d in draws)
        assert abs(ones - DRAWS / 2) < limit, "bit %d set %d times in %d draws" % (bit, ones, DRAWS)


def test_seeded_sequence_is_reproducible(ids):
    ids.seed(12345)
    first = [ids.rand64bits() for _ in range(10)]
    ids.seed(12345)
    assert [ids.rand64bits() for _ in range(10)] == first
    ids.seed()
    assert [ids.rand64bits() for _ in range(10)] != first


def test_seed_rejects_non_int(ids):
    with pytest.raises(TypeError, match="seed"):
        ids.seed("42")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_draws_a_different_sequence(ids):
    ids.seed(987654321)  # parent and child would share this state without the at-fork reseed
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_fd)
            values = ",".join(str(ids.rand64bits()) for _ in range(8))
            os.write(write_fd, values.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        child = [int(v) for v in pipe.read().split(",")]
    os.waitpid(pid, 0)
    parent = [ids.rand64bits() for _ in range(8)]
    assert len(child) == 8
    assert not set(child) & set(parent)
    ids.seed()


def test_threads_never_draw_the_same_id(ids):
    per_thread, n_threads = 20_000, 8
    results = [None] * n_threads
    start = threading.Barrier(n_threads)

    def work(slot):
        start.wait()
        results[slot] = [ids.rand64bits() for _ in range(per_thread)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [v for chunk in results for v in chunk]
    assert len(everything) == per_thread * n_threads
    assert len(set(everything)) == len(everything)


def test_128bit_trace_id_layout(ids):
    before = int(time.time())
    trace_id = ids.generate_128bit_trace_id()
    after = int(time.time())
    assert 0 < trace_id <= U128
    assert before <= trace_id >> 96 <= after  # upper 32 bits: unix seconds
    assert (trace_id >> 64) & 0xFFFFFFFF == 0  # next 32 bits: zero
    assert trace_id & U64 != 0  # low 64 bits: random, non-zero


def test_new_trace_id_follows_the_128bit_setting(monkeypatch):
    monkeypatch.setattr(ddfast.config, "trace_128_bit_traceid_generation_enabled", True)
    assert new_trace_id() > U64
    monkeypatch.setattr(ddfast.config, "trace_128_bit_traceid_generation_enabled", False)
    assert 0 < new_trace_id() <= U64


def test_128bit_setting_is_read_from_the_environment():
    from ddfast.settings import Config

    assert Config({}).trace_128_bit_traceid_generation_enabled is True
    assert (
        Config({"DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED": "false"}).trace_128_bit_traceid_generation_enabled
        is False
    )
    assert (
        Config({"DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED": "TRUE"}).trace_128_bit_traceid_generation_enabled is True
    )
    assert (
        Config({"DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED": "0"}).trace_128_bit_traceid_generation_enabled is False
    )


# -- codecs -------------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=U64))
def test_decimal_round_trip(ids, n):
    text = ids.format_dec(n)
    assert text == str(n)
    assert ids.parse_dec(text) == n


@given(st.integers(min_value=0, max_value=U64))
def test_hex16_round_trip(ids, n):
    text = ids.format_hex(n)
    assert text == "%016x" % n and len(text) == 16
    assert ids.parse_hex(text, 16, True) == n
    assert ids.parse_hex(text.upper()) == n


@given(st.integers(min_value=0, max_value=U128))
def test_hex32_round_trip(ids, n):
    text = ids.format_hex(n, 32)
    assert text == "%032x" % n and len(text) == 32
    assert ids.parse_hex(text, 32, True) == n
    assert ids.parse_hex(text.lstrip("0") or "0", 32) == n


@pytest.mark.parametrize(
    "text",
    [
        "",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1_000",
        "0x1f",
        "1e3",
        "1.0",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11",  # fullwidth 1
        "18446744073709551616",
        "99999999999999999999",
        "1" * 4400,
        "12\x00",
    ],
)
def test_parse_dec_rejects(ids, text):
    assert ids.parse_dec(text) is None


@pytest.mark.parametrize(
    "text,expected",
    [("0", 0), ("1", 1), ("18446744073709551615", U64), ("0000000000000000000000000042", 42), ("0" * 5000, 0)],
)
def test_parse_dec_accepts(ids, text, expected):
    assert ids.parse_dec(text) == expected


@pytest.mark.parametrize(
    "text,width,strict",
    [
        ("", 16, False),
        ("0x1f", 16, False),
        ("-1", 16, False),
        (" 1", 16, False),
        ("g", 16, False),
        ("1" * 17, 16, False),
        ("1" * 33, 32, False),
        ("ABCDEF0123456789", 16, True),
        ("abc", 16, True),
        ("1" * 31, 32, True),
        ("\uff11", 16, False),
        ("12_3", 16, False),
    ],
)
def test_parse_hex_rejects(ids, text, width, strict):
    assert ids.parse_hex(text, width, strict) is None


@given(st.text(max_size=40))
def test_twins_agree_on_any_text(ids, text):
    for width in (16, 32):
        for strict in (False, True):
            assert ids.parse_hex(text, width, strict) == pure_ids.parse_hex(text, width, strict)
    assert ids.parse_dec(text) == pure_ids.parse_dec(text)


@pytest.mark.parametrize("digits", ["12345678", "1234567890123456", "5208471231060165668", "18446744073709551615"])
def test_twins_agree_on_every_one_byte_character_anywhere_in_a_decimal_id(ids, digits):
    # up to 19 digits the compiled parser reads 1-byte text eight characters at a time: each character,
    # replaced by every character U+0000..U+00FF, is judged as the pure twin does (20 digits: one at a time)
    for i in range(len(digits)):
        for c in range(256):
            text = digits[:i] + chr(c) + digits[i + 1 :]
            assert ids.parse_dec(text) == pure_ids.parse_dec(text), (i, c)
    for cut in range(len(digits) + 1):
        assert ids.parse_dec(digits[:cut]) == (int(digits[:cut]) if cut else None)


@pytest.mark.parametrize("func", ["parse_dec", "parse_hex"])
@pytest.mark.parametrize("bad", [b"12", 12, None])
def test_parsers_reject_non_str(ids, func, bad):
    with pytest.raises(TypeError, match=func):
        getattr(ids, func)(bad)


def test_formatters_reject_misuse(ids):
    with pytest.raises(TypeError, match="format_dec"):
        ids.format_dec("1")
    with pytest.raises(ValueError, match="format_dec"):
        ids.format_dec(-1)
    with pytest.raises(ValueError, match="format_dec"):
        ids.format_dec(2**64)
    with pytest.raises(ValueError, match="format_hex"):
        ids.format_hex(2**64)
    with pytest.raises(ValueError, match="format_hex"):
        ids.format_hex(2**128, 32)
    with pytest.raises(ValueError, match="width"):
        ids.format_hex(1, 8)
    with pytest.raises(ValueError, match="width"):
        ids.parse_hex("1", 8)
    assert ids.format_dec(True) == "1"
