# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""HTTP header propagation, compiled. Twin of ``ddfast/_pure/propagation.py``: same functions, same results.

The algorithm is the pure twin's, step for step (read that one first); here the headers of interest are
read into typed slots in one pass over the carrier, ids are parsed and printed in C (``idcodec.pxd``),
contexts are made without argument parsing, and nothing is allocated that the result does not keep.
"""

import logging
from urllib.parse import unquote

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_SetItem
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdint cimport uint64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from ddfast._ext.context cimport Context, new_context
from cpython.unicode cimport (
    Py_UNICODE_ISSPACE, PyUnicode_DecodeUTF8, PyUnicode_Find, PyUnicode_GET_LENGTH, PyUnicode_Tailmatch,
)
from idcodec cimport (
    HEX_DIGITS, PyUnicode_DATA, PyUnicode_FindChar, PyUnicode_KIND, PyUnicode_READ_CHAR, ascii_str, has_dd_p,
    int_to_u128, is_printable_ascii, is_propagated_key, join_u128, low64, parse_dec_u64, parse_hex_range,
    parse_hex_u128, printable_bytes, read_char, shared_tid, small_int, tid_text, write_dec8, write_hex16,
)
from libc.stdint cimport uint32_t
from libc.string cimport memchr, memcmp, memcpy, memset
from strbuf cimport StrBuf, sb_ascii, sb_bytes, sb_char, sb_free, sb_init, sb_reserve, sb_str

from ddfast._ext.context import set_w3c_writers
from ddfast.span_link import SpanLink

log = logging.getLogger("ddfast.propagation")

# -- header names --------------------------------------------------------------------------------

TRACE_ID = "x-datadog-trace-id"
PARENT_ID = "x-datadog-parent-id"
SAMPLING_PRIORITY = "x-datadog-sampling-priority"
ORIGIN = "x-datadog-origin"
TAGS = "x-datadog-tags"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
B3_TRACE_ID = "x-b3-traceid"
B3_SPAN_ID = "x-b3-spanid"
B3_SAMPLED = "x-b3-sampled"
B3_FLAGS = "x-b3-flags"
B3_SINGLE = "b3"
BAGGAGE = "baggage"
OT_BAGGAGE_PREFIX = "ot-baggage-"

HEADERS = (
    TRACE_ID, PARENT_ID, SAMPLING_PRIORITY, ORIGIN, TAGS, TRACEPARENT, TRACESTATE,
    B3_TRACE_ID, B3_SPAN_ID, B3_SAMPLED, B3_FLAGS, B3_SINGLE, BAGGAGE,
)
# slot numbers of the headers above, in the same order
cdef enum:
    H_TRACE_ID, H_PARENT_ID, H_PRIORITY, H_ORIGIN, H_TAGS, H_TRACEPARENT, H_TRACESTATE,
    H_B3_TRACE_ID, H_B3_SPAN_ID, H_B3_SAMPLED, H_B3_FLAGS, H_B3_SINGLE, H_BAGGAGE, N_HEADERS

# Lower-cased carrier key -> slot: the HTTP name and its WSGI/CGI spelling (HTTP_X_DATADOG_...).
cdef dict KNOWN_KEYS = {}
cdef dict _SLOT_NAMES = {}
for _slot, _name in enumerate(HEADERS):
    KNOWN_KEYS[_name] = _slot
    KNOWN_KEYS["http_" + _name.replace("-", "_")] = _slot
    _SLOT_NAMES[_slot] = _name
cdef str _WSGI_OT_BAGGAGE_PREFIX = "http_ot_baggage_"
# The known names in C, grouped by length, for matching carrier keys without lower-casing them:
# names of length n are _known_names[_by_len_start[n] : _by_len_start[n] + _by_len_count[n]].
cdef char _known_names[32][40]
# per name, 0x20 where the name has a letter (OR-ing it in lower-cases an ASCII letter of the key, and
# turns no other byte into a letter), 0 elsewhere: keys are matched eight bytes at a time
cdef char _known_fold[32][40]
cdef int _known_slot[32]
cdef int _by_len_start[64]
cdef int _by_len_count[64]
cdef int _n_known = 0
for _n in range(64):
    _by_len_start[_n] = 0
    _by_len_count[_n] = 0


cdef void _add_known_name(bytes key, int slot):
    """Append one known name (ASCII, lower case) to the length-grouped tables above."""
    global _n_known
    cdef Py_ssize_t n = len(key)
    cdef Py_ssize_t i
    if _by_len_count[n] == 0:
        _by_len_start[n] = _n_known
    _by_len_count[n] += 1
    memcpy(_known_names[_n_known], <const char *>key, n)
    for i in range(n):
        _known_fold[_n_known][i] = 0x20 if 0x61 <= key[i] <= 0x7A else 0
    _known_slot[_n_known] = slot
    _n_known += 1


for _key, _slot in sorted(KNOWN_KEYS.items(), key=lambda item: len(item[0])):
    _add_known_name(_key.encode("ascii"), _slot)
LIST_HEADERS = frozenset([TRACESTATE, BAGGAGE])

# -- styles and settings --------------------------------------------------------------------------

DATADOG = "datadog"
TRACECONTEXT = "tracecontext"
B3MULTI = "b3multi"
B3 = "b3"
BAGGAGE_STYLE = "baggage"
NONE = "none"
STYLES = (DATADOG, TRACECONTEXT, B3MULTI, B3, BAGGAGE_STYLE)
cdef enum:
    S_DATADOG, S_TRACECONTEXT, S_B3MULTI, S_B3, S_BAGGAGE

# traceparent flags W3C defines: sampled (bit 0) and, in level 2, a random trace id (bit 1)
cdef enum:
    W3C_SAMPLED_FLAG = 0x01
    W3C_RANDOM_FLAG = 0x02
    W3C_KNOWN_FLAGS = 0x03

CONTINUE = "continue"
RESTART = "restart"
IGNORE = "ignore"
BEHAVIORS = (CONTINUE, RESTART, IGNORE)


cdef class Settings:
    """A snapshot of the propagation settings, validated once (see ``ddfast.settings``)."""

    cdef readonly tuple extract_styles
    cdef readonly tuple inject_styles
    cdef readonly bint extract_first
    cdef readonly str behavior_extract
    cdef readonly Py_ssize_t tags_max_length
    cdef readonly bint trace_id_128
    cdef readonly Py_ssize_t baggage_max_items
    cdef readonly Py_ssize_t baggage_max_bytes
    cdef readonly tuple baggage_tag_keys
    cdef readonly bint http_baggage
    # derived: the styles as numbers, in order, and one flag per style
    cdef int n_extract
    cdef int extract_order[5]
    cdef bint inject_style[5]
    cdef bint extract_style[5]
    cdef bint restart
    cdef bint ignore
    cdef bint tag_all_baggage
    cdef tuple baggage_tags  # (key, "baggage." + key) of each baggage_tag_keys

    def __init__(
        self,
        extract_styles=(DATADOG, TRACECONTEXT, BAGGAGE_STYLE),
        inject_styles=(DATADOG, TRACECONTEXT, BAGGAGE_STYLE),
        extract_first=False,
        behavior_extract=CONTINUE,
        tags_max_length=512,
        trace_id_128=True,
        baggage_max_items=64,
        baggage_max_bytes=8192,
        baggage_tag_keys=("user.id", "account.id", "session.id"),
        http_baggage=False,
    ):
        cdef int i
        self.extract_styles = _checked_styles(extract_styles, "extract_styles")
        self.inject_styles = _checked_styles(inject_styles, "inject_styles")
        if behavior_extract not in BEHAVIORS:
            raise ValueError("behavior_extract must be one of %s, not %r" % (", ".join(BEHAVIORS), behavior_extract))
        self.behavior_extract = behavior_extract
        self.extract_first = bool(extract_first)
        self.tags_max_length = _checked_count(tags_max_length, "tags_max_length")
        self.trace_id_128 = bool(trace_id_128)
        self.baggage_max_items = _checked_count(baggage_max_items, "baggage_max_items")
        self.baggage_max_bytes = _checked_count(baggage_max_bytes, "baggage_max_bytes")
        if isinstance(baggage_tag_keys, str):
            raise TypeError("baggage_tag_keys must be a sequence of keys, not a str")
        self.baggage_tag_keys = tuple(baggage_tag_keys)
        self.http_baggage = bool(http_baggage)
        for i in range(5):
            self.inject_style[i] = STYLES[i] in self.inject_styles
            self.extract_style[i] = STYLES[i] in self.extract_styles
        self.n_extract = 0
        for style in self.extract_styles:
            self.extract_order[self.n_extract] = STYLES.index(style)
            self.n_extract += 1
        self.restart = behavior_extract == RESTART
        self.ignore = behavior_extract == IGNORE
        self.tag_all_baggage = "*" in self.baggage_tag_keys
        self.baggage_tags = tuple((key, "baggage." + key) for key in self.baggage_tag_keys)


def _checked_styles(styles, name):
    if isinstance(styles, str):
        raise TypeError("%s must be a sequence of style names, not a str" % name)
    out = []
    for style in styles:
        if style == NONE:
            continue
        if style not in STYLES:
            raise ValueError("%s: unknown propagation style %r (known: %s)" % (name, style, ", ".join(STYLES)))
        if style not in out:
            out.append(style)
    return tuple(out)


def _checked_count(value, name):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if value < 0:
        raise ValueError("%s must be >= 0, got %d" % (name, value))
    return value


# -- error accounting -----------------------------------------------------------------------------

#: reason -> how many times extraction or injection met it in this process
ERRORS = {}
cdef dict _errors = ERRORS
cdef double _LOG_INTERVAL = 60.0
cdef double _QUIET_RECHECK = 1.0
cdef dict _last_logged = {}
cdef double _quiet_until = 0.0


cdef inline double _monotonic() noexcept:
    """``time.monotonic()``, without a Python call."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cpdef record(str reason, detail=None):
    """Count a propagation problem; log it at debug level at most once a minute per reason. While debug
    logging is off, whether it is on is asked at most once a second: a flood of bad headers costs a
    count each, not a logging call each."""
    global _quiet_until
    cdef PyObject *count = PyDict_GetItem(_errors, reason)
    cdef long long n
    if count is NULL:
        PyDict_SetItem(_errors, reason, 1)
    elif small_int(<object>count, &n):
        PyDict_SetItem(_errors, reason, PyLong_FromLongLong(n + 1))
    else:  # a count someone replaced with another number
        PyDict_SetItem(_errors, reason, <object>count + 1)
    cdef double now = _monotonic()
    if now < _quiet_until:
        return
    last = _last_logged.get(reason)
    if last is not None and now - <double>last < _LOG_INTERVAL:
        return
    if not log.isEnabledFor(logging.DEBUG):
        _quiet_until = now + _QUIET_RECHECK
        return
    _last_logged[reason] = now
    log.debug("ddfast propagation: %s: %r (%d so far)", reason, detail, _errors[reason])


# -- carriers -------------------------------------------------------------------------------------


@cython.final
@cython.freelist(4)
cdef class _Headers:
    """The propagation headers of one carrier, one slot each (None when absent)."""

    cdef PyObject *slots[N_HEADERS]  # owned references (str), NULL when absent
    cdef dict ot  # ot-baggage-* headers, when asked for
    cdef bint empty

    cdef inline str get(self, int slot):
        return <str>self.slots[slot] if self.slots[slot] != NULL else None

    cdef inline void put(self, int slot, str text) noexcept:
        Py_INCREF(text)
        Py_XDECREF(self.slots[slot])
        self.slots[slot] = <PyObject *>text

    def __dealloc__(self):
        cdef int i
        for i in range(N_HEADERS):
            Py_XDECREF(self.slots[i])


cdef inline str _text(object value, str encoding):
    """``value`` as str: itself, or bytes decoded (``latin-1`` for names, as ASGI servers do; UTF-8 with
    backslash escapes for values, as ddtrace does); None for any other type."""
    if type(value) is str:
        return <str>value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(encoding, "backslashreplace")
    return None


cdef inline bint _maybe_known(str key, bint ot_baggage):
    """False when ``key`` cannot be a propagation header (cheap: its length)."""
    cdef Py_ssize_t n = len(key)
    if n == 0:
        return False
    return ot_baggage or (n < 64 and _by_len_count[n] > 0)


cdef inline bint _folded_equal(const char *key, int k, Py_ssize_t n) noexcept:
    """``key[:n]`` (bytes) is known name ``k`` in any ASCII letter case, compared a word at a time."""
    cdef const char *name = _known_names[k]
    cdef const char *fold = _known_fold[k]
    cdef uint64_t a, b, f
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&a, key + i, 8)
        memcpy(&b, name + i, 8)
        memcpy(&f, fold + i, 8)
        if (a | f) != b:
            return False
        i += 8
    while i < n:
        if (key[i] | fold[i]) != name[i]:
            return False
        i += 1
    return True


