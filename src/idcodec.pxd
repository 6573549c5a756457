# cython: language_level=3
"""Inline decimal/hex codecs for 64- and 128-bit ids, shared by the compiled modules (cimport).

Each parser is strict: only ASCII digits (or hex digits), no sign, no whitespace, no prefix, and the
value must fit. They return 0 for success and -1 for any invalid input; the caller decides what an
invalid value means (usually: ignore the header and record why).
"""

from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

cdef extern from "Python.h":
    object PyUnicode_FromKindAndData(int kind, const void *buffer, Py_ssize_t size)
    uint32_t PyUnicode_READ_CHAR(object s, Py_ssize_t i)
    int PyUnicode_KIND(object s)
    void *PyUnicode_DATA(object s)
    uint32_t PyUnicode_READ(int kind, void *data, Py_ssize_t i)
    Py_ssize_t PyUnicode_FindChar(object s, uint32_t ch, Py_ssize_t start, Py_ssize_t end, int direction) except -2

cdef inline uint32_t read_char(int kind, void *data, Py_ssize_t i) noexcept:
    """PyUnicode_READ with the 1-byte (ASCII / Latin-1) case first: what header text nearly always is."""
    if kind == 1:
        return (<unsigned char *>data)[i]
    return PyUnicode_READ(kind, data, i)


# Where CPython's int layout is at hand (not the limited API, not PyPy): its digits, their count, its sign.
cdef extern from *:
    """
    #if !defined(Py_LIMITED_API) && !defined(PYPY_VERSION)
    #define DDF_LONG_INTERNALS 1
    #if PY_VERSION_HEX < 0x030B0000
    #include "longintrepr.h"
    #endif
    #if PY_VERSION_HEX >= 0x030C0000
    #define DDF_LONG_DIGITS(x) (((PyLongObject *)(x))->long_value.ob_digit)
    #define DDF_LONG_NDIGITS(x) ((Py_ssize_t)(((PyLongObject *)(x))->long_value.lv_tag >> 3))
    #define DDF_LONG_IS_NEG(x) ((((PyLongObject *)(x))->long_value.lv_tag & 3) == 2)
    #else
    #define DDF_LONG_DIGITS(x) (((PyLongObject *)(x))->ob_digit)
    #define DDF_LONG_NDIGITS(x) (Py_SIZE(x) < 0 ? -Py_SIZE(x) : Py_SIZE(x))
    #define DDF_LONG_IS_NEG(x) (Py_SIZE(x) < 0)
    #endif
    /* (hi, lo) = the value of n digits d, most significant last; bits above 128 are shifted out */
    static CYTHON_INLINE void ddf_digits_u128(const digit *d, Py_ssize_t n, uint64_t *hi, uint64_t *lo) {
        uint64_t h = 0, l = 0;
        Py_ssize_t j;
        for (j = n - 1; j >= 0; j--) {
            h = (h << PyLong_SHIFT) | (l >> (64 - PyLong_SHIFT));
            l = (l << PyLong_SHIFT) | (uint64_t)d[j];
        }
        *hi = h; *lo = l;
    }
    #else
    #define DDF_LONG_INTERNALS 0
    #endif
    """

# The low 64 bits of an int (PyLong_AsUnsignedLongLongMask), from its digits when it is a non-negative
# exact int: the ids the hot paths hash and format, without a call.
cdef extern from *:
    """
    static CYTHON_INLINE unsigned PY_LONG_LONG ddf_low64(PyObject *v) {
    #if DDF_LONG_INTERNALS
        if (PyLong_CheckExact(v) && !DDF_LONG_IS_NEG(v)) {
            Py_ssize_t n = DDF_LONG_NDIGITS(v);
            uint64_t h, l;
            if (n > (64 + PyLong_SHIFT - 1) / PyLong_SHIFT)
                n = (64 + PyLong_SHIFT - 1) / PyLong_SHIFT;  /* the digits that reach the low 64 bits */
            ddf_digits_u128(DDF_LONG_DIGITS(v), n, &h, &l);
            return l;
        }
    #endif
        return PyLong_AsUnsignedLongLongMask(v);
    }
    """
    unsigned long long low64 "ddf_low64"(object v) except? -1

