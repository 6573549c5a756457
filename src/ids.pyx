# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, freethreading_compatible=True
"""Trace and span ids, compiled. Twin of ``ddfast/_pure/ids.py``: same functions, same results.

Ids come from splitmix64 (Steele, Lea & Flood 2014): one 64-bit add and a few multiply/xor-shifts per
id, statistically strong (passes BigCrush), no syscall per call. The state is seeded from the OS at
import and again in every forked child, so parent and child never share a sequence. Under the GIL the
update below is one uninterrupted C step, which makes ``rand64bits`` thread-safe; on a free-threaded
CPython the step is one atomic add, so threads never draw the same state (and ids never repeat).
"""

import os

from libc.stdint cimport uint64_t
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

from idcodec cimport (
    U64_MAX, ascii_str, join_u128, parse_dec_u64, parse_hex_range, parse_hex_u128, split_u128, write_hex16,
)

cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL

# The generator's state: a plain add under the GIL (the GIL makes it one step), an atomic one where
# there is no GIL (free-threaded CPython), so that two threads never draw the same state.
cdef extern from *:
    """
    static uint64_t ddf_id_state = 0;
    #ifdef Py_GIL_DISABLED
    #define ddf_id_step(golden) (__atomic_add_fetch(&ddf_id_state, (golden), __ATOMIC_RELAXED))
    #define ddf_id_set(value) (__atomic_store_n(&ddf_id_state, (value), __ATOMIC_RELAXED))
    #else
    #define ddf_id_step(golden) (ddf_id_state += (golden))
    #define ddf_id_set(value) (ddf_id_state = (value))
    #endif
    """
    uint64_t _step "ddf_id_step"(uint64_t golden) noexcept nogil
    void _set_state "ddf_id_set"(uint64_t value) noexcept nogil


cdef inline uint64_t _mix(uint64_t z) noexcept:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef uint64_t next_u64() noexcept:
    """Next non-zero 64-bit id (for cimport by other compiled modules)."""
    cdef uint64_t z = 0
    while z == 0:
        z = _mix(_step(GOLDEN))
    return z


def seed(value=None):
    """Reseed the generator: from the OS by default, or from ``value`` (reproducible tests)."""
    if value is None:
        value = int.from_bytes(os.urandom(8), "little")
    elif not isinstance(value, int):
        raise TypeError("seed() value must be an int or None, not %s" % type(value).__name__)
    _set_state(<uint64_t>(value & 0xFFFFFFFFFFFFFFFF))


cdef object new_trace_id(bint full):
    """A new trace id: 128 bits in the Datadog layout (unix seconds, 32 zero bits, 64 random bits)
    when ``full``, else 64 random bits (for cimport by other compiled modules)."""
    cdef timespec now
    if full:
        # the precise clock, as the pure twin's time.time(): glibc's time() reads the coarse one, which
        # lags it by up to a tick and so can give the previous second at a second's boundary
        clock_gettime(CLOCK_REALTIME, &now)
        return join_u128((<uint64_t>now.tv_sec & 0xFFFFFFFFULL) << 32, next_u64())
    return next_u64()


def rand64bits():
    """A uniformly random 64-bit integer in [1, 2**64 - 1]: a span id."""
    return next_u64()


def generate_128bit_trace_id():
    """A 128-bit trace id in the Datadog layout: unix seconds, 32 zero bits, 64 random bits."""
    return new_trace_id(True)


def parse_dec(s):
    """The unsigned 64-bit integer spelled by ``s`` in decimal, or None when ``s`` is not one.

    Only ASCII digits: no sign, whitespace, underscore or overflow past 2**64 - 1.
    """
    cdef uint64_t v
    if not isinstance(s, str):
        raise TypeError("parse_dec() expects str, not %s" % type(s).__name__)
    if parse_dec_u64(s, &v) < 0:
        return None
    return v


def parse_hex(s, int width=16, bint strict=False):
    """The unsigned integer spelled by ``s`` in hex (``width`` 16 or 32 digits), or None.

    Strict: exactly ``width`` lowercase hex digits (W3C traceparent, ``_dd.p.tid``). Lenient: 1 to
    ``width`` hex digits of either case (B3). Never a sign, whitespace or ``0x`` prefix.
    """
    cdef uint64_t hi = 0, lo = 0
    cdef Py_ssize_t n
    if not isinstance(s, str):
        raise TypeError("parse_hex() expects str, not %s" % type(s).__name__)
    if width != 16 and width != 32:
        raise ValueError("parse_hex() width must be 16 or 32, not %r" % width)
    n = len(s)
    if strict and n != width:
        return None
    if width == 16:
        if parse_hex_range(s, 0, n, strict, &lo) < 0:
            return None
        return lo
    if parse_hex_u128(s, 0, n, strict, &hi, &lo) < 0:
        return None
    return join_u128(hi, lo)


cdef inline uint64_t _checked_u64(n, const char *func) except? 0:
    if not isinstance(n, int):
        raise TypeError("%s() expects int, not %s" % (func.decode(), type(n).__name__))
    if n < 0 or n > U64_MAX:
        raise ValueError("%s() expects an unsigned 64-bit int, got %r" % (func.decode(), n))
    return <uint64_t>n


def format_dec(n):
    """Unsigned decimal of a 64-bit id (``x-datadog-trace-id``, ``x-datadog-parent-id``)."""
    cdef char buf[20]
    cdef int i = 20
    cdef uint64_t v = _checked_u64(n, "format_dec")
    while True:
        i -= 1
        buf[i] = <char>(48 + v % 10)
        v //= 10
        if v == 0:
            break
    return ascii_str(buf + i, 20 - i)


def format_hex(n, int width=16):
    """Zero-padded lowercase hex of an id: 16 digits (64-bit) or 32 digits (128-bit)."""
    cdef char buf[32]
    if width == 16:
        write_hex16(buf, _checked_u64(n, "format_hex"))
        return ascii_str(buf, 16)
    if width != 32:
        raise ValueError("format_hex() width must be 16 or 32, not %r" % width)
    cdef uint64_t hi, lo
    if not isinstance(n, int):
        raise TypeError("format_hex() expects int, not %s" % type(n).__name__)
    if n < 0 or n >> 128:
        raise ValueError("format_hex() expects an unsigned 128-bit int, got %r" % n)
    split_u128(n, &hi, &lo)
    write_hex16(buf, hi)
    write_hex16(buf + 16, lo)
    return ascii_str(buf, 32)


seed()
os.register_at_fork(after_in_child=seed)