cdef int _slot_of(str key) noexcept:
    """The slot of header ``key``, compared ASCII-case-insensitively with the known names of its length
    (what ``KNOWN_KEYS.get(key.lower())`` gives, without making the lower-cased string), or -1."""
    cdef Py_ssize_t n = len(key)
    cdef int k, end
    if n >= 64 or _by_len_count[n] == 0:
        return -1
    if PyUnicode_KIND(key) != 1:  # a character above U+00FF: no known (ASCII) name
        return -1
    end = _by_len_start[n] + _by_len_count[n]
    for k in range(_by_len_start[n], end):
        if _folded_equal(<const char *>PyUnicode_DATA(key), k, n):
            return _known_slot[k]
    return -1


cdef inline void _put(_Headers h, str key, object value, bint ot_baggage):
    cdef int slot = _slot_of(key)
    cdef str lower
    cdef str text
    if slot < 0:
        if ot_baggage:
            lower = key.lower()
            if lower.startswith(OT_BAGGAGE_PREFIX):
                _put_ot(h, lower, value)
            elif lower.startswith(_WSGI_OT_BAGGAGE_PREFIX):
                _put_ot(h, OT_BAGGAGE_PREFIX + lower[len(_WSGI_OT_BAGGAGE_PREFIX):], value)
        return
    text = _text(value, "utf-8")
    if text is None:
        if value is not None:
            record("header_value_type", _SLOT_NAMES[slot])
        return
    if h.slots[slot] != NULL and (slot == H_TRACESTATE or slot == H_BAGGAGE):
        h.put(slot, h.get(slot) + "," + text)
    elif h.slots[slot] != NULL and slot == H_TRACEPARENT and h.get(slot) != text:
        # two different traceparents: combined as HTTP combines a repeated field, which no parser
        # accepts, so the trace restarts (W3C; what a WSGI server hands over for the same request)
        h.put(slot, h.get(slot) + "," + text)
    else:
        h.put(slot, text)
    h.empty = False


cdef void _put_ot(_Headers h, str name, object value):
    cdef str text = _text(value, "utf-8")
    if text is None:
        if value is not None:
            record("header_value_type", name)
        return
    if h.ot is None:
        h.ot = {}
    h.ot[name] = text
    h.empty = False


cdef _Headers _read(object carrier, bint ot_baggage):
    cdef _Headers h = _Headers.__new__(_Headers)
    cdef str key
    memset(h.slots, 0, sizeof(h.slots))
    h.ot = None
    h.empty = True
    if carrier is None:
        return h
    cdef Py_ssize_t pos = 0
    cdef PyObject *k_ptr
    cdef PyObject *v_ptr
    if type(carrier) is dict:
        while PyDict_Next(carrier, &pos, &k_ptr, &v_ptr):  # borrowed references, taken below when kept
            k = <object>k_ptr
            if type(k) is str:
                key = <str>k
            else:
                key = _text(k, "latin-1")
                if key is None:
                    continue
            if _maybe_known(key, ot_baggage):
                _put(h, key, <object>v_ptr, ot_baggage)
        return h
    if hasattr(carrier, "items"):
        pairs = carrier.items()
    elif isinstance(carrier, (list, tuple)):
        pairs = carrier
    elif hasattr(carrier, "get"):
        pairs = [(name, carrier.get(name)) for name in HEADERS]
    else:
        raise TypeError(
            "extract() expects a mapping of headers, a WSGI environ or a list of (name, value) pairs, not %s"
            % type(carrier).__name__
        )
    for pair in pairs:
        try:
            k, value = pair
        except (TypeError, ValueError):
            record("malformed_carrier_item", pair)
            continue
        key = _text(k, "latin-1")
        if key is not None and _maybe_known(key, ot_baggage):
            _put(h, key, value, ot_baggage)
    return h


def normalize(carrier, ot_baggage=False):
    """The propagation headers of ``carrier`` as ``{header name: str value}`` (see the pure twin)."""
    cdef _Headers h = _read(carrier, ot_baggage)
    cdef int i
    found = {}
    for i in range(N_HEADERS):
        if h.slots[i] != NULL:
            found[HEADERS[i]] = h.get(i)
    if h.ot is not None:
        found.update(h.ot)
    return found


# -- small parsers ----------------------------------------------------------------------------------


cpdef object parse_u64(str text):
    """Unsigned decimal 64-bit id, or None (no sign, space, or overflow)."""
    cdef uint64_t v
    if len(text) > 20 or parse_dec_u64(text, &v) < 0:
        return None
    return v


cpdef object parse_priority(str text):
    """A sampling priority: an optionally negative decimal integer, or None."""
    cdef Py_ssize_t n = len(text), i, start = 0
    cdef long long v = 0
    cdef Py_UCS4 c
    if n > 0 and text[0] == u"-":
        start = 1
    if n - start == 0 or n - start > 18:
        return None
    for i in range(start, n):
        c = text[i]
        if c < u"0" or c > u"9":
            return None
        v = v * 10 + (<long>c - 48)
    return -v if start else v


cpdef object parse_hex_id(str text, int max_digits):
    """1..max_digits hex digits, either case (B3), or None."""
    cdef uint64_t hi, lo
    cdef Py_ssize_t n = len(text)
    if n == 0 or n > max_digits:
        return None
    if parse_hex_u128(text, 0, n, False, &hi, &lo) < 0:
        return None
    return join_u128(hi, lo)


cpdef bint is_lower_hex(str text, Py_ssize_t length):
    cdef uint64_t v
    return len(text) == length and length <= 16 and parse_hex_range(text, 0, length, True, &v) == 0


cpdef bint is_hex(str text, Py_ssize_t length):
    cdef uint64_t v
    return len(text) == length and length <= 16 and parse_hex_range(text, 0, length, False, &v) == 0


# -- x-datadog-tags (tagset) --------------------------------------------------------------------------


cdef inline bint _tagset_key_char(uint32_t c):
    # printable ASCII but space, "," and "="
    return 0x21 <= c <= 0x7E and c != 0x2C and c != 0x3D


cdef inline bint _tagset_value_char(uint32_t c):
    # printable ASCII but ","
    return 0x20 <= c <= 0x7E and c != 0x2C


# The propagated tags nearly every trace carries: their keys are reused, not re-made, when decoded.
cdef tuple _COMMON_TAGS = ("_dd.p.dm", "_dd.p.tid", "_dd.p.ksr", "_dd.p.usr.id", "_dd.p.ts")