# A small exact int as a C value (priorities, sampling decisions): from its digits where the layout is
# at hand, no call and no comparison of Python objects.
cdef extern from *:
    """
    /* 1 and *out = v when v is an exact int of magnitude below 2**60; else 0 (no error set) */
    static CYTHON_INLINE int ddf_small_int(PyObject *v, long long *out) {
        if (!PyLong_CheckExact(v))
            return 0;
    #if DDF_LONG_INTERNALS
        {
            Py_ssize_t n = DDF_LONG_NDIGITS(v);
            uint64_t h, l;
            if (n * PyLong_SHIFT > 60)
                return 0;
            ddf_digits_u128(DDF_LONG_DIGITS(v), n, &h, &l);
            *out = DDF_LONG_IS_NEG(v) ? -(long long)l : (long long)l;
            return 1;
        }
    #else
        {
            int overflow;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow || x <= -(1LL << 60) || x >= (1LL << 60))
                return 0;
            *out = x;
            return 1;
        }
    #endif
    }
    """
    bint small_int "ddf_small_int"(object v, long long *out) noexcept

# A non-negative exact int below 2**64 (span and parent ids) as a C value, from its digits where the
# layout is at hand: no call, no overflow flag.
cdef extern from *:
    """
    /* 1 and *out = v when v is an exact int in [0, 2**64); else 0 (no error set) */
    static CYTHON_INLINE int ddf_u64_exact(PyObject *v, uint64_t *out) {
        if (!PyLong_CheckExact(v))
            return 0;
    #if DDF_LONG_INTERNALS
        {
            Py_ssize_t n = DDF_LONG_NDIGITS(v);
            const digit *d = DDF_LONG_DIGITS(v);
            uint64_t h, l;
            if (DDF_LONG_IS_NEG(v) || n * PyLong_SHIFT > 64 + PyLong_SHIFT
                    || (n * PyLong_SHIFT > 64 && (d[n - 1] >> (64 - (n - 1) * PyLong_SHIFT)) != 0))
                return 0;
            ddf_digits_u128(d, n, &h, &l);
            *out = l;
            return 1;
        }
    #else
        {
            unsigned long long x = PyLong_AsUnsignedLongLong(v);
            if (x == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                return 0;
            }
            *out = x;
            return 1;
        }
    #endif
    }
    """
    bint u64_exact "ddf_u64_exact"(object v, uint64_t *out) noexcept


# The Python int hi * 2**64 + lo, without parsing text: its digits written straight into a new int where
# the layout is at hand (CPython before 3.13), else from 16 little-endian bytes (the public call on 3.13+).
cdef extern from *:
    """
    static PyObject *ddf_int_from_u128(uint64_t hi, uint64_t lo) {
    #if DDF_LONG_INTERNALS && PY_VERSION_HEX < 0x030D0000
        digit d[(128 + PyLong_SHIFT - 1) / PyLong_SHIFT];
        Py_ssize_t n = 0;
        PyLongObject *r;
        while (hi || lo) {
            d[n++] = (digit)(lo & PyLong_MASK);
            lo = (lo >> PyLong_SHIFT) | (hi << (64 - PyLong_SHIFT));
            hi >>= PyLong_SHIFT;
        }
        if (n == 0)
            return PyLong_FromLong(0);
        r = _PyLong_New(n);
        if (r == NULL)
            return NULL;
        memcpy(DDF_LONG_DIGITS(r), d, (size_t)n * sizeof(digit));
        return (PyObject *)r;
    #else
        unsigned char buf[16];
        int i;
        for (i = 0; i < 8; i++) {
            buf[i] = (unsigned char)(lo >> (8 * i));
            buf[8 + i] = (unsigned char)(hi >> (8 * i));
        }
    #if PY_VERSION_HEX >= 0x030D0000
        return PyLong_FromUnsignedNativeBytes(buf, 16, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
    #else
        return _PyLong_FromByteArray(buf, 16, 1, 0);
    #endif
    #endif
    }
    """
    object int_from_u128 "ddf_int_from_u128"(uint64_t hi, uint64_t lo)

