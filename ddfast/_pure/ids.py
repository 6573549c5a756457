"""Trace and span ids, pure Python. Twin of ``src/ids.pyx``: same functions, same results.

Ids come from splitmix64 (Steele, Lea & Flood 2014). Its state after n steps is ``seed + n * GOLDEN``,
so here the step counter is an ``itertools.count``, whose ``next`` is atomic under the GIL: that makes
``rand64bits`` thread-safe without a lock, and yields exactly the compiled twin's sequence for the same
seed. The state is seeded from the OS at import and again in every forked child.
"""

import itertools
import os
import time

_MASK64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15
_HEX = frozenset("0123456789abcdefABCDEF")
_LOWER_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")

_base = 0
_steps = itertools.count(1)


def seed(value=None):
    """Reseed the generator: from the OS by default, or from ``value`` (reproducible tests)."""
    global _base, _steps
    if value is None:
        value = int.from_bytes(os.urandom(8), "little")
    elif not isinstance(value, int):
        raise TypeError("seed() value must be an int or None, not %s" % type(value).__name__)
    _base = value & _MASK64
    _steps = itertools.count(1)


def rand64bits():
    """A uniformly random 64-bit integer in [1, 2**64 - 1]: a span id."""
    while True:
        z = (_base + next(_steps) * _GOLDEN) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
        if z:
            return z


def generate_128bit_trace_id():
    """A 128-bit trace id in the Datadog layout: unix seconds, 32 zero bits, 64 random bits."""
    return ((int(time.time()) & 0xFFFFFFFF) << 96) | rand64bits()


def parse_dec(s):
    """The unsigned 64-bit integer spelled by ``s`` in decimal, or None when ``s`` is not one.

    Only ASCII digits: no sign, whitespace, underscore or overflow past 2**64 - 1.
    """
    if not isinstance(s, str):
        raise TypeError("parse_dec() expects str, not %s" % type(s).__name__)
    if not s or not _DIGITS.issuperset(s):
        return None
    digits = s.lstrip("0")
    if len(digits) > 20:  # also keeps int() clear of its digit limit on hostile input
        return None
    v = int(digits or "0")
    return v if v <= _MASK64 else None


def parse_hex(s, width=16, strict=False):
    """The unsigned integer spelled by ``s`` in hex (``width`` 16 or 32 digits), or None.

    Strict: exactly ``width`` lowercase hex digits (W3C traceparent, ``_dd.p.tid``). Lenient: 1 to
    ``width`` hex digits of either case (B3). Never a sign, whitespace or ``0x`` prefix.
    """
    if not isinstance(s, str):
        raise TypeError("parse_hex() expects str, not %s" % type(s).__name__)
    if width != 16 and width != 32:
        raise ValueError("parse_hex() width must be 16 or 32, not %r" % (width,))
    n = len(s)
    if strict:
        if n != width or not _LOWER_HEX.issuperset(s):
            return None
    elif n == 0 or n > width or not _HEX.issuperset(s):
        return None
    return int(s, 16)


def _checked_u64(n, func):
    if not isinstance(n, int):
        raise TypeError("%s() expects int, not %s" % (func, type(n).__name__))
    if n < 0 or n > _MASK64:
        raise ValueError("%s() expects an unsigned 64-bit int, got %r" % (func, n))
    return n


def format_dec(n):
    """Unsigned decimal of a 64-bit id (``x-datadog-trace-id``, ``x-datadog-parent-id``)."""
    return "%d" % _checked_u64(n, "format_dec")


def format_hex(n, width=16):
    """Zero-padded lowercase hex of an id: 16 digits (64-bit) or 32 digits (128-bit)."""
    if width == 16:
        return "%016x" % _checked_u64(n, "format_hex")
    if width != 32:
        raise ValueError("format_hex() width must be 16 or 32, not %r" % (width,))
    if not isinstance(n, int):
        raise TypeError("format_hex() expects int, not %s" % type(n).__name__)
    if n < 0 or n >> 128:
        raise ValueError("format_hex() expects an unsigned 128-bit int, got %r" % n)
    return "%032x" % n


seed()
os.register_at_fork(after_in_child=seed)