cdef str _common_tag(str text, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t skip):
    """The constant among ``_COMMON_TAGS`` equal to text[start:stop] once its first ``skip`` characters
    are replaced by ``_dd.p.`` (skip 6 for ``_dd.p.x``, 2 for tracestate's ``t.x``), or None."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = stop - start - skip, i
    cdef str tag
    for candidate in _COMMON_TAGS:
        tag = <str>candidate
        if len(tag) - 6 != n:
            continue
        if kind == 1:  # both one byte per character (the tags are ASCII)
            if memcmp((<char *>data) + start + skip, (<char *>PyUnicode_DATA(tag)) + 6, n) == 0:
                return tag
            continue
        for i in range(n):
            if read_char(kind, data, start + skip + i) != PyUnicode_READ_CHAR(tag, 6 + i):
                break
        else:
            return tag
    return None


# decision makers "-0".."-15" made once
cdef tuple _DM_TEXTS = tuple("-%d" % i for i in range(16))


cdef str _shared_value(str key, str text, int kind, void *data, Py_ssize_t start, Py_ssize_t stop):
    """A string equal to text[start:stop] that requests share, for the values of ``_dd.p.dm`` and
    ``_dd.p.tid`` (``key`` one of the ``_COMMON_TAGS`` constants; ``shared_tid``); None for any other.
    Fewer objects per request, and the encoder finds shared ones by address."""
    cdef const char *p = (<const char *>data) + start
    cdef Py_ssize_t n = stop - start
    if kind != 1:
        return None
    if key is <str>_COMMON_TAGS[0]:  # _dd.p.dm: "-<mechanism>"
        if n == 2 and p[0] == b"-" and b"0" <= p[1] <= b"9":
            return <str>_DM_TEXTS[p[1] - 48]
        if n == 3 and p[0] == b"-" and p[1] == b"1" and b"0" <= p[2] <= b"5":
            return <str>_DM_TEXTS[10 + p[2] - 48]
        return None
    if key is <str>_COMMON_TAGS[1] and n == 16:  # _dd.p.tid
        return shared_tid(p)
    return None


cdef inline str _ascii_slice(str text, int kind, void *data, Py_ssize_t start, Py_ssize_t stop):
    """``text[start:stop]``, which the caller has checked is ASCII (one copy, no scan, when ``text`` is
    one byte per character)."""
    if kind == 1:
        return ascii_str((<char *>data) + start, stop - start)
    return text[start:stop]


cdef str _decode_tagset_into(str text, Py_ssize_t max_size, dict out, bint propagated_only):
    """Decode ``text`` into ``out``; None, or the error reason (then ``out`` is left unspecified).

    ``propagated_only`` keeps only the ``_dd.p.*`` keys (not ``_dd.p.upstream_services``), as the
    Datadog extraction does after decoding, without making strings for the others.
    """
    cdef Py_ssize_t n = len(text), start = 0, eq, end, vs, ve, i
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef uint32_t c
    cdef str key, value
    if n > max_size:
        return "extract_max_size"
    if n and read_char(kind, data, n - 1) == 0x2C:  # one trailing comma is tolerated, as ddtrace's is
        n -= 1
    while True:
        eq = -1
        end = n
        for i in range(start, n):
            c = read_char(kind, data, i)
            if c == 0x3D:
                eq = i
                break
            if not _tagset_key_char(c):
                return "decoding_error"
        if eq <= start:
            return "decoding_error"
        for i in range(eq + 1, n):
            c = read_char(kind, data, i)
            if c == 0x2C:
                end = i
                break
            if not _tagset_value_char(c):
                return "decoding_error"
        vs = eq + 1
        ve = end
        while vs < ve and read_char(kind, data, vs) == 0x20:
            vs += 1
        while ve > vs and read_char(kind, data, ve - 1) == 0x20:
            ve -= 1
        if ve == vs:
            return "decoding_error"
        if not propagated_only or has_dd_p(kind, data, start, eq):
            key = _common_tag(text, start, eq, 6) if propagated_only else None
            if key is None:
                key = _ascii_slice(text, kind, data, start, eq)
            if not propagated_only or len(key) != 23 or key != "_dd.p.upstream_services":
                value = _shared_value(key, text, kind, data, vs, ve)
                out[key] = value if value is not None else _ascii_slice(text, kind, data, vs, ve)
        if end >= n:
            return None
        start = end + 1


cpdef object decode_tagset(str text, Py_ssize_t max_size=512):
    """``k=v,k2=v2`` as a dict, or an error reason (``extract_max_size`` / ``decoding_error``)."""
    cdef dict tags = {}
    cdef str error = _decode_tagset_into(text, max_size, tags, False)
    return tags if error is None else error


# per byte: 1 a tagset key character, 2 a tagset value character (both, or neither, may hold)
cdef unsigned char _TAGSET_CHAR[256]
for _c in range(256):
    _TAGSET_CHAR[_c] = (1 if _tagset_key_char(_c) else 0) | (2 if _tagset_value_char(_c) else 0)


cdef int _put_tag_part(StrBuf *b, str text, unsigned char need) except -1:
    """Append ``text`` trimmed of spaces when what is left is a non-empty tagset key (``need`` 1) or
    value (2), checked and copied in one pass: 1; else 0 (the buffer's content is then undefined past
    its length). Text that is not 1-byte always holds a character the grammar forbids."""
    cdef Py_ssize_t start = 0, stop = len(text), i
    cdef const unsigned char *p
    cdef unsigned char c
    cdef char *out
    if PyUnicode_KIND(text) != 1:
        return 0
    p = <const unsigned char *>PyUnicode_DATA(text)
    while start < stop and p[start] == 0x20:
        start += 1
    while stop > start and p[stop - 1] == 0x20:
        stop -= 1
    if stop == start:
        return 0
    sb_reserve(b, stop - start)
    out = b.data + b.length - start
    for i in range(start, stop):
        c = p[i]
        if not _TAGSET_CHAR[c] & need:
            return 0
        out[i] = <char>c
    b.length += stop - start
    return 1


cdef int _put_tag(StrBuf *b, object k, object v, Py_ssize_t max_size, int known) except -1:
    """Append ``k=v`` to the tagset in ``b`` (after a ``,`` unless it is the first): 0, or the error
    code (``_TAGSET_ERRORS``) that stops the encoding. ``known``: ``_KNOWN_KEY`` / ``_KNOWN_VALUE`` when
    ``k`` / ``v`` are known to be valid as they are (nothing to check)."""
    if not isinstance(k, str) or not isinstance(v, str):
        return 1
    if b.length:
        sb_char(b, b",")
    if known & _KNOWN_KEY:
        sb_ascii(b, <str>k, 0, len(<str>k))
    elif not _put_tag_part(b, <str>k, 1):
        return 1
    sb_char(b, b"=")
    if known & _KNOWN_VALUE:
        sb_ascii(b, <str>v, 0, len(<str>v))
    elif not _put_tag_part(b, <str>v, 2):
        return 1
    return 2 if b.length > max_size else 0


cdef str _encode_tagset(dict tags, Py_ssize_t max_size, bint propagated_only, int *error):
    """``encode_tagset``, written straight into one buffer; ``propagated_only`` skips all but the
    ``_dd.p.*`` keys (what Datadog injection encodes from a context's meta). On failure None, and
    ``error[0]`` says why (``_TAGSET_ERRORS``)."""
    cdef StrBuf b
    sb_init(&b)
    try:
        for k, v in tags.items():
            if propagated_only and not is_propagated_key(k):
                continue
            error[0] = _put_tag(&b, k, v, max_size, 0)
            if error[0]:
                return None
        return sb_str(&b) if b.length else None
    finally:
        sb_free(&b)


cdef str _encode_scanned_tags(_MetaScan *m, dict meta, Py_ssize_t max_size, int *error):
    """``_encode_tagset(meta, max_size, True, error)`` from the tags ``_scan_meta`` found."""
    cdef StrBuf b
    cdef Py_ssize_t i
    cdef str text
    if m.n_tags < 0:
        return _encode_tagset(meta, max_size, True, error)
    if m.n_tags == 0:
        return None
    if _memo_hit(m, max_size):
        return _memo_text
    sb_init(&b)
    try:
        for i in range(m.n_tags):
            error[0] = _put_tag(&b, <object>m.tags[2 * i], <object>m.tags[2 * i + 1], max_size, _known(m, i))
            if error[0]:
                return None
        text = sb_str(&b)
    finally:
        sb_free(&b)
    _memo_store(m, max_size, text)
    return text


# the reasons of _encode_tagset's error codes 1 and 2
cdef tuple _TAGSET_ERRORS = (None, "encoding_error", "inject_max_size")


cpdef str encode_tagset(dict tags, Py_ssize_t max_size):
    """The ``x-datadog-tags`` value for ``{key: value}``, or an error reason (see the pure twin)."""
    cdef int error = 0
    encoded = _encode_tagset(tags, max_size, False, &error)
    return _TAGSET_ERRORS[error] if error else (encoded or "")


cdef inline bint _valid_decision_maker(str dm):
    """``-`` then an integer 0..255 without leading zeros (libdatadog's u8 mechanism)."""
    cdef Py_ssize_t n = len(dm), i
    cdef int v = 0
    cdef Py_UCS4 c
    if n < 2 or n > 4 or dm[0] != u"-" or (n > 2 and dm[1] == u"0"):
        return False
    for i in range(1, n):
        c = dm[i]
        if c < u"0" or c > u"9":
            return False
        v = v * 10 + (<long>c - 48)
    return v <= 255


VALID_DECISION_MAKERS = frozenset("-%d" % value for value in range(256))


# -- datadog ----------------------------------------------------------------------------------------


cdef Context _extract_datadog(_Headers h, Settings s):
    cdef str trace_id_text = h.get(H_TRACE_ID)
    cdef str parent_text, priority_text, tags_text, tid, dm, error
    cdef PyObject *found
    cdef uint64_t low, span_id = 0, hi
    cdef object trace_id, priority = None
    cdef dict meta
    if trace_id_text is None:
        return None
    if len(trace_id_text) > 20 or parse_dec_u64(trace_id_text, &low) < 0 or low == 0:
        record("datadog_trace_id", trace_id_text)
        return None
    parent_text = h.get(H_PARENT_ID)
    if parent_text is not None and (len(parent_text) > 20 or parse_dec_u64(parent_text, &span_id) < 0):
        record("datadog_parent_id", parent_text)
        return None
    priority_text = h.get(H_PRIORITY)
    if priority_text is not None:
        priority = parse_priority(priority_text)
        if priority is None:
            record("datadog_sampling_priority", priority_text)
            return None
    meta = {}
    trace_id = low
    tags_text = h.get(H_TAGS)
    if tags_text:
        error = _decode_tagset_into(tags_text, 512, meta, True)
        if error is not None:
            record(error, tags_text)
            meta.clear()
            meta["_dd.propagation_error"] = error
        elif meta:
            found = PyDict_GetItem(meta, "_dd.p.tid")  # borrowed; str keys: no error to look for
            if found is not NULL:
                tid = <str>found
                if len(tid) == 16 and parse_hex_range(tid, 0, 16, True, &hi) == 0 and hi != 0:
                    if s.trace_id_128:
                        trace_id = join_u128(hi, low)
                else:
                    record("malformed_tid", tid)
                    del meta["_dd.p.tid"]
                    meta["_dd.propagation_error"] = "malformed_tid " + tid
            found = PyDict_GetItem(meta, "_dd.p.dm")
            if found is not NULL and not _valid_decision_maker(<str>found):
                dm = <str>found
                record("decision_maker", dm)
                del meta["_dd.p.dm"]
                meta["_dd.propagation_error"] = "decoding_error"
    return new_context(trace_id, span_id if span_id else None, _accepted_origin(h.get(H_ORIGIN)), priority, meta)


cdef const char *_PAIRS = (b"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                           b"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                           b"8081828384858687888990919293949596979899")


cdef str _dec(uint64_t v):
    """Unsigned decimal of v: 8-digit groups from the right (``write_dec8``), then the leading digits
    two at a time."""
    cdef char buf[20]
    cdef int i = 20
    cdef uint32_t low, r
    while v >= 100000000:
        i -= 8
        write_dec8(buf + i, <uint32_t>(v % 100000000))
        v //= 100000000
    low = <uint32_t>v
    while low >= 10:
        r = low % 100
        low //= 100
        i -= 2
        buf[i] = _PAIRS[2 * r]
        buf[i + 1] = _PAIRS[2 * r + 1]
    if low or i == 20:  # a leading single digit, or v == 0
        i -= 1
        buf[i] = <char>(48 + low)
    return ascii_str(buf + i, 20 - i)


cdef str _hex16(uint64_t v):
    cdef char buf[16]
    write_hex16(buf, v)
    return ascii_str(buf, 16)


cdef inline Py_ssize_t _write_hex_id(char *buf, uint64_t hi, uint64_t lo) noexcept:
    """16 hex digits of a 64-bit id (``hi`` 0), 32 of a larger one (B3, traceparent), into ``buf``; how
    many it wrote."""
    if hi:
        write_hex16(buf, hi)
        write_hex16(buf + 16, lo)
        return 32
    write_hex16(buf, lo)
    return 16


cdef str _hex_u128(uint64_t hi, uint64_t lo):
    """``_write_hex_id`` as a str."""
    cdef char buf[32]
    return ascii_str(buf, _write_hex_id(buf, hi, lo))


cdef str _hex_id(object value):
    """``_hex_u128`` of an id."""
    cdef uint64_t hi, lo
    int_to_u128(value, &hi, &lo)
    return _hex_u128(hi, lo)


cdef inline bint _is_hex_of(object text, uint64_t v):
    """``text`` is already the 16-digit lowercase hex of ``v`` (saves re-making an equal string)."""
    cdef char buf[16]
    if type(text) is not str or PyUnicode_GET_LENGTH(<str>text) != 16 or PyUnicode_KIND(<str>text) != 1:
        return False
    write_hex16(buf, v)
    return memcmp(buf, PyUnicode_DATA(<str>text), 16) == 0


# -- what inject reads of a context's meta, found in one walk ------------------------------------------

cdef extern from *:
    """
    /* the keys of a context's meta that inject reads */
    enum { DDF_M_TID, DDF_M_DM, DDF_M_USR, DDF_M_TRACEPARENT, DDF_M_TRACESTATE, DDF_M_PARENT_ID,
           DDF_M_ERROR, DDF_M_SLOTS };
    #define DDF_M_NONE 15  /* a key that is none of them */
    #define DDF_M_TAG 16   /* flag: a str starting with "_dd.p.": a propagated tag */
    /* The DDF_M_* slot of a meta key (one equal to a name above), with DDF_M_TAG for a propagated tag.
       Text that is not one byte per character cannot equal an ASCII name: CPython keeps every str in
       its narrowest kind. */
    static CYTHON_INLINE int ddf_meta_key(PyObject *key) {
        const char *p;
        Py_ssize_t n;
        int tag;
        if (!PyUnicode_Check(key) || PyUnicode_KIND(key) != PyUnicode_1BYTE_KIND)
            return DDF_M_NONE;
        p = (const char *)PyUnicode_DATA(key);
        n = PyUnicode_GET_LENGTH(key);
        tag = n >= 6 && memcmp(p, "_dd.p.", 6) == 0 ? DDF_M_TAG : 0;
        switch (n) {
        case 8: if (memcmp(p, "_dd.p.dm", 8) == 0) return tag | DDF_M_DM; break;
        case 9: if (memcmp(p, "_dd.p.tid", 9) == 0) return tag | DDF_M_TID; break;
        case 10: if (memcmp(p, "tracestate", 10) == 0) return DDF_M_TRACESTATE; break;
        case 11: if (memcmp(p, "traceparent", 11) == 0) return DDF_M_TRACEPARENT; break;
        case 12: if (memcmp(p, "_dd.p.usr.id", 12) == 0) return tag | DDF_M_USR; break;
        case 13: if (memcmp(p, "_dd.parent_id", 13) == 0) return DDF_M_PARENT_ID; break;
        case 21: if (memcmp(p, "_dd.propagation_error", 21) == 0) return DDF_M_ERROR; break;
        }
        return tag | DDF_M_NONE;
    }
    """
    enum:
        M_TID "DDF_M_TID"                  # _dd.p.tid
        M_DM "DDF_M_DM"                    # _dd.p.dm
        M_USR "DDF_M_USR"                  # _dd.p.usr.id
        M_TRACEPARENT "DDF_M_TRACEPARENT"  # traceparent
        M_TRACESTATE "DDF_M_TRACESTATE"    # tracestate
        M_PARENT_ID "DDF_M_PARENT_ID"      # _dd.parent_id
        M_ERROR "DDF_M_ERROR"              # _dd.propagation_error
        M_SLOTS "DDF_M_SLOTS"
        M_NONE "DDF_M_NONE"
        M_TAG "DDF_M_TAG"
    int meta_key "ddf_meta_key"(PyObject *key) noexcept

cdef enum:
    _SCAN_TAGS = 32  # the propagated tags a scan holds; a meta with more is walked instead


cdef struct _MetaScan:
    PyObject *found[M_SLOTS]         # the value of each key inject reads, NULL when absent
    PyObject *tags[2 * _SCAN_TAGS]   # the propagated tags' keys and values, in meta's order
    unsigned char slots[_SCAN_TAGS]  # the M_* slot of each of those keys (M_NONE for most)
    Py_ssize_t n_tags                # how many tags; -1 when meta has more than fit
    bint tid_hex                     # found[M_TID] is known to be 16 lowercase hex digits


# The last x-datadog-tags value encoded from scanned tags, and the tags it was made of (references held):
# the same key and value objects give the same text. A trace's tags are those of its caller (the shared
# _dd.p.dm and _dd.p.tid texts of extract: the tid is the trace's start second), so most injects of a
# busy service repeat the previous one's.
cdef PyObject *_memo_tags[2 * _SCAN_TAGS]
cdef Py_ssize_t _memo_n = 0
cdef Py_ssize_t _memo_max_size = -1
cdef str _memo_text = None


cdef inline bint _memo_hit(_MetaScan *m, Py_ssize_t max_size) noexcept:
    cdef Py_ssize_t i
    if m.n_tags != _memo_n or max_size != _memo_max_size:
        return False
    for i in range(2 * m.n_tags):
        if m.tags[i] != _memo_tags[i]:
            return False
    return True


cdef void _memo_store(_MetaScan *m, Py_ssize_t max_size, str text) noexcept:
    """Remember ``text`` as the encoding of the scanned tags, when they are all exact str (whose release
    runs no Python code)."""
    global _memo_n, _memo_max_size, _memo_text
    cdef Py_ssize_t i
    for i in range(2 * m.n_tags):
        if type(<object>m.tags[i]) is not str:
            return
    for i in range(2 * _memo_n):
        Py_XDECREF(_memo_tags[i])
    for i in range(2 * m.n_tags):
        Py_INCREF(<object>m.tags[i])
        _memo_tags[i] = m.tags[i]
    _memo_n = m.n_tags
    _memo_max_size = max_size
    _memo_text = text


cdef void _scan_meta(dict meta, _MetaScan *m) noexcept:
    """What inject reads of the trace's meta, from one walk of it (a handful of entries) rather than a
    look-up per key and a walk per style. ``m`` holds references until ``_release_meta``, so that what
    it found stays valid whatever Python code runs in between."""
    cdef Py_ssize_t pos = 0
    cdef PyObject *key
    cdef PyObject *value
    cdef int kind, slot
    for slot in range(M_SLOTS):
        m.found[slot] = NULL
    m.n_tags = 0
    m.tid_hex = False
    if meta is None:
        return
    while PyDict_Next(meta, &pos, &key, &value):
        kind = meta_key(key)
        slot = kind & 15
        if slot != M_NONE:
            Py_INCREF(<object>value)
            Py_XDECREF(m.found[slot])  # a str subclass equal to a str key: the last one stands
            m.found[slot] = value
        if kind & M_TAG and m.n_tags >= 0:
            if m.n_tags == _SCAN_TAGS:
                _release_tags(m)
                m.n_tags = -1
            else:
                Py_INCREF(<object>key)
                Py_INCREF(<object>value)
                m.tags[2 * m.n_tags] = key
                m.tags[2 * m.n_tags + 1] = value
                m.slots[m.n_tags] = slot
                m.n_tags += 1


cdef inline void _release_tags(_MetaScan *m) noexcept:
    cdef Py_ssize_t i
    for i in range(2 * m.n_tags):
        Py_XDECREF(m.tags[i])
    m.n_tags = 0


cdef void _release_meta(_MetaScan *m) noexcept:
    """Drop the references ``_scan_meta`` took."""
    cdef int i
    for i in range(M_SLOTS):
        Py_XDECREF(m.found[i])
        m.found[i] = NULL
    _release_tags(m)


cdef void _meta_set(dict meta, _MetaScan *m, int slot, str key, object value) except *:
    """meta[key] = value, and ``m`` kept up to date: a new propagated tag goes last, as in meta."""
    cdef Py_ssize_t i
    meta[key] = value
    Py_INCREF(value)
    Py_XDECREF(m.found[slot])
    m.found[slot] = <PyObject *>value
    if not key.startswith("_dd.p.") or m.n_tags < 0:
        return
    for i in range(m.n_tags):
        if m.slots[i] == slot:
            Py_INCREF(value)
            Py_XDECREF(m.tags[2 * i + 1])
            m.tags[2 * i + 1] = <PyObject *>value
            return
    if m.n_tags == _SCAN_TAGS:
        _release_tags(m)
        m.n_tags = -1
        return
    Py_INCREF(key)
    Py_INCREF(value)
    m.tags[2 * m.n_tags] = <PyObject *>key
    m.tags[2 * m.n_tags + 1] = <PyObject *>value
    m.slots[m.n_tags] = slot
    m.n_tags += 1


cdef inline object _found(PyObject *value):
    """A found value (None when absent)."""
    return <object>value if value is not NULL else None


cdef enum:
    _KNOWN_KEY = 1    # a tag key that is one of the M_* names: valid as it is in both headers
    _KNOWN_VALUE = 2  # a tag value known to be valid as it is (the _dd.p.tid inject checked or made)


cdef inline int _known(_MetaScan *m, Py_ssize_t i) noexcept:
    """What is known valid of the scan's tag ``i`` (``_KNOWN_*`` bits)."""
    if m.slots[i] == M_NONE:
        return 0
    return _KNOWN_KEY | (_KNOWN_VALUE if m.slots[i] == M_TID and m.tid_hex else 0)


cdef inline int _set(object headers, str name, object value) except -1:
    """headers[name] = value, straight into the dict when it is one."""
    if type(headers) is dict:
        return PyDict_SetItem(<dict>headers, name, value)
    headers[name] = value
    return 0


cdef tuple _PRIORITIES = ("-1", "0", "1", "2")


cdef inline str _priority_str(object priority):
    """str(priority), without an allocation for the four standard values."""
    cdef long long v
    if small_int(priority, &v) and -1 <= v <= 2:
        return <str>_PRIORITIES[v + 1]
    return str(priority)


cdef void _inject_datadog(Context ctx, object headers, Settings s, uint64_t hi, uint64_t lo,
                          _MetaScan *m) except *:
    """The datadog headers; ``m`` is ``_scan_meta`` of the context's meta, kept up to date with what this
    adds to it."""
    cdef dict meta = ctx._meta
    cdef str encoded
    cdef int error = 0
    _set(headers, "x-datadog-trace-id", _dec(lo))
    if hi:
        if not _is_hex_of(_found(m.found[M_TID]), hi):
            _meta_set(meta, m, M_TID, "_dd.p.tid", tid_text(hi))
        m.tid_hex = True
    cdef Context state = ctx.trace_state()
    _set(headers, "x-datadog-parent-id", _dec(low64(ctx.span_id)))
    if state._priority is not None:
        _set(headers, "x-datadog-sampling-priority", _priority_str(state._priority))
    if state._origin is not None:
        _set(headers, "x-datadog-origin", state._origin)
    if s.tags_max_length == 0:
        _meta_set(meta, m, M_ERROR, "_dd.propagation_error", "disabled")
        return
    if m.found[M_ERROR] is not NULL:
        return
    encoded = _encode_scanned_tags(m, meta, s.tags_max_length, &error)
    if error:
        record(_TAGSET_ERRORS[error], meta)
        _meta_set(meta, m, M_ERROR, "_dd.propagation_error", _TAGSET_ERRORS[error])
    elif encoded is not None:
        _set(headers, "x-datadog-tags", encoded)


# -- b3 ---------------------------------------------------------------------------------------------


cdef tuple _b3_ids(str trace_text, str span_text):
    """(trace_id, span_id) from B3 hex ids (0 -> None), or None when either does not parse."""
    cdef object trace_id = None, span_id = None
    if trace_text is not None:
        trace_id = parse_hex_id(trace_text, 32)
        if trace_id is None:
            record("b3_trace_id", trace_text)
            return None
    if span_text is not None:
        span_id = parse_hex_id(span_text, 16)
        if span_id is None:
            record("b3_span_id", span_text)
            return None
    return (trace_id or None, span_id or None)


cdef Context _extract_b3multi(_Headers h, Settings s):
    cdef str trace_text = h.get(H_B3_TRACE_ID)
    cdef tuple ids
    cdef object priority
    if trace_text is None:
        return None
    ids = _b3_ids(trace_text, h.get(H_B3_SPAN_ID))
    if ids is None:
        return None
    sampled = h.get(H_B3_SAMPLED)
    priority = 0 if sampled == "0" else 1 if sampled == "1" else None
    if h.get(H_B3_FLAGS) == "1":
        priority = 2
    return new_context(ids[0], ids[1], None, priority, {})


cdef Context _extract_b3(_Headers h, Settings s):
    cdef str value = h.get(H_B3_SINGLE)
    cdef list parts
    cdef str trace_text = None, span_text = None, sampled = None
    cdef tuple ids
    if not value:
        return None
    parts = value.split("-")
    if len(parts) == 1:
        sampled = parts[0]
    elif len(parts) == 2:
        trace_text = parts[0]
        span_text = parts[1]
    else:
        trace_text, span_text, sampled = parts[0], parts[1], parts[2]
    ids = _b3_ids(trace_text, span_text)
    if ids is None:
        return None
    priority = 0 if sampled == "0" else 1 if sampled == "1" else 2 if sampled == "d" else None
    return new_context(ids[0], ids[1], None, priority, {})


cdef void _inject_b3multi(Context ctx, object headers, uint64_t hi, uint64_t lo) except *:
    _set(headers, "x-b3-traceid", _hex_u128(hi, lo))
    _set(headers, "x-b3-spanid", _hex_id(ctx.span_id))
    priority = ctx.trace_state()._priority
    if priority is not None:
        if priority <= 0:
            _set(headers, "x-b3-sampled", "0")
        elif priority == 1:
            _set(headers, "x-b3-sampled", "1")
        elif priority > 1:
            _set(headers, "x-b3-flags", "1")


cdef void _inject_b3(Context ctx, object headers, uint64_t hi, uint64_t lo) except *:
    """``b3: <trace id>-<span id>[-<0|1|d>]``, written in one buffer."""
    cdef char buf[70]
    cdef Py_ssize_t n
    cdef uint64_t span_hi, span_lo
    int_to_u128(ctx.span_id, &span_hi, &span_lo)
    n = _write_hex_id(buf, hi, lo)
    buf[n] = b"-"
    n += 1 + _write_hex_id(buf + n + 1, span_hi, span_lo)
    cdef char flag = 0
    priority = ctx.trace_state()._priority
    if priority is not None:
        if priority <= 0:
            flag = b"0"
        elif priority == 1:
            flag = b"1"
        elif priority > 1:
            flag = b"d"
    if flag:
        buf[n] = b"-"
        buf[n + 1] = flag
        n += 2
    _set(headers, "b3", ascii_str(buf, n))


# -- W3C tracecontext ---------------------------------------------------------------------------------

# the limits as C constants (no module-global lookup on the hot path), published under their names
cdef enum:
    _DD_MEMBER_RESERVED = 22  # len("dd=") + len("p:0000000000000000;")
    _ORIGIN_MAX = 128
    _W3C_FIELD_MAX = 256  # the longest key, and the longest value, of a tracestate list member
    _DD_MEMBER_MAX = 256
    _TS_MAX_MEMBERS = 32
    _TS_MAX_BYTES = 512
TRACESTATE_MAX_MEMBERS = _TS_MAX_MEMBERS
TRACESTATE_MAX_BYTES = _TS_MAX_BYTES
TRACESTATE_MEMBER_MAX_CHARS = 128
DD_MEMBER_MAX_CHARS = _DD_MEMBER_MAX
#: the longest origin accepted from the wire (x-datadog-origin, tracestate o:)
ORIGIN_MAX_CHARS = _ORIGIN_MAX
#: the longest key, and the longest value, of a tracestate list member (W3C)
W3C_FIELD_MAX_CHARS = _W3C_FIELD_MAX
OT_VALUE_MAX_CHARS = 256


cdef int _parse_traceparent(str tp, uint64_t *hi, uint64_t *lo, uint64_t *span, uint64_t *flags) except -2:
    """0 and the fields of a stripped traceparent, or -1 (see the pure twin's ``parse_traceparent``)."""
    cdef Py_ssize_t n = len(tp)
    cdef int kind = PyUnicode_KIND(tp)
    cdef void *data = PyUnicode_DATA(tp)
    cdef uint64_t version
    if (n < 55 or read_char(kind, data, 2) != 0x2D or read_char(kind, data, 35) != 0x2D
            or read_char(kind, data, 52) != 0x2D):
        return -1
    if parse_hex_range(tp, 0, 2, True, &version) < 0 or version == 0xFF:
        return -1
    if n > 55:
        if version == 0 or read_char(kind, data, 55) != 0x2D or n == 56 or "\n" in tp:
            return -1
    if (parse_hex_range(tp, 3, 19, True, hi) < 0 or parse_hex_range(tp, 19, 35, True, lo) < 0
            or parse_hex_range(tp, 36, 52, True, span) < 0 or parse_hex_range(tp, 53, 55, True, flags) < 0):
        return -1
    if (hi[0] == 0 and lo[0] == 0) or span[0] == 0:
        return -1
    return 0


def parse_traceparent(str text):
    """(trace_id, span_id, flags) of a traceparent value (trimmed of whitespace), or None."""
    cdef uint64_t hi, lo, span, flags
    if _parse_traceparent(text.strip(), &hi, &lo, &span, &flags) < 0:
        return None
    return join_u128(hi, lo), span, flags


cdef bint _member_sized(str member) except -1:
    """A member's key and value are each at most 256 chars (W3C); a longer one is dropped, recorded."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(member), eq
    if n <= _W3C_FIELD_MAX + 2:  # key and "=" take at least 2: both fit
        return True
    eq = PyUnicode_FindChar(member, 0x3D, 0, n, 1)
    if (eq < 0 and n <= _W3C_FIELD_MAX) or (0 <= eq <= _W3C_FIELD_MAX and n - eq - 1 <= _W3C_FIELD_MAX):
        return True
    record("tracestate_member_size", member[:64])
    return False


cdef list _member_limits(list members):
    """The tracestate members kept under the W3C limits, ddtrace's way (see the pure twin)."""
    cdef list kept = []
    cdef list protected = []
    cdef list others
    cdef list packed
    cdef str m
    cdef Py_ssize_t i, room, excess, total, size, n_protected
    for item in members:
        m = (<str>item).strip()
        if m and _member_sized(m):
            kept.append(m)
    for prefix in ("dd=", "ot="):
        for i in range(len(kept) - 1, -1, -1):
            if (<str>kept[i]).startswith(prefix):
                protected.append(kept[i])
                break
    n_protected = len(protected)
    if n_protected == len(kept):
        others = []
    else:
        others = [m for m in kept if not (m.startswith("dd=") or m.startswith("ot="))]
    room = TRACESTATE_MAX_MEMBERS - n_protected
    if len(others) > room:
        excess = len(others) - room
        kept = []
        for m in others:
            if excess and len(m) > TRACESTATE_MEMBER_MAX_CHARS:
                excess -= 1
                continue
            kept.append(m)
        others = kept[:room]
    packed = []
    total = 0
    i = 0
    for m in (protected + others if others else protected):
        size = (len(m) if m.isascii() else len(m.encode("utf-8"))) + (1 if packed else 0)
        if i == 0 and n_protected:
            packed.append(m)
            total += size
        elif total + size <= TRACESTATE_MAX_BYTES:
            packed.append(m)
            total += size
        elif i < n_protected:
            break
        elif len(m) > TRACESTATE_MEMBER_MAX_CHARS:
            i += 1
            continue
        else:
            break
        i += 1
    return packed


cdef object _priority_from_w3c(uint64_t sampled, object ts_priority, object origin):
    """The Datadog priority given the traceparent sampled flag and the tracestate ``s:`` value."""
    if not ts_priority and origin == "rum":
        return ts_priority
    if sampled == 0 and (not ts_priority or ts_priority >= 0):
        return 0
    if sampled == 1 and (not ts_priority or ts_priority < 0):
        return 1
    return ts_priority


cdef str _accepted_origin(str origin):
    """An extracted origin, or None when longer than any real one (``synthetics``, ``rum``, ``lambda``...):
    a hostile value is not fanned out into every downstream call (recorded ``origin_too_long``)."""
    if origin is not None and PyUnicode_GET_LENGTH(origin) > _ORIGIN_MAX:
        record("origin_too_long", origin[:64])
        return None
    return origin


cdef inline int _parse_priority_range(str text, Py_ssize_t start, Py_ssize_t stop, long long *out):
    """``parse_priority`` of text[start:stop] without slicing: 0 and *out, or -1."""
    cdef long long v = 0
    cdef bint negative = stop > start and text[start] == u"-"
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    if negative:
        start += 1
    if stop - start <= 0 or stop - start > 18:
        return -1
    for i in range(start, stop):
        c = text[i]
        if c < u"0" or c > u"9":
            return -1
        v = v * 10 + (<long>c - 48)
    out[0] = -v if negative else v
    return 0


cdef inline str _stripped(str text):
    """``text.strip()``, without the method call when there is nothing to strip (the usual case)."""
    cdef Py_ssize_t n = len(text)
    if n == 0 or not (Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, 0))
                      or Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, n - 1))):
        return text
    return text.strip()