# The low 128 bits of a non-negative Python int as two 64-bit halves, without shifting (no allocation).
cdef extern from *:
    """
    static int ddf_int_to_u128(PyObject *v, uint64_t *hi, uint64_t *lo) {
        unsigned char buf[16];
        int i;
    #if DDF_LONG_INTERNALS
        /* an int's own digits when it is non-negative and fits 128 bits: no byte array, no call */
        if (PyLong_CheckExact(v) && !DDF_LONG_IS_NEG(v)) {
            Py_ssize_t n = DDF_LONG_NDIGITS(v);
            const digit *d = DDF_LONG_DIGITS(v);
            if (n <= 128 / PyLong_SHIFT
                    || (n == 128 / PyLong_SHIFT + 1 && (d[n - 1] >> (128 - (n - 1) * PyLong_SHIFT)) == 0)) {
                ddf_digits_u128(d, n, hi, lo);
                return 0;
            }
        }
    #endif
    #if PY_VERSION_HEX >= 0x030D0000
        if (PyLong_AsNativeBytes(v, buf, 16, Py_ASNATIVEBYTES_LITTLE_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER) < 0)
            return -1;
    #else
        if (_PyLong_AsByteArray((PyLongObject *)v, buf, 16, 1, 0) < 0)
            return -1;
    #endif
        *lo = 0; *hi = 0;
        for (i = 7; i >= 0; i--) { *lo = (*lo << 8) | buf[i]; *hi = (*hi << 8) | buf[8 + i]; }
        return 0;
    }
    """
    int int_to_u128 "ddf_int_to_u128"(object v, uint64_t *hi, uint64_t *lo) except -1

# Constants live in C (a .pxd may hold no module-level Python-visible variables).
cdef extern from *:
    """
    #define DDF_U64_MAX 0xFFFFFFFFFFFFFFFFULL
    #if defined(__GNUC__)
    __attribute__((unused))  /* not every module that cimports this writes hex */
    #endif
    static const char DDF_HEX_DIGITS[] = "0123456789abcdef";
    """
    const uint64_t U64_MAX "DDF_U64_MAX"
    const char *HEX_DIGITS "DDF_HEX_DIGITS"


# Value of each byte as a hex digit (0..15), or -1: lower-case only (W3C, _dd.p.tid) and either case (B3).
cdef extern from *:
    """
    static const signed char DDF_HEX_LOWER[256] = {
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    static const signed char DDF_HEX_ANY[256] = {
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
        -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    """
    const signed char *HEX_LOWER "DDF_HEX_LOWER"
    const signed char *HEX_ANY "DDF_HEX_ANY"


cdef inline int hex_value(uint32_t ch, bint lower_only) noexcept:
    """Value 0..15 of one hex digit, or -1."""
    if ch > 255:
        return -1
    return HEX_LOWER[ch] if lower_only else HEX_ANY[ch]


# 8 decimal digits parsed at once (SWAR): every byte checked to be 0-9 (a byte below '0' borrows into its
# high bit when '0' is subtracted; one above '9' carries into it when 0x46 is added), then adjacent digits
# combined into 2-digit, 4-digit and the 8-digit value by multiplications whose other products fall outside
# the bits kept.
cdef extern from *:
    """
    static CYTHON_INLINE int ddf_dec8(const unsigned char *p, uint64_t *out) {
        uint64_t x;
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&x, p, 8);
    #else
        int i;
        x = 0;
        for (i = 7; i >= 0; i--)
            x = (x << 8) | p[i];
    #endif
        if (((x + 0x4646464646464646ULL) | (x - 0x3030303030303030ULL)) & 0x8080808080808080ULL)
            return -1;
        x -= 0x3030303030303030ULL;
        x = x * 10 + (x >> 8);
        x = (((x & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32)))
             + (((x >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
        *out = x;
        return 0;
    }
    """
    int dec8 "ddf_dec8"(const unsigned char *p, uint64_t *out) noexcept