cdef str _limited_tracestate(str ts):
    """``",".join(_member_limits(ts.split(",")))``, without the lists when there is one member."""
    cdef str m
    if "," in ts:
        return ",".join(_member_limits(ts.split(",")))
    m = _stripped(ts)
    if m.startswith("dd=") or m.startswith("ot=") or len(m) <= TRACESTATE_MEMBER_MAX_CHARS:
        return m
    if (len(m) if m.isascii() else len(m.encode("utf-8"))) <= TRACESTATE_MAX_BYTES:
        return m
    return ""


cdef struct _DDMember:
    Py_ssize_t end          # where the member ends in the tracestate (its "," or the end)
    Py_ssize_t s_at, s_end  # value ranges of the last s, o and p items (at = -1 when absent)
    Py_ssize_t o_at, o_end
    Py_ssize_t p_at, p_end
    bint has_priority
    long long priority


cdef bint _scan_dd_member(str ts, _DDMember *m):
    """Check the ``dd=`` member opening ``ts`` as ``_dd_member_values`` does (every item ``k:v``, ``s`` an
    integer) and find its ``s``, ``o`` and ``p``; False, after recording why, when it is invalid."""
    cdef Py_ssize_t n = PyUnicode_FindChar(ts, 0x2C, 3, len(ts), 1), i = 3, j, colon
    m.end = n if n >= 0 else len(ts)
    m.s_at = m.o_at = m.p_at = -1
    m.s_end = m.o_end = m.p_end = 0
    m.has_priority = False
    while True:
        j = PyUnicode_FindChar(ts, 0x3B, i, m.end, 1)
        if j < 0:
            j = m.end
        colon = PyUnicode_FindChar(ts, 0x3A, i, j, 1)
        if colon < 0:
            record("tracestate_dd", ts)
            return False
        if colon == i + 1:
            if ts[i] == u"s":
                m.s_at, m.s_end = colon + 1, j
            elif ts[i] == u"o":
                m.o_at, m.o_end = colon + 1, j
            elif ts[i] == u"p":
                m.p_at, m.p_end = colon + 1, j
        if j >= m.end:
            break
        i = j + 1
    if m.s_at >= 0:
        if _parse_priority_range(ts, m.s_at, m.s_end, &m.priority) < 0:
            record("tracestate_dd", ts)
            return False
        m.has_priority = True
    return True


cdef str _dd_member_p(str ts, _DDMember *m):
    """The member's ``p`` (the last Datadog parent) as sent, None when absent; one that is not 16 hex
    digits is recorded (and never injected)."""
    cdef str value
    if m.p_at < 0 or m.p_end == m.p_at:
        return None
    value = ts[m.p_at:m.p_end]
    if not is_hex(value, 16):
        record("tracestate_p", value)
    return value


cdef tuple _apply_dd_member(str ts, dict meta, uint64_t sampled, object priority):
    """Apply the ``dd=`` member that opens ``ts`` (``_dd_member_values`` and its use, in the pure twin's
    ``_extract_tracecontext``) by scanning indices: ``t.*`` into meta and ``p``; returns (priority, origin)."""
    cdef _DDMember m
    cdef Py_ssize_t i = 3, j, colon
    cdef str value, key, origin = None
    if not _scan_dd_member(ts, &m):
        return priority, None
    if m.o_at >= 0:
        value = ts[m.o_at:m.o_end]
        origin = _accepted_origin(value.replace("~", "=") if "~" in value else value)
    # the t.* items, in order
    while True:
        j = PyUnicode_FindChar(ts, 0x3B, i, m.end, 1)
        if j < 0:
            j = m.end
        if j - i >= 3 and ts[i] == u"t" and ts[i + 1] == u".":
            colon = PyUnicode_FindChar(ts, 0x3A, i, j, 1)
            key = _common_tag(ts, i, colon, 2)
            value = None
            if key is None:
                key = "_dd.p." + ts[i + 2:colon]
            else:
                value = _shared_value(key, ts, PyUnicode_KIND(ts), PyUnicode_DATA(ts), colon + 1, j)
            if value is None:
                value = ts[colon + 1:j]
                if "~" in value:
                    value = value.replace("~", "=")
            meta[key] = value
        if j >= m.end:
            break
        i = j + 1
    value = _dd_member_p(ts, &m)
    if value is not None:
        meta["_dd.parent_id"] = value
    priority = _priority_from_w3c(sampled, m.priority if m.has_priority else None, origin)
    if m.has_priority and priority != m.priority:
        _redecided(meta, priority)
    return priority, origin


cdef void _redecided(dict meta, object priority) except *:
    """The decision maker of a decision the traceparent flag changed on extraction: a keep is the
    default decision (``-0``), a drop carries none (Datadog's tracestate rules)."""
    if priority > 0:
        meta["_dd.p.dm"] = "-0"
    elif "_dd.p.dm" in meta:
        del meta["_dd.p.dm"]


cdef str _dd_member_parent(str ts):
    """The ``p`` of the ``dd=`` member opening ``ts`` when the member is valid (what ``_apply_dd_member``
    would store as ``_dd.parent_id``), else None; records the same problems it would."""
    cdef _DDMember m
    if not _scan_dd_member(ts, &m):
        return None
    return _dd_member_p(ts, &m)


@cython.final
cdef class _W3CMerge:
    """What a tracecontext context of the primary's own trace lends it in ``_resolve`` (its traceparent,
    tracestate, parent and ``p``): all that is needed of it, so the full context is never made."""

    cdef str traceparent
    cdef str tracestate
    cdef str limited  # the tracestate under the limits, its dd= member read only when the parents differ
    cdef object span_id


cdef str _valid_traceparent(_Headers h, uint64_t *hi, uint64_t *lo, uint64_t *span, uint64_t *flags):
    """The trimmed traceparent and its fields, or None when absent or invalid (recorded)."""
    cdef str tp = h.get(H_TRACEPARENT)
    if tp is None:
        return None
    tp = _stripped(tp)
    if _parse_traceparent(tp, hi, lo, span, flags) < 0:
        record("traceparent", tp)
        return None
    if flags[0] & ~W3C_KNOWN_FLAGS or len(tp) != 55 or tp[0] != u"0" or tp[1] != u"0":
        tp = _normal_traceparent(tp, flags[0])
    return tp


cdef str _normal_traceparent(str tp, uint64_t flags):
    """A valid traceparent as this tracer understands it: version 00, the flags W3C defines (sampled,
    random trace id) and none other, no fields of a later version (W3C Trace Context level 2)."""
    return "00-%s-%02x" % (tp[3:52], flags & W3C_KNOWN_FLAGS)


cdef bint _tracestate_as_is(str ts) noexcept:
    """``ts`` is a tracestate the W3C limits leave as it is (``_limited_tracestate(ts) == ts``) and is
    printable ASCII: at most 32 non-empty members and 512 characters, none padded with spaces, a ``dd=``
    member only first, no ``ot=`` member (the usual case: one check of the text, then its commas)."""
    cdef Py_ssize_t n = len(ts), i, start = 0, members = 0
    cdef const unsigned char *p = <const unsigned char *>PyUnicode_DATA(ts)
    cdef const unsigned char *comma
    if n == 0 or n > _TS_MAX_BYTES or PyUnicode_KIND(ts) != 1 or not printable_bytes(p, n):
        return False
    while True:  # the member ts[start:i]
        comma = <const unsigned char *>memchr(p + start, 0x2C, n - start)
        i = comma - p if comma is not NULL else n
        if i == start or p[start] == 0x20 or p[i - 1] == 0x20 or i - start > _W3C_FIELD_MAX + 2:
            return False
        if i - start >= 3 and p[start + 2] == 0x3D and (
                (p[start] == 0x64 and p[start + 1] == 0x64 and members > 0)  # a dd= member not first
                or (p[start] == 0x6F and p[start + 1] == 0x74)):  # an ot= member
            return False
        members += 1
        if members > _TS_MAX_MEMBERS:
            return False
        if comma is NULL:
            return True
        start = i + 1


cdef str _valid_tracestate(_Headers h):
    """The tracestate under the W3C limits, or None when absent, empty or not printable ASCII (recorded)."""
    cdef str ts = h.get(H_TRACESTATE)
    if not ts:
        return None
    if _tracestate_as_is(ts):
        return ts
    ts = _limited_tracestate(ts)
    if not is_printable_ascii(ts):
        record("tracestate", ts)
        return None
    return ts


cdef object _tracecontext_secondary(_Headers h, Settings s, Context primary):
    """The tracecontext style when another style already yielded the primary context: a ``_W3CMerge``
    when it carries the same trace (the common case), else the full context (it becomes a span link)."""
    cdef str tp, ts
    cdef uint64_t hi, lo, span, flags
    cdef _W3CMerge merge
    tp = _valid_traceparent(h, &hi, &lo, &span, &flags)
    if tp is None:
        return None
    ts = _valid_tracestate(h)
    if primary.trace_id is None or not _equals_u128(primary.trace_id, hi, lo):
        return _tracecontext(tp, hi, lo, span, flags, ts)
    merge = _W3CMerge.__new__(_W3CMerge)
    merge.traceparent = tp
    merge.span_id = span
    if ts is not None:
        merge.tracestate = _drop_bad_ot(ts)
        merge.limited = ts
    return merge


cdef inline bint _equals_u128(object value, uint64_t hi, uint64_t lo):
    cdef uint64_t vhi, vlo
    if type(value) is not int or value < 0:
        return False
    int_to_u128(value, &vhi, &vlo)
    return vhi == hi and vlo == lo


cdef Context _extract_tracecontext(_Headers h, Settings s):
    cdef uint64_t hi, lo, span, flags
    cdef str tp = _valid_traceparent(h, &hi, &lo, &span, &flags)
    if tp is None:
        return None
    return _tracecontext(tp, hi, lo, span, flags, _valid_tracestate(h))


cdef Context _tracecontext(str tp, uint64_t hi, uint64_t lo, uint64_t span, uint64_t flags, str ts):
    """The context of a valid traceparent and its tracestate (None: absent or invalid)."""
    cdef uint64_t sampled = flags & 1
    cdef dict meta = {"traceparent": tp}
    cdef object priority = <int>sampled
    cdef str stored, origin = None
    if ts is not None:
        stored = _drop_bad_ot(ts)
        if stored is not None:
            meta["tracestate"] = stored
        # after the limits, the dd= member (the last one sent) comes first
        if ts.startswith("dd="):
            priority, origin = _apply_dd_member(ts, meta, sampled, priority)
            if "_dd.p.tid" in meta:
                _check_tid(meta, hi)
    return new_context(join_u128(hi, lo), span, origin, priority, meta)