cdef inline int parse_dec_chars(const unsigned char *p, Py_ssize_t n, uint64_t *out) noexcept:
    """Unsigned decimal ``p[:n]`` (1+ digits, value < 2**64) into *out: up to 19 digits (never above the
    limit) eight at a time where there are eight, then one by one, the overflow test only once the value
    nears the limit (2**64 - 1 is 1844674407370955161 * 10 + 5)."""
    cdef uint64_t v = 0, d
    cdef Py_ssize_t i, start = 0
    if n == 0:
        return -1
    if n <= 19:
        while n - start >= 8:
            if dec8(p + start, &d) < 0:
                return -1
            v = v * 100000000ULL + d
            start += 8
    for i in range(start, n):
        d = <uint64_t>p[i] - 48
        if d > 9:
            return -1
        if v >= 1844674407370955161ULL and (v > 1844674407370955161ULL or d > 5):
            return -1
        v = v * 10 + d
    out[0] = v
    return 0


cdef inline int parse_dec_u64(str s, uint64_t *out) noexcept:
    """Unsigned decimal (1+ digits, value < 2**64) into *out."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s), i
    cdef uint64_t v = 0, d
    cdef uint32_t ch
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    if kind == 1:
        return parse_dec_chars(<const unsigned char *>data, n, out)
    if n == 0:
        return -1
    for i in range(n):
        ch = PyUnicode_READ(kind, data, i)
        if ch < 48 or ch > 57:
            return -1
        d = ch - 48
        if v > (U64_MAX - d) // 10:
            return -1
        v = v * 10 + d
    out[0] = v
    return 0


cdef inline int parse_hex_range(str s, Py_ssize_t start, Py_ssize_t stop, bint lower_only,
                                uint64_t *out) noexcept:
    """Hex digits s[start:stop] (at most 16 of them) into *out."""
    cdef Py_ssize_t i
    cdef uint64_t v = 0
    cdef int d
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef const signed char *table = HEX_LOWER if lower_only else HEX_ANY
    cdef const unsigned char *p = <const unsigned char *>data
    if stop <= start or stop - start > 16:
        return -1
    if kind == 1:
        for i in range(start, stop):
            d = table[p[i]]
            if d < 0:
                return -1
            v = (v << 4) | <uint64_t>d
    else:
        for i in range(start, stop):
            d = hex_value(PyUnicode_READ(kind, data, i), lower_only)
            if d < 0:
                return -1
            v = (v << 4) | <uint64_t>d
    out[0] = v
    return 0


cdef inline int parse_hex_u128(str s, Py_ssize_t start, Py_ssize_t stop, bint lower_only,
                               uint64_t *hi, uint64_t *lo) noexcept:
    """Up to 32 hex digits s[start:stop] into the two 64-bit halves *hi, *lo."""
    cdef Py_ssize_t n = stop - start
    if n <= 0 or n > 32:
        return -1
    if n <= 16:
        hi[0] = 0
        return parse_hex_range(s, start, stop, lower_only, lo)
    if parse_hex_range(s, start, stop - 16, lower_only, hi) < 0:
        return -1
    return parse_hex_range(s, stop - 16, stop, lower_only, lo)


# 16 lowercase hex digits of a 64-bit value: each 32-bit half spread to one nibble per byte and mapped to
# its digit eight bytes at a time (no table, no loop), then stored most significant digit first.
cdef extern from *:
    """
    static CYTHON_INLINE uint64_t ddf_hex8(uint64_t x) {
        /* the 8 nibbles of x (< 2**32) as 8 ASCII digits, the most significant in the top byte */
        uint64_t mask;
        x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
        x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
        x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
        mask = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;  /* 1 where the nibble is >= 10 */
        return x + 0x3030303030303030ULL + mask * ('a' - '0' - 10);
    }
    static CYTHON_INLINE void ddf_store_be64(char *buf, uint64_t x) {
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        x = __builtin_bswap64(x);
        memcpy(buf, &x, 8);
    #elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        memcpy(buf, &x, 8);
    #else
        int i;
        for (i = 7; i >= 0; i--) {
            buf[i] = (char)(x & 0xFF);
            x >>= 8;
        }
    #endif
    }
    static CYTHON_INLINE void ddf_write_hex16(char *buf, uint64_t v) {
        ddf_store_be64(buf, ddf_hex8(v >> 32));
        ddf_store_be64(buf + 8, ddf_hex8(v & 0xFFFFFFFFULL));
    }
    """
    void write_hex16 "ddf_write_hex16"(char *buf, uint64_t v) noexcept


# 16 lowercase hex digits parsed eight at a time (SWAR): each byte checked to be 0-9 or a-f (sums that carry
# into bit 7 of their own byte only, the byte's high bit cleared first), then its nibble value (the low 4
# bits, plus 9 for a letter) packed with the first digit the most significant.
cdef extern from *:
    """
    static CYTHON_INLINE int ddf_hex8_lower(const unsigned char *p, uint64_t *out) {
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        uint64_t x, x7, digit, letter, v;
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&x, p, 8);
        x = __builtin_bswap64(x);
    #else
        int i;
        x = 0;
        for (i = 0; i < 8; i++)
            x = (x << 8) | p[i];
    #endif
        x7 = x & ~high;
        digit = (x7 + ones * (0x80 - '0')) & ~(x7 + ones * (0x7F - '9'));
        letter = (x7 + ones * (0x80 - 'a')) & ~(x7 + ones * (0x7F - 'f'));
        if (((digit | letter) & ~x & high) != high)
            return -1;
        v = (x & (ones * 0x0F)) + ((x >> 6) & ones) * 9;
        v = (v | (v >> 4)) & 0x00FF00FF00FF00FFULL;
        v = (v | (v >> 8)) & 0x0000FFFF0000FFFFULL;
        v = (v | (v >> 16)) & 0x00000000FFFFFFFFULL;
        *out = v;
        return 0;
    }
    static CYTHON_INLINE int ddf_hex16_lower(const unsigned char *p, uint64_t *out) {
        uint64_t high, low;
        if (ddf_hex8_lower(p, &high) < 0 || ddf_hex8_lower(p + 8, &low) < 0)
            return -1;
        *out = (high << 32) | low;
        return 0;
    }
    """
    int hex16_lower "ddf_hex16_lower"(const unsigned char *p, uint64_t *out) noexcept


# The 8 decimal digits of a value below 10**8, zero-padded: split in 4-digit halves, then 2-digit and
# 1-digit parts, each step for all lanes of one 64-bit word at once (the division by 100 and by 10 as
# a multiply and shift, exact for these ranges: checked for every input).
cdef extern from *:
    """
    static CYTHON_INLINE void ddf_write_dec8(char *buf, uint32_t x) {
        uint64_t halves = (uint64_t)(x / 10000) | ((uint64_t)(x % 10000) << 32);
        uint64_t upper = ((halves * 10486) >> 20) & 0x0000007F0000007FULL;  /* each half / 100 */
        uint64_t pairs = upper | ((halves - 100 * upper) << 16);
        uint64_t tens = ((pairs * 103) >> 10) & 0x000F000F000F000FULL;      /* each pair / 10 */
        uint64_t digits = (tens | ((pairs - 10 * tens) << 8)) + 0x3030303030303030ULL;
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(buf, &digits, 8);
    #else
        int i;
        for (i = 0; i < 8; i++) {
            buf[i] = (char)(digits & 0xFF);
            digits >>= 8;
        }
    #endif
    }
    """
    void write_dec8 "ddf_write_dec8"(char *buf, uint32_t x) noexcept


cdef inline object join_u128(uint64_t hi, uint64_t lo):
    """The Python int hi * 2**64 + lo (one allocation, no text parsing)."""
    if hi == 0:
        return lo
    return int_from_u128(hi, lo)


cdef inline int split_u128(object n, uint64_t *hi, uint64_t *lo) except -1:
    """The halves of a non-negative int below 2**128 (ValueError otherwise)."""
    if n < 0 or n >> 128:
        raise ValueError("expected an unsigned 128-bit int, got %r" % (n,))
    return int_to_u128(n, hi, lo)


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, uint32_t maxchar)


cdef inline str ascii_str(const char *buf, Py_ssize_t n):
    """A str from n bytes the caller knows are ASCII: one allocation, no scan, no decoding."""
    cdef object s = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(s), buf, n)
    return <str>s


# The _dd.p.tid text of a trace id's upper half, shared: the upper half of a 128-bit id is its start
# second, so the traces of one second (extracted, injected or finished) get the same str object, and
# the v0.5 encoder finds it by address. One remembered string per compiled module that uses it.
cdef extern from *:
    """
    static PyObject *ddf_last_tid = NULL;
    #ifdef Py_GIL_DISABLED
    /* free-threaded CPython: the remembered string is read and replaced under a lock of its own (held
       for a compare and a copy of 16 bytes), never while another thread takes its reference */
    static PyMutex ddf_last_tid_lock = {0};
    #define DDF_TID_LOCK() PyMutex_Lock(&ddf_last_tid_lock)
    #define DDF_TID_UNLOCK() PyMutex_Unlock(&ddf_last_tid_lock)
    #else
    #define DDF_TID_LOCK() ((void)0)
    #define DDF_TID_UNLOCK() ((void)0)
    #endif
    /* a new reference to a str of the 16 ASCII characters at text: the last one made when equal */
    static PyObject *ddf_shared_tid(const char *text) {
        PyObject *s;
        DDF_TID_LOCK();
        s = ddf_last_tid;
        if (s == NULL || memcmp(PyUnicode_DATA(s), text, 16) != 0) {
            s = PyUnicode_New(16, 127);
            if (s == NULL) {
                DDF_TID_UNLOCK();
                return NULL;
            }
            memcpy(PyUnicode_DATA(s), text, 16);
            Py_XSETREF(ddf_last_tid, s);  /* a str's dealloc runs no Python code: no other thread in between */
        }
        Py_INCREF(s);
        DDF_TID_UNLOCK();
        return s;
    }
    """
    str shared_tid "ddf_shared_tid"(const char *text)


cdef inline str tid_text(uint64_t high):
    """``_dd.p.tid`` of a trace id's upper half ``high`` (see ``shared_tid``)."""
    cdef char buf[16]
    write_hex16(buf, high)
    return shared_tid(buf)