cdef int _check_tid(dict meta, uint64_t hi) except -1:
    """``t.tid`` of tracestate against the traceparent's upper 64 bits ``hi``, which win: a different
    one is replaced (or removed for a 64-bit trace id) and recorded as ``malformed_tid`` (not 16 hex
    digits) or ``inconsistent_tid``, so that no later injection sends a trace id the traceparent
    does not carry."""
    cdef str tid = meta["_dd.p.tid"]
    cdef str expected = tid_text(hi) if hi else None
    if tid == expected:
        return 0
    reason = "inconsistent_tid" if is_lower_hex(tid, 16) and tid != "0000000000000000" else "malformed_tid"
    record(reason, tid)
    meta["_dd.propagation_error"] = reason + " " + tid
    if expected is None:
        del meta["_dd.p.tid"]
    else:
        meta["_dd.p.tid"] = expected
    return 0


# _write_clean's substitutions per byte: what to write, or 0 for a character that starts (or continues) a
# run of non-printable ones, written once as "_"
cdef unsigned char _CLEAN_KEY[256]
cdef unsigned char _CLEAN_VALUE[256]
for _c in range(256):
    _CLEAN_KEY[_c] = _CLEAN_VALUE[_c] = _c if 0x20 <= _c <= 0x7E else 0
for _c in (0x2C, 0x20, 0x3D):  # , space =
    _CLEAN_KEY[_c] = 0x5F
for _c in (0x2C, 0x3B, 0x7E):  # , ; ~
    _CLEAN_VALUE[_c] = 0x5F
_CLEAN_VALUE[0x3D] = 0x7E


cdef int _write_clean(StrBuf *b, str text, Py_ssize_t start, bint is_key) except -1:
    """Append text[start:] with ddtrace's tracestate substitutions (``_w3c_clean`` in the pure twin):
    ``,`` and ``;`` ``~`` (values) or space ``=`` (keys), and any run of non-printable characters,
    become ``_``; then ``=`` becomes ``~``."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef const unsigned char *table = &_CLEAN_KEY[0] if is_key else &_CLEAN_VALUE[0]
    cdef const unsigned char *p = <const unsigned char *>data
    cdef Py_ssize_t i, n = len(text)
    cdef uint32_t c
    cdef unsigned char t
    cdef bint bad_run = False
    cdef char *out
    sb_reserve(b, n - start)
    out = b.data + b.length
    for i in range(start, n):
        if kind == 1:
            t = table[p[i]]
        else:
            c = read_char(kind, data, i)
            t = table[c] if c < 0x80 else 0
        if t:
            out[0] = <char>t
            out += 1
            bad_run = False
        elif not bad_run:
            out[0] = b"_"
            out += 1
            bad_run = True
    b.length = out - b.data
    return 0


cdef int _write_int(StrBuf *b, object value) except -1:
    """Append str(value), in C for an int that fits 64 bits."""
    cdef char digits[21]
    cdef int i = 21
    cdef long long v
    cdef unsigned long long u
    cdef str text
    if small_int(value, &v):
        u = -v if v < 0 else v
        while True:
            i -= 1
            digits[i] = <char>(48 + u % 10)
            u //= 10
            if u == 0:
                break
        if v < 0:
            i -= 1
            digits[i] = b"-"
        sb_bytes(b, digits + i, 21 - i)
        return 0
    text = str(value)
    return _write_clean(b, text, 0, False)


cdef inline bint _is_text(object k, str text):
    """``k == text`` for a str ``k``, the lengths compared first (no call for the usual mismatch)."""
    return k is text or (PyUnicode_GET_LENGTH(<str>k) == PyUnicode_GET_LENGTH(text) and k == text)


cdef int _put_member_tag(StrBuf *b, Py_ssize_t start, str key, object value, int known) except -1:
    """Append ``t.<key>:<value>`` to the dd= member that starts at ``start`` in ``b`` (after a ``;``
    unless it is the first item), unless the member would pass 256 chars with it. ``known``: as for
    ``_put_tag`` (a known key or value has nothing to substitute)."""
    cdef Py_ssize_t mark = b.length
    if b.length > start:
        sb_char(b, b";")
    if known & _KNOWN_KEY:
        sb_bytes(b, "t.", 2)
        sb_ascii(b, key, 6, len(key))
    elif len(key) < 12 or PyUnicode_Find(key, "_dd.p.", 6, len(key), 1) < 0:
        sb_bytes(b, "t.", 2)
        _write_clean(b, key, 6, True)
    else:  # the prefix occurs again inside the key: ddtrace replaces every occurrence
        _write_clean(b, key.replace("_dd.p.", "t."), 0, True)
    sb_char(b, b":")
    if known & _KNOWN_VALUE:
        sb_ascii(b, <str>value, 0, len(<str>value))
    else:
        _write_clean(b, value if type(value) is str else str(value), 0, False)
    if _DD_MEMBER_RESERVED + (b.length - start) > _DD_MEMBER_MAX:
        b.length = mark  # this tag does not fit: leave it out, try the next
    return 0


cdef inline int _fits_member(StrBuf *b, Py_ssize_t start, Py_ssize_t mark, str item) except -1:
    """Take back the item written since ``mark`` when the dd= member that starts at ``start`` no longer
    fits 256 chars with it (W3C's limit for a list member; recorded ``inject_dd_member_size``)."""
    if _DD_MEMBER_RESERVED + (b.length - start) > _DD_MEMBER_MAX:
        b.length = mark
        record("inject_dd_member_size", item)
    return 0


cdef int _write_dd_member(StrBuf *b, Context ctx, _MetaScan *m) except -1:
    """Append the value of the ``dd=`` tracestate member for ``ctx`` (``dd_member_of``): ``s``, ``o``,
    ``t.dm``, ``t.usr.id`` when they fit, then the other ``t.*`` tags while the member stays within 256
    chars. ``m`` is ``_scan_meta`` of the context's meta."""
    cdef Py_ssize_t start = b.length, i, mark
    cdef object dm = _found(m.found[M_DM]), usr = _found(m.found[M_USR])
    cdef Context state = ctx.trace_state()
    if state._priority is not None:
        sb_bytes(b, "s:", 2)
        _write_int(b, state._priority)
    if state._origin:
        mark = b.length
        if b.length > start:
            sb_char(b, b";")
        sb_bytes(b, "o:", 2)
        _write_clean(b, state._origin, 0, False)
        _fits_member(b, start, mark, "o")
    if dm:
        if b.length > start:
            sb_char(b, b";")
        sb_bytes(b, "t.dm:", 5)
        _write_clean(b, dm if type(dm) is str else str(dm), 0, False)
    if usr:
        mark = b.length
        if b.length > start:
            sb_char(b, b";")
        sb_bytes(b, "t.usr.id:", 9)
        _write_clean(b, usr if type(usr) is str else str(usr), 0, False)
        _fits_member(b, start, mark, "t.usr.id")
    if m.n_tags >= 0:
        for i in range(m.n_tags):
            if m.slots[i] != M_DM and m.slots[i] != M_USR:
                _put_member_tag(b, start, <str>m.tags[2 * i], <object>m.tags[2 * i + 1], _known(m, i))
        return 0
    for k, value in list(ctx._meta.items()):
        if is_propagated_key(k) and not _is_text(k, "_dd.p.dm") and not _is_text(k, "_dd.p.usr.id"):
            _put_member_tag(b, start, <str>k, value, 0)
    return 0


cpdef str dd_member_of(Context ctx):
    """The value of the ``dd=`` tracestate member for ``ctx`` (``s``, ``o``, ``t.*``), at most 256 chars."""
    cdef _MetaScan m
    _scan_meta(ctx._meta, &m)
    try:
        return _dd_member(ctx, &m)
    finally:
        _release_meta(&m)


cdef str _dd_member(Context ctx, _MetaScan *m):
    """``dd_member_of`` with its ``_scan_meta`` at hand."""
    cdef StrBuf b
    sb_init(&b)
    try:
        _write_dd_member(&b, ctx, m)
        return sb_str(&b)
    finally:
        sb_free(&b)


cpdef str traceparent_of(Context ctx):
    """The traceparent to send for ``ctx``: the upstream trace id and flag bits kept, our span id."""
    cdef uint64_t hi = 0, lo = 0
    if ctx.span_id is not None and ctx.trace_id is not None:
        int_to_u128(ctx.trace_id, &hi, &lo)
    return _traceparent(ctx, hi, lo, ctx._meta.get("traceparent"))


cdef str _traceparent(Context ctx, uint64_t trace_hi, uint64_t trace_lo, object tp):
    """``traceparent_of`` with the trace id's halves and meta's ``traceparent`` (``tp``) at hand."""
    cdef uint64_t hi, lo, span, flags
    cdef int sampled
    cdef long long v
    cdef str stripped
    cdef char buf[55]
    if ctx.span_id is None or ctx.trace_id is None:
        return tp or ""
    priority = ctx.trace_state()._priority
    if small_int(priority, &v):
        sampled = v > 0
    else:
        sampled = 1 if priority is not None and priority > 0 else 0
    if tp and type(tp) is str:
        stripped = _stripped(<str>tp)
        if _parse_traceparent(stripped, &hi, &lo, &span, &flags) == 0:
            flags = (flags & W3C_RANDOM_FLAG) | sampled  # the other bits are not ours to send (W3C)
        else:
            stripped = None
    else:
        stripped = None
    if stripped is None:
        hi = trace_hi
        lo = trace_lo
        flags = sampled
    buf[0] = b"0"
    buf[1] = b"0"
    buf[2] = b"-"
    write_hex16(buf + 3, hi)
    write_hex16(buf + 19, lo)
    buf[35] = b"-"
    write_hex16(buf + 36, low64(ctx.span_id))
    buf[52] = b"-"
    buf[53] = HEX_DIGITS[(flags >> 4) & 0xF]
    buf[54] = HEX_DIGITS[flags & 0xF]
    return ascii_str(buf, 55)


cdef inline bint _next_member(const char *p, Py_ssize_t n, Py_ssize_t *pos, Py_ssize_t *start,
                              Py_ssize_t *stop) noexcept:
    """The next ``,``-separated member of ``p[:n]`` from ``pos[0]``, trimmed of spaces, as
    ``p[start[0]:stop[0]]`` (possibly empty); False when there is none left."""
    cdef Py_ssize_t i = pos[0], j
    cdef const char *comma
    if i > n:
        return False
    comma = <const char *>memchr(p + i, 0x2C, n - i)
    j = comma - p if comma is not NULL else n
    pos[0] = j + 1
    while i < j and p[i] == b" ":
        i += 1
    while j > i and p[j - 1] == b" ":
        j -= 1
    start[0], stop[0] = i, j
    return True


cdef inline bint _is_dd_member(const char *p, Py_ssize_t start, Py_ssize_t stop) noexcept:
    return stop - start >= 3 and p[start] == b"d" and p[start + 1] == b"d" and p[start + 2] == b"="


cdef str _tracestate_within_limits(Context ctx, str ts, bint with_parent, uint64_t parent, _MetaScan *m):
    """``tracestate_of(ctx)`` (``_with_parent(tracestate_of(ctx), parent)`` when ``with_parent``) for an
    upstream tracestate ``ts`` that no limit can touch (printable ASCII, no ``ot=``, fewer than 32
    members, under 512 bytes with our member) and a context with no ``ot=`` state of its own: our
    ``dd=`` member (or, when ours is empty, the last upstream one) then the other members in order,
    built in one buffer; None otherwise."""
    cdef Py_ssize_t n = len(ts), pos, start, stop, last_dd = -1, last_dd_end = 0, commas = 0
    cdef Py_ssize_t head, member
    cdef const char *p
    cdef const char *at
    cdef StrBuf b
    if n + 4 > _TS_MAX_BYTES or PyUnicode_KIND(ts) != 1:
        return None
    p = <const char *>PyUnicode_DATA(ts)
    if not printable_bytes(<const unsigned char *>p, n):
        return None
    at = <const char *>memchr(p, 0x3D, n)
    while at is not NULL:  # no "ot=" anywhere (a member could start with it)
        if at - p >= 2 and (at - 1)[0] == b"t" and (at - 2)[0] == b"o":
            return None
        at = <const char *>memchr(at + 1, 0x3D, n - (at + 1 - p))
    at = <const char *>memchr(p, 0x2C, n)
    while at is not NULL:  # the members counted
        commas += 1
        at = <const char *>memchr(at + 1, 0x2C, n - (at + 1 - p))
    if commas + 1 >= _TS_MAX_MEMBERS:
        return None
    sb_init(&b)
    try:
        if with_parent:  # "dd=p:<parent>", then ";" and the rest of the dd= member, if any
            sb_bytes(&b, "dd=p:", 5)
            sb_reserve(&b, 17)
            write_hex16(b.data + b.length, parent)
            b.length += 16
            sb_char(&b, b";")
        else:
            sb_bytes(&b, "dd=", 3)
        head = b.length
        _write_dd_member(&b, ctx, m)
        member = b.length - head
        if n + member + 4 > _TS_MAX_BYTES:
            return None
        if member:
            while b.length > head and b.data[b.length - 1] == b" ":  # members are sent stripped, ours too
                b.length -= 1
        else:  # ours is empty: the last upstream dd= member takes its place
            b.length = head - 1 if with_parent else 0
            pos = 0
            while _next_member(p, n, &pos, &start, &stop):
                if _is_dd_member(p, start, stop):
                    last_dd, last_dd_end = start, stop
            if last_dd >= 0:
                if with_parent:
                    sb_char(&b, b";")
                    last_dd += 3
                sb_bytes(&b, p + last_dd, last_dd_end - last_dd)
        pos = 0
        while _next_member(p, n, &pos, &start, &stop):
            if stop > start and not _is_dd_member(p, start, stop):
                if b.length:
                    sb_char(&b, b",")
                sb_bytes(&b, p + start, stop - start)
        return sb_str(&b)
    finally:
        sb_free(&b)


cpdef str tracestate_of(Context ctx):
    """The tracestate to send for ``ctx`` (before ``p:``): our ``dd=`` member first, other vendors after."""
    cdef _MetaScan m
    _scan_meta(ctx._meta, &m)
    try:
        return _tracestate(ctx, &m)
    finally:
        _release_meta(&m)


cdef str _tracestate(Context ctx, _MetaScan *m):
    """``tracestate_of`` with its ``_scan_meta`` at hand."""
    cdef object ts = _found(m.found[M_TRACESTATE])
    cdef object ot_state = ctx.trace_state()._ot
    cdef list members, rest
    cdef str dd, ot
    if not ts:
        # only our own member, which _write_dd_member keeps within every limit (ddtrace sends it untrimmed),
        # and the OpenTelemetry member of our own sampling decision
        dd = _dd_member(ctx, m)
        if dd:
            dd = "dd=" + dd
        if ot_state:
            return dd + ",ot=" + ot_state if dd else "ot=" + ot_state
        return dd
    if ot_state is None and type(ts) is str:
        ot = _tracestate_within_limits(ctx, <str>ts, False, 0, m)
        if ot is not None:
            return ot
    dd = _dd_member(ctx, m)
    members = [item for item in [(<str>item).strip() for item in (<str>ts).split(",")] if item]
    rest = [item for item in members if not (<str>item).startswith("ot=")]
    # an inherited decision is forwarded as it came; a manual decision of ours ("") makes its th stale
    ot = "ot=" + ot_state if ot_state else _ot_member(members, ot_state is None)
    if not rest and (members or ot_state):
        # only OpenTelemetry's member upstream: ours (untrimmed, as ddtrace sends it) then theirs; an
        # upstream tracestate of no member at all goes through the limits below, trimmed, as in ddtrace
        return ",".join(([("dd=" + dd)] if dd else []) + ([ot] if ot else []))
    if dd:
        rest.append("dd=" + dd)
    if ot:
        rest.append(ot)
    return ",".join(_member_limits(rest))


cdef str _ot_value(str value, bint keep_th=True):
    """OpenTelemetry's ``ot=`` value as it is sent on: its ``;``-separated entries, empty ones dropped, a
    malformed ``rv`` (14 hex digits) or ``th`` (1 to 14) dropped (OTEP 235: cleared, never re-derived),
    ``th`` also when ``keep_th`` is false, each kept only while the whole stays within 256 characters."""
    cdef list kept = []
    cdef Py_ssize_t size = 0, extra
    for entry in value.split(";"):
        if entry and _ot_entry_ok(<str>entry, keep_th):
            extra = len(<str>entry) + (1 if kept else 0)
            if size + extra <= OT_VALUE_MAX_CHARS:
                kept.append(entry)
                size += extra
    return ";".join(kept)


cdef bint _ot_entry_ok(str entry, bint keep_th) except -1:
    """An ``ot=`` entry to send on: any sub-key but a malformed ``rv``/``th`` (or ``th`` not kept)."""
    if entry.startswith("rv:"):
        return is_lower_hex(entry[3:], 14)
    if entry.startswith("th:"):
        return keep_th and 4 <= len(entry) <= 17 and is_lower_hex(entry[3:], len(entry) - 3)
    return True


cdef inline bint _has_ot_member(str ts) except -1:
    """A member of ``ts`` starts with ``ot=`` (before any stripping): ``ts`` opens with it or holds
    ``,ot=``; for 1-byte text, only the commas are looked at."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(ts), i = 0
    cdef const char *p
    cdef const char *comma
    if PyUnicode_KIND(ts) != 1:
        return PyUnicode_Tailmatch(ts, "ot=", 0, n, -1) or PyUnicode_Find(ts, ",ot=", 0, n, 1) >= 0
    p = <const char *>PyUnicode_DATA(ts)
    while True:  # i: where a member starts
        if n - i >= 3 and p[i] == b"o" and p[i + 1] == b"t" and p[i + 2] == b"=":
            return True
        comma = <const char *>memchr(p + i, 0x2C, n - i)
        if comma is NULL:
            return False
        i = comma - p + 1


cdef str _drop_bad_ot(str ts):
    """``ts`` with its ``ot=`` member as ddtrace's Context stores it (``_ot_value``; the member dropped when
    nothing is left of it); None when nothing is left of the whole tracestate."""
    cdef list members, kept
    cdef str value
    if not _has_ot_member(ts):
        return ts
    members = ts.split(",")
    kept = []
    for m in members:
        if (<str>m).startswith("ot="):
            value = _ot_value((<str>m)[3:])
            if value:
                kept.append("ot=" + value)
        else:
            kept.append(m)
    if kept == members:
        return ts
    return ",".join(kept) or None


cdef str _ot_member(list members, bint keep_th):
    """The last ``ot=`` member, its value as ``_ot_value`` keeps it; None when there is none left."""
    cdef str value
    for member in reversed(members):
        if (<str>member).startswith("ot="):
            value = _ot_value((<str>member)[3:], keep_th)
            return "ot=" + value if value else None
    return None


cdef str _with_parent(str tracestate, uint64_t span_id):
    """``tracestate`` with ``p:<span id>`` first in its ``dd=`` member (one is made if missing)."""
    cdef str p = "p:" + _hex16(span_id)
    if tracestate.startswith("dd="):
        return "dd=" + p + ";" + tracestate[3:]
    if tracestate:
        return "dd=" + p + "," + tracestate
    return "dd=" + p


cdef str _local_tracestate(Context ctx, uint64_t span_id, _MetaScan *m):
    """``_with_parent(tracestate_of(ctx), span_id)`` for a context with no upstream tracestate, built in
    one buffer: ``dd=p:<span id>`` then ``;`` and our member, if it has anything, then the ``ot=``
    member of our own sampling decision."""
    cdef StrBuf b
    cdef object ot_state
    sb_init(&b)
    try:
        sb_bytes(&b, "dd=p:", 5)
        sb_reserve(&b, 17)
        write_hex16(b.data + b.length, span_id)
        b.length += 16
        sb_char(&b, b";")
        _write_dd_member(&b, ctx, m)
        if b.length == 22:  # empty member: no trailing ";"
            b.length = 21
        ot_state = ctx.trace_state()._ot
        if ot_state:
            sb_bytes(&b, ",ot=", 4)
            sb_ascii(&b, <str>ot_state, 0, len(<str>ot_state))
        return sb_str(&b)
    finally:
        sb_free(&b)


cdef void _inject_tracecontext(Context ctx, object headers, uint64_t hi, uint64_t lo, _MetaScan *m) except *:
    """traceparent and tracestate; ``m`` is ``_scan_meta`` of the context's meta."""
    cdef object upstream = _found(m.found[M_TRACESTATE]), last_parent = _found(m.found[M_PARENT_ID])
    cdef str tp = _traceparent(ctx, hi, lo, _found(m.found[M_TRACEPARENT]))
    cdef str ts
    cdef uint64_t parent
    if not tp:
        return
    _set(headers, "traceparent", tp)
    if not ctx._is_remote:
        parent = low64(ctx.span_id or 0)
        if not upstream:
            _set(headers, "tracestate", _local_tracestate(ctx, parent, m))
            return
        ts = None
        if type(upstream) is str and ctx.trace_state()._ot is None:
            ts = _tracestate_within_limits(ctx, <str>upstream, True, parent, m)
        if ts is None:
            ts = _with_parent(_tracestate(ctx, m), parent)
    else:
        ts = _tracestate(ctx, m)
        if type(last_parent) is str and len(<str>last_parent) == 16 and parse_hex_range(
                <str>last_parent, 0, 16, False, &parent) == 0:
            ts = _with_parent(ts, parent)
        elif last_parent is not None:
            record("inject_parent_id", last_parent)
    _set(headers, "tracestate", ts)


# -- W3C baggage --------------------------------------------------------------------------------------

# Characters sent as they are; every other one is percent-encoded (UTF-8), "%" included (see the twin).
cdef str _BAGGAGE_KEY_SAFE = "!#$&'*+-.^_`|~"
cdef str _BAGGAGE_VALUE_SAFE = "!#$&'()*+-./:<>?@[]^_`{|}~"
# the same as lookup tables (urllib.parse.quote also never encodes letters, digits and "_.-~")
cdef bint _key_safe[128]
cdef bint _value_safe[128]
for _c in range(128):
    _ch = chr(_c)
    _always = _ch.isascii() and (_ch.isalnum() or _ch in "_.-~")
    _key_safe[_c] = _always or _ch in _BAGGAGE_KEY_SAFE
    _value_safe[_c] = _always or _ch in _BAGGAGE_VALUE_SAFE
cdef const char *_HEX_UPPER = b"0123456789ABCDEF"


cdef int _write_quoted(StrBuf *b, str text, bint *safe) except -1:
    """Append ``urllib.parse.quote(text, safe=...)``: UTF-8, unsafe bytes as ``%XX`` (upper-case hex).
    A lone surrogate raises UnicodeEncodeError, as quote does."""
    cdef Py_ssize_t i, n = len(text)
    cdef unsigned char c
    cdef bytes raw = None
    cdef const unsigned char *p
    if PyUnicode_KIND(text) == 1 and text.isascii():
        p = <const unsigned char *>PyUnicode_DATA(text)  # ASCII text is its own UTF-8
    else:
        raw = text.encode("utf-8")
        p = <const unsigned char *>(<char *>raw)
        n = len(raw)
    sb_reserve(b, 3 * n)
    for i in range(n):
        c = p[i]
        if c < 128 and safe[c]:
            b.data[b.length] = <char>c
            b.length += 1
        else:
            b.data[b.length] = b"%"
            b.data[b.length + 1] = _HEX_UPPER[c >> 4]
            b.data[b.length + 2] = _HEX_UPPER[c & 0xF]
            b.length += 3
    return 0


cdef inline int _hex_digit(uint32_t c) noexcept:
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


cdef str _unquote(str text):
    """``urllib.parse.unquote(text)``: ``%XX`` escapes to bytes, decoded as UTF-8 with replacement; other
    ``%`` kept. ASCII input (the wire's) in C; anything else goes to urllib itself."""
    cdef StrBuf b
    cdef Py_ssize_t i = 0, n = len(text)
    cdef const unsigned char *p
    cdef int hi, lo
    if PyUnicode_FindChar(text, 0x25, 0, n, 1) < 0:
        return text
    if PyUnicode_KIND(text) != 1 or not text.isascii():
        return unquote(text)
    p = <const unsigned char *>PyUnicode_DATA(text)
    sb_init(&b)
    try:
        sb_reserve(&b, n)
        while i < n:
            if p[i] == 0x25 and i + 2 < n and (hi := _hex_digit(p[i + 1])) >= 0 and (lo := _hex_digit(p[i + 2])) >= 0:
                b.data[b.length] = <char>((hi << 4) | lo)
                i += 3
            else:
                b.data[b.length] = <char>p[i]
                i += 1
            b.length += 1
        return PyUnicode_DecodeUTF8(b.data, b.length, "replace")
    finally:
        sb_free(&b)