# Whether bytes are all printable ASCII, eight at a time (SWAR; exact for any input).
cdef extern from *:
    """
    static CYTHON_INLINE int ddf_printable_bytes(const unsigned char *p, Py_ssize_t n) {
        uint64_t x, bad = 0;
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            memcpy(&x, p + i, 8);
            /* the high bit of each byte below 0x20, or above 0x7E */
            bad |= ((x - 0x2020202020202020ULL) & ~x) | ((x + 0x0101010101010101ULL) | x);
        }
        for (; i < n; i++)
            bad |= (p[i] < 0x20 || p[i] > 0x7E) ? 0x80 : 0;
        return (bad & 0x8080808080808080ULL) == 0;
    }
    """
    bint printable_bytes "ddf_printable_bytes"(const unsigned char *p, Py_ssize_t n) noexcept


cdef inline bint is_printable_ascii(str text) noexcept:
    """Every character of ``text`` is printable ASCII (0x20-0x7E), as W3C and Datadog values must be."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t i
    cdef uint32_t c
    if kind == 1:
        return printable_bytes(<const unsigned char *>data, PyUnicode_GET_LENGTH(text))
    for i in range(PyUnicode_GET_LENGTH(text)):
        c = read_char(kind, data, i)
        if c < 0x20 or c > 0x7E:
            return False
    return True


# -- propagated tags (_dd.p.*): the tracer and the propagation share this test

cdef inline bint has_dd_p(int kind, void *data, Py_ssize_t start, Py_ssize_t stop):
    """text[start:stop] starts with ``_dd.p.``."""
    if stop - start < 6:
        return False
    return (read_char(kind, data, start) == 0x5F and read_char(kind, data, start + 1) == 0x64
            and read_char(kind, data, start + 2) == 0x64 and read_char(kind, data, start + 3) == 0x2E
            and read_char(kind, data, start + 4) == 0x70 and read_char(kind, data, start + 5) == 0x2E)


cdef inline bint is_propagated_key(object key):
    """``key`` is a str starting with ``_dd.p.`` (without a method call)."""
    return isinstance(key, str) and has_dd_p(PyUnicode_KIND(key), PyUnicode_DATA(key), 0, len(<str>key))