cdef Py_ssize_t _utf8_size(str text, Py_ssize_t start, Py_ssize_t stop) noexcept:
    """How many bytes ``text[start:stop]`` takes in UTF-8; -1 when it holds a lone surrogate (it has
    none: it cannot be sent on)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, size = 0
    cdef uint32_t c
    for i in range(start, stop):
        c = read_char(kind, data, i)
        if c < 0x80:
            size += 1
        elif c < 0x800:
            size += 2
        elif 0xD800 <= c <= 0xDFFF:
            return -1
        else:
            size += 3 if c < 0x10000 else 4
    return size


cdef str _baggage_part(str text, Py_ssize_t start, Py_ssize_t stop):
    """``unquote(text[start:stop].strip())``: a baggage key or value; None when nothing is left of it."""
    while start < stop and Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, start)):
        start += 1
    while stop > start and Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, stop - 1)):
        stop -= 1
    if start == stop:
        return None
    return _unquote(text[start:stop])


cdef dict _extract_baggage(_Headers h, Settings s):
    """The items of the ``baggage`` header (W3C): ``key=value`` members, each part stripped and
    percent-decoded; empty when a member is malformed (no ``=``, an empty key or value, a lone
    surrogate); the members past the item or byte limits dropped. Read in place: no list of members."""
    cdef str value = h.get(H_BAGGAGE)
    cdef dict items = {}
    cdef Py_ssize_t n, start = 0, stop, eq, total = 0, size, index = 0
    cdef bint ascii
    cdef str key, item
    if not value:
        return items
    n = len(value)
    ascii = value.isascii()
    while start <= n:  # the member value[start:stop]
        stop = PyUnicode_FindChar(value, 0x2C, start, n, 1)
        if stop < 0:
            stop = n
        if index >= s.baggage_max_items:
            record("baggage_max_items", value.count(",") + 1)
            break
        index += 1
        eq = PyUnicode_FindChar(value, 0x3D, start, stop, 1)
        size = stop - start if ascii else _utf8_size(value, start, stop)
        if eq < 0 or size < 0:
            record("baggage_malformed", value)
            return {}
        size += 1 if items else 0
        if total + size > s.baggage_max_bytes:
            record("baggage_max_bytes", n)
            break
        key = _baggage_part(value, start, eq)
        item = _baggage_part(value, eq + 1, stop)
        if key is None or item is None:
            record("baggage_malformed", value)
            return {}
        items[key] = item
        total += size
        start = stop + 1
    return items


cdef void _inject_baggage(Context ctx, object headers, Settings s) except *:
    cdef dict baggage = ctx._baggage_d
    cdef StrBuf b
    cdef Py_ssize_t index = 0, mark
    if not baggage:
        return
    sb_init(&b)
    try:
        for key, value in list(baggage.items()):
            if index >= s.baggage_max_items:
                record("baggage_max_items", len(baggage))
                break
            index += 1
            mark = b.length
            if b.length:
                sb_char(&b, b",")
            try:
                _write_quoted(&b, _stripped(key if type(key) is str else str(key)), _key_safe)
                sb_char(&b, b"=")
                _write_quoted(&b, _stripped(value if type(value) is str else str(value)), _value_safe)
            except UnicodeEncodeError:  # a lone surrogate: this item cannot be sent, the others can
                b.length = mark
                record("baggage_encoding_error", key)
                continue
            if b.length > s.baggage_max_bytes:
                b.length = mark
                record("baggage_max_bytes", len(baggage))
                break
        _set(headers, "baggage", sb_str(&b))
    finally:
        sb_free(&b)


# -- contexts from elsewhere -------------------------------------------------------------------------


def as_context(obj):
    """``obj`` as a Context to inject (see the pure twin): a Context, a span's ``.context``, or a ddtrace
    ``Context`` read through its attributes, sharing its meta and baggage dicts."""
    if isinstance(obj, Context):
        return obj
    own = getattr(obj, "context", None)
    if isinstance(own, Context):  # a ddfast Span
        return own
    if obj is None or not (hasattr(obj, "trace_id") and hasattr(obj, "span_id")):
        raise TypeError("inject() expects a Context or a Span, not %s" % type(obj).__name__)
    if own is not None and not hasattr(obj, "_meta"):  # a ddtrace Span: its context
        return as_context(own)
    meta = getattr(obj, "_meta", None)
    baggage = getattr(obj, "_baggage", None)
    return Context(
        trace_id=obj.trace_id,
        span_id=obj.span_id,
        dd_origin=getattr(obj, "dd_origin", None),
        sampling_priority=getattr(obj, "sampling_priority", None),
        meta=meta if isinstance(meta, dict) else None,
        baggage=baggage if isinstance(baggage, dict) else None,
        is_remote=getattr(obj, "_is_remote", True),
    )


# -- all styles together ------------------------------------------------------------------------------


cdef Context _extract_style(int style, _Headers h, Settings s):
    if style == S_DATADOG:
        return _extract_datadog(h, s)
    if style == S_TRACECONTEXT:
        return _extract_tracecontext(h, s)
    if style == S_B3MULTI:
        return _extract_b3multi(h, s)
    if style == S_B3:
        return _extract_b3(h, s)
    return None


cdef object _link_of(Context ctx, str style, str reason):
    if ctx.span_id and ctx.trace_id:
        return SpanLink(
            ctx.trace_id,
            ctx.span_id,
            tracestate=ctx._meta.get("tracestate", "") if style == TRACECONTEXT else None,
            flags=1 if ctx._priority and ctx._priority > 0 else 0,
            attributes={"reason": reason, "context_headers": style},
        )
    return None


cdef void _apply_merge(Context primary, _W3CMerge merge, object dd_span_id) except *:
    """The tracecontext context of the primary's own trace, merged into it: traceparent and tracestate
    kept; when the parents differ, the W3C one wins and the Datadog one (the tracestate's ``p``, else
    ``dd_span_id``, the datadog style's parent when extracted) is kept as ``_dd.parent_id``."""
    cdef dict primary_meta = primary._meta
    primary_meta["traceparent"] = merge.traceparent
    if merge.tracestate:
        primary_meta["tracestate"] = merge.tracestate
    if primary.span_id != merge.span_id:
        last_parent = None
        if merge.limited is not None and PyUnicode_Tailmatch(merge.limited, "dd=", 0, 3, -1):
            last_parent = _dd_member_parent(merge.limited)
        if last_parent is not None:
            primary_meta["_dd.parent_id"] = last_parent
        elif dd_span_id is not None:
            primary_meta["_dd.parent_id"] = _hex16(low64(dd_span_id))
        primary.span_id = merge.span_id


cdef Context _resolve(list contexts, list styles):
    cdef Context primary = contexts[0], ctx
    cdef list links = []
    cdef Py_ssize_t i
    cdef dict meta, primary_meta
    for i in range(1, len(contexts)):
        item = contexts[i]
        style = styles[i]
        if type(item) is _W3CMerge:  # tracecontext, same trace: the merge below, from the parts it kept
            _apply_merge(primary, <_W3CMerge>item,
                         (<Context>contexts[styles.index(DATADOG)]).span_id if DATADOG in styles else None)
            continue
        ctx = <Context>item
        if ctx.trace_id and ctx.trace_id != primary.trace_id:
            link = _link_of(ctx, style, "terminated_context")
            if link is not None:
                links.append(link)
        elif style == TRACECONTEXT:
            meta = ctx._meta
            primary_meta = primary._meta
            if meta.get("traceparent"):
                primary_meta["traceparent"] = meta["traceparent"]
            if meta.get("tracestate"):
                primary_meta["tracestate"] = meta["tracestate"]
            if primary.trace_id == ctx.trace_id and primary.span_id != ctx.span_id:
                if "_dd.parent_id" in meta:
                    primary_meta["_dd.parent_id"] = meta["_dd.parent_id"]
                elif DATADOG in styles:
                    dd_span_id = (<Context>contexts[styles.index(DATADOG)]).span_id
                    if dd_span_id is not None:
                        primary_meta["_dd.parent_id"] = _hex16(low64(dd_span_id))
                primary.span_id = ctx.span_id
    primary._links_d = links
    return primary


cpdef Context extract(object carrier, Settings s):
    """The context carried by ``carrier`` under settings ``s``; an empty ``Context()`` when there is none."""
    cdef _Headers h = _read(carrier, s.http_baggage)
    cdef Context context = None, first = None
    cdef object ctx, second = None
    cdef int second_code = 0
    cdef str style = ""
    cdef list contexts = None, styles = None
    cdef int i, code
    cdef dict baggage, meta
    if h.empty or s.n_extract == 0 or s.ignore:
        return new_context(None, None, None, None, {})
    if s.extract_first:
        for i in range(s.n_extract):
            code = s.extract_order[i]
            context = _extract_style(code, h, s)
            if context is not None:
                style = STYLES[code]
                break
    else:
        for i in range(s.n_extract):
            code = s.extract_order[i]
            if code == S_TRACECONTEXT and first is not None:
                ctx = _tracecontext_secondary(h, s, first)
            else:
                ctx = _extract_style(code, h, s)
            if ctx is None:
                continue
            if first is None:
                first = <Context>ctx
                style = STYLES[code]
            elif (code == S_B3MULTI or code == S_B3) and not (
                    (<Context>ctx).trace_id and (<Context>ctx).trace_id != first.trace_id):
                continue  # a b3 context of the first one's trace lends it nothing (see _resolve)
            elif second is None:
                second = ctx
                second_code = code
            else:
                if contexts is None:
                    contexts = [first, second]
                    styles = [style, STYLES[second_code]]
                contexts.append(ctx)
                styles.append(STYLES[code])
        if contexts is not None:
            context = _resolve(contexts, styles)
        elif type(second) is _W3CMerge:  # the usual pair: datadog (or b3) and tracecontext of one trace
            _apply_merge(first, <_W3CMerge>second, first.span_id if style == DATADOG else None)
            first._links_d = []
            context = first
        elif second is not None:
            context = _resolve([first, second], [style, STYLES[second_code]])
        else:
            context = first
    if context is None:
        context = new_context(None, None, None, None, {})
    elif h.ot is not None:
        for name, value in h.ot.items():
            context.baggage_dict()[(<str>name)[len(OT_BAGGAGE_PREFIX):]] = value
    if s.extract_style[S_BAGGAGE] and h.slots[H_BAGGAGE] != NULL:
        baggage = _extract_baggage(h, s)
        if baggage:
            context._baggage_d = baggage
            meta = context._meta
            if s.tag_all_baggage:
                for key, value in baggage.items():
                    tag = "baggage." + key
                    if tag not in meta:
                        meta[tag] = value
            else:
                for key, tag in s.baggage_tags:
                    value = baggage.get(key)
                    if value is not None and tag not in meta:
                        meta[tag] = value
    if s.restart:
        link = _link_of(context, style, "propagation_behavior_extract")
        context = Context(baggage=dict(context._baggage_d or {}), span_links=[link] if link is not None else [])
    return context


cpdef inject(Context ctx, object headers, Settings s):
    """Write ``ctx`` into ``headers`` in every inject style of ``s``."""
    cdef uint64_t hi, lo
    cdef _MetaScan m
    if not s.inject_styles:
        return
    if s.inject_style[S_BAGGAGE]:
        _inject_baggage(ctx, headers, s)
    if ctx.trace_id is None or ctx.span_id is None:
        return
    if s.http_baggage and ctx._baggage_d:
        for key, value in list(ctx._baggage_d.items()):
            headers[OT_BAGGAGE_PREFIX + key] = value
    int_to_u128(ctx.trace_id, &hi, &lo)
    _scan_meta(ctx._meta, &m)
    try:
        if s.inject_style[S_DATADOG]:
            _inject_datadog(ctx, headers, s, hi, lo, &m)
        if s.inject_style[S_B3MULTI]:
            _inject_b3multi(ctx, headers, hi, lo)
        if s.inject_style[S_B3]:
            _inject_b3(ctx, headers, hi, lo)
        if s.inject_style[S_TRACECONTEXT]:
            _inject_tracecontext(ctx, headers, hi, lo, &m)
    finally:
        _release_meta(&m)


# -- the HTTPPropagator entry points -------------------------------------------------------------------

cdef Settings _active = Settings()
cdef object _before_inject = None


def configure(Settings s):
    """Make ``s`` the settings of ``http_inject`` / ``http_extract`` (the facade calls this on change)."""
    global _active
    _active = s


def active_settings():
    """The settings ``http_inject`` / ``http_extract`` use now."""
    return _active


def set_before_inject(hook):
    """Call ``hook(obj, context)`` before injecting a context whose priority is undecided (the tracer
    samples the trace there, as ddtrace does); None removes it."""
    global _before_inject
    if hook is not None and not callable(hook):
        raise TypeError("set_before_inject() expects a callable or None, not %s" % type(hook).__name__)
    _before_inject = hook


cpdef http_inject(object context, object headers):
    """``HTTPPropagator.inject``: write ``context`` (a Context or Span, ddfast's or ddtrace's) into the
    mutable mapping ``headers``, in the configured styles."""
    if type(headers) is not dict and not hasattr(headers, "__setitem__"):
        raise TypeError("inject() expects a mutable mapping for headers, not %s" % type(headers).__name__)
    cdef Context ctx = context if type(context) is Context else as_context(context)
    if ctx.trace_state()._priority is None and _before_inject is not None:
        _before_inject(context, ctx)
    inject(ctx, headers, _active)


cpdef Context http_extract(object headers):
    """``HTTPPropagator.extract``: the Context carried by ``headers`` (dict, mapping, WSGI environ, ASGI
    pair list), an empty Context when there is none; bad header values never raise (see ``ERRORS``)."""
    return extract(headers, _active)


# Context is cimported (a C-level name); publish it as a module attribute too, as the pure twin has it.
globals()["Context"] = Context

# the W3C views of a context (Context._traceparent/_tracestate, ddtrace's private properties) are ours
set_w3c_writers(traceparent_of, tracestate_of)
