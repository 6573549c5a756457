# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""HTTP header propagation, compiled. Twin of ``ddfast/_pure/propagation.py``: same functions, same results.

The algorithm is the pure twin's, step for step (read that one first); here the headers of interest are
read into typed slots in one pass over the carrier, ids are parsed and printed in C (``idcodec.pxd``),
contexts are made without argument parsing, and nothing is allocated that the result does not keep.
"""

import logging
import time
from urllib.parse import quote
from urllib.parse import unquote

cimport cython
from cpython.dict cimport PyDict_GetItem
from cpython.long cimport PyLong_AsUnsignedLongLongMask
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

from ddfast._ext.context cimport Context, new_context
from idcodec cimport U64_MAX, ascii_str, join_u128, parse_dec_u64, parse_hex_range, parse_hex_u128, write_hex16

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
cdef object U64 = 0xFFFFFFFFFFFFFFFF  # as a Python int, for comparisons with ids
cdef dict KNOWN_KEYS = {}
cdef dict _SLOT_NAMES = {}
for _slot, _name in enumerate(HEADERS):
    KNOWN_KEYS[_name] = _slot
    KNOWN_KEYS["http_" + _name.replace("-", "_")] = _slot
    _SLOT_NAMES[_slot] = _name
cdef str _WSGI_OT_BAGGAGE_PREFIX = "http_ot_baggage_"
# Quick reject of foreign headers before lower-casing them: the lengths and first letters known names have.
cdef unsigned long long _KNOWN_LENGTHS = 0
for _key in KNOWN_KEYS:
    _KNOWN_LENGTHS |= 1ULL << len(_key)
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
cdef double _LOG_INTERVAL = 60.0
cdef dict _last_logged = {}


cpdef record(str reason, detail=None):
    """Count a propagation problem; log it at debug level at most once a minute per reason."""
    ERRORS[reason] = ERRORS.get(reason, 0) + 1
    if log.isEnabledFor(logging.DEBUG):
        now = time.monotonic()
        if now - _last_logged.get(reason, -_LOG_INTERVAL) >= _LOG_INTERVAL:
            _last_logged[reason] = now
            log.debug("ddfast propagation: %s: %r (%d so far)", reason, detail, ERRORS[reason])


# -- carriers -------------------------------------------------------------------------------------


@cython.final
@cython.freelist(4)
cdef class Headers:
    """The propagation headers of one carrier, one slot each (None when absent)."""

    cdef list slots
    cdef dict ot  # ot-baggage-* headers, when asked for
    cdef bint empty

    cdef inline str get(self, int slot):
        return <str>self.slots[slot]


cdef inline str _text(object value):
    if type(value) is str:
        return <str>value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return None


cdef inline str _key_text(object key):
    if type(key) is str:
        return <str>key
    if isinstance(key, str):
        return str(key)
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("latin-1")
    return None


cdef inline bint _maybe_known(str key, bint ot_baggage):
    """False when ``key`` cannot be a propagation header (cheap: length and first letter)."""
    cdef Py_ssize_t n = len(key)
    cdef Py_UCS4 c
    if n == 0:
        return False
    if ot_baggage:
        return True
    if n >= 64 or not (_KNOWN_LENGTHS >> n) & 1:
        return False
    c = key[0]
    return c in u"xXtTbBhH"


cdef inline void _put(Headers h, str key, object value, bint ot_baggage):
    cdef PyObject *found = PyDict_GetItem(KNOWN_KEYS, key)
    cdef str lower
    cdef str text
    cdef int slot
    if found is NULL:
        lower = key.lower()
        found = PyDict_GetItem(KNOWN_KEYS, lower)
        if found is NULL:
            if ot_baggage:
                if lower.startswith(OT_BAGGAGE_PREFIX):
                    _put_ot(h, lower, value)
                elif lower.startswith(_WSGI_OT_BAGGAGE_PREFIX):
                    _put_ot(h, OT_BAGGAGE_PREFIX + lower[len(_WSGI_OT_BAGGAGE_PREFIX):], value)
            return
    slot = <int><object>found
    text = _text(value)
    if text is None:
        if value is not None:
            record("header_value_type", _SLOT_NAMES[slot])
        return
    if h.slots[slot] is not None and (slot == H_TRACESTATE or slot == H_BAGGAGE):
        h.slots[slot] = <str>h.slots[slot] + "," + text
    else:
        h.slots[slot] = text
    h.empty = False


cdef void _put_ot(Headers h, str name, object value):
    cdef str text = _text(value)
    if text is None:
        if value is not None:
            record("header_value_type", name)
        return
    if h.ot is None:
        h.ot = {}
    h.ot[name] = text
    h.empty = False


cdef Headers _read(object carrier, bint ot_baggage):
    cdef Headers h = Headers.__new__(Headers)
    cdef str key
    h.slots = [None] * N_HEADERS
    h.ot = None
    h.empty = True
    if carrier is None:
        return h
    if type(carrier) is dict:
        for k, value in (<dict>carrier).items():
            if type(k) is str:
                key = <str>k
            else:
                key = _key_text(k)
                if key is None:
                    continue
            if _maybe_known(key, ot_baggage):
                _put(h, key, value, ot_baggage)
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
        key = _key_text(k)
        if key is not None and _maybe_known(key, ot_baggage):
            _put(h, key, value, ot_baggage)
    return h


def normalize(carrier, ot_baggage=False):
    """The propagation headers of ``carrier`` as ``{header name: str value}`` (see the pure twin)."""
    cdef Headers h = _read(carrier, ot_baggage)
    cdef int i
    found = {}
    for i in range(N_HEADERS):
        if h.slots[i] is not None:
            found[HEADERS[i]] = h.slots[i]
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


cdef inline bint _tagset_key_char(Py_UCS4 c):
    # printable ASCII but space, "," and "="
    return 0x21 <= c <= 0x7E and c != 0x2C and c != 0x3D


cdef inline bint _tagset_value_char(Py_UCS4 c):
    # printable ASCII but ","
    return 0x20 <= c <= 0x7E and c != 0x2C


cpdef object decode_tagset(str text, Py_ssize_t max_size=512):
    """``k=v,k2=v2`` as a dict, or an error reason (``extract_max_size`` / ``decoding_error``)."""
    cdef Py_ssize_t n = len(text), start = 0, eq, end, vs, ve, i
    cdef dict tags = {}
    cdef Py_UCS4 c
    if n > max_size:
        return "extract_max_size"
    if n and text[n - 1] == u",":  # one trailing comma is tolerated, as ddtrace's decoder does
        n -= 1
    while True:
        # key: up to "="
        eq = -1
        end = n
        for i in range(start, n):
            c = text[i]
            if c == u"=":
                eq = i
                break
            if not _tagset_key_char(c):
                return "decoding_error"
        if eq <= start:
            return "decoding_error"
        # value: up to ","
        for i in range(eq + 1, n):
            c = text[i]
            if c == u",":
                end = i
                break
            if not _tagset_value_char(c):
                return "decoding_error"
        vs = eq + 1
        ve = end
        while vs < ve and text[vs] == u" ":
            vs += 1
        while ve > vs and text[ve - 1] == u" ":
            ve -= 1
        if ve == vs:
            return "decoding_error"
        tags[text[start:eq]] = text[vs:ve]
        if end >= n:
            return tags
        start = end + 1


cdef inline bint _valid_tag_part(str text, bint is_key):
    cdef Py_UCS4 c
    if not text:
        return False
    for c in text:
        if not (_tagset_key_char(c) if is_key else _tagset_value_char(c)):
            return False
    return True


cpdef str encode_tagset(dict tags, Py_ssize_t max_size):
    """The ``x-datadog-tags`` value for ``{key: value}``, or an error reason (see the pure twin)."""
    cdef list parts = []
    cdef Py_ssize_t size = 0
    cdef str key, value
    for k, v in tags.items():
        if not isinstance(k, str) or not isinstance(v, str):
            return "encoding_error"
        key = (<str>k).strip(" ")
        value = (<str>v).strip(" ")
        if not _valid_tag_part(key, True) or not _valid_tag_part(value, False):
            return "encoding_error"
        size += len(key) + 1 + len(value) + (1 if parts else 0)
        if size > max_size:
            return "inject_max_size"
        parts.append(key + "=" + value)
    return ",".join(parts)


cdef frozenset _REJECTED_TAGS = frozenset(["_dd.p.upstream_services"])


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


cdef Context _extract_datadog(Headers h, Settings s):
    cdef str trace_id_text = h.get(H_TRACE_ID)
    cdef str parent_text, priority_text, tags_text, tid
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
        tags = decode_tagset(tags_text)
        if type(tags) is str:
            record(<str>tags, tags_text)
            meta["_dd.propagation_error"] = tags
        else:
            for key, value in (<dict>tags).items():
                if (<str>key).startswith("_dd.p.") and key not in _REJECTED_TAGS:
                    meta[key] = value
            tid_obj = meta.get("_dd.p.tid")
            if tid_obj is not None:
                tid = <str>tid_obj
                if len(tid) == 16 and parse_hex_range(tid, 0, 16, True, &hi) == 0 and hi != 0:
                    if s.trace_id_128:
                        trace_id = join_u128(hi, low)
                else:
                    record("malformed_tid", tid)
                    del meta["_dd.p.tid"]
                    meta["_dd.propagation_error"] = "malformed_tid " + tid
            dm = meta.get("_dd.p.dm")
            if dm is not None and not _valid_decision_maker(<str>dm):
                record("decision_maker", dm)
                del meta["_dd.p.dm"]
                meta["_dd.propagation_error"] = "decoding_error"
    return new_context(trace_id, span_id if span_id else None, h.get(H_ORIGIN), priority, meta)


cdef str _dec(uint64_t v):
    cdef char buf[20]
    cdef int i = 20
    while True:
        i -= 1
        buf[i] = <char>(48 + v % 10)
        v //= 10
        if v == 0:
            break
    return ascii_str(buf + i, 20 - i)


cdef str _hex16(uint64_t v):
    cdef char buf[16]
    write_hex16(buf, v)
    return ascii_str(buf, 16)


cdef str _hex_id(object value):
    """16 hex digits for a 64-bit id, 32 for a larger one (B3, traceparent)."""
    cdef char buf[32]
    if value > U64:
        write_hex16(buf, PyLong_AsUnsignedLongLongMask(value >> 64))
        write_hex16(buf + 16, PyLong_AsUnsignedLongLongMask(value))
        return ascii_str(buf, 32)
    write_hex16(buf, PyLong_AsUnsignedLongLongMask(value))
    return ascii_str(buf, 16)


cdef str _hex32(object value):
    cdef char buf[32]
    write_hex16(buf, PyLong_AsUnsignedLongLongMask(value >> 64))
    write_hex16(buf + 16, PyLong_AsUnsignedLongLongMask(value))
    return ascii_str(buf, 32)


cdef void _inject_datadog(Context ctx, object headers, Settings s) except *:
    cdef object trace_id = ctx.trace_id
    cdef dict meta = ctx._meta
    cdef dict tags
    cdef str encoded
    if trace_id > U64:
        headers[TRACE_ID] = _dec(PyLong_AsUnsignedLongLongMask(trace_id))
        meta["_dd.p.tid"] = _hex16(PyLong_AsUnsignedLongLongMask(trace_id >> 64))
    else:
        headers[TRACE_ID] = _dec(PyLong_AsUnsignedLongLongMask(trace_id))
    headers[PARENT_ID] = _dec(PyLong_AsUnsignedLongLongMask(ctx.span_id))
    if ctx.sampling_priority is not None:
        headers[SAMPLING_PRIORITY] = str(ctx.sampling_priority)
    if ctx._origin is not None:
        headers[ORIGIN] = ctx._origin
    if s.tags_max_length == 0:
        meta["_dd.propagation_error"] = "disabled"
        return
    if "_dd.propagation_error" in meta:
        return
    tags = None
    for k, v in meta.items():
        if type(k) is str and (<str>k).startswith("_dd.p."):
            if tags is None:
                tags = {}
            tags[k] = v
    if tags is not None:
        encoded = encode_tagset(tags, s.tags_max_length)
        if encoded == "inject_max_size" or encoded == "encoding_error":
            record(encoded, tags)
            meta["_dd.propagation_error"] = encoded
        else:
            headers[TAGS] = encoded


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


cdef Context _extract_b3multi(Headers h, Settings s):
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


cdef Context _extract_b3(Headers h, Settings s):
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


cdef void _inject_b3multi(Context ctx, object headers) except *:
    headers[B3_TRACE_ID] = _hex_id(ctx.trace_id)
    headers[B3_SPAN_ID] = _hex_id(ctx.span_id)
    priority = ctx.sampling_priority
    if priority is not None:
        if priority <= 0:
            headers[B3_SAMPLED] = "0"
        elif priority == 1:
            headers[B3_SAMPLED] = "1"
        elif priority > 1:
            headers[B3_FLAGS] = "1"


cdef void _inject_b3(Context ctx, object headers) except *:
    cdef str value = _hex_id(ctx.trace_id) + "-" + _hex_id(ctx.span_id)
    priority = ctx.sampling_priority
    if priority is not None:
        if priority <= 0:
            value += "-0"
        elif priority == 1:
            value += "-1"
        elif priority > 1:
            value += "-d"
    headers[B3_SINGLE] = value


# -- W3C tracecontext ---------------------------------------------------------------------------------

TRACESTATE_MAX_MEMBERS = 32
TRACESTATE_MAX_BYTES = 512
TRACESTATE_MEMBER_MAX_CHARS = 128
DD_MEMBER_MAX_CHARS = 256
cdef enum:
    _DD_MEMBER_RESERVED = 22  # len("dd=") + len("p:0000000000000000;")


cdef int _parse_traceparent(str tp, uint64_t *hi, uint64_t *lo, uint64_t *span, uint64_t *flags) except -2:
    """0 and the fields of a stripped traceparent, or -1 (see the pure twin's ``parse_traceparent``)."""
    cdef Py_ssize_t n = len(tp)
    cdef uint64_t version
    if n < 55 or tp[2] != u"-" or tp[35] != u"-" or tp[52] != u"-":
        return -1
    if parse_hex_range(tp, 0, 2, True, &version) < 0 or version == 0xFF:
        return -1
    if n > 55:
        if version == 0 or tp[55] != u"-" or n == 56 or "\n" in tp:
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


cdef inline bint _has_prefix(str member, str prefix):
    return member.startswith(prefix)


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
        if m:
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


cdef dict _dd_member_values(str member):
    """The ``k:v`` pairs of a ``dd=`` member's value, or None when one lacks a ``:``."""
    cdef dict values = {}
    cdef str key, sep, value
    for item in member[3:].split(";"):
        key, sep, value = (<str>item).partition(":")
        if not sep:
            return None
        values[key] = value
    return values


cdef object _priority_from_w3c(uint64_t sampled, object ts_priority, object origin):
    """The Datadog priority given the traceparent sampled flag and the tracestate ``s:`` value."""
    if not ts_priority and origin == "rum":
        return ts_priority
    if sampled == 0 and (not ts_priority or ts_priority >= 0):
        return 0
    if sampled == 1 and (not ts_priority or ts_priority < 0):
        return 1
    return ts_priority


cdef inline bint _printable_ascii(str text):
    cdef Py_UCS4 c
    for c in text:
        if c < 0x20 or c > 0x7E:
            return False
    return True


cdef Context _extract_tracecontext(Headers h, Settings s):
    cdef str tp = h.get(H_TRACEPARENT)
    cdef str ts, origin = None, last_parent
    cdef uint64_t hi, lo, span, flags, sampled
    cdef dict meta, dd
    cdef list members
    cdef object priority, ts_priority
    cdef bint valid, has_dd
    if tp is None:
        return None
    tp = tp.strip()
    if _parse_traceparent(tp, &hi, &lo, &span, &flags) < 0:
        record("traceparent", tp)
        return None
    sampled = flags & 1
    meta = {"traceparent": tp}
    priority = <int>sampled
    ts = h.get(H_TRACESTATE)
    if ts:
        members = _member_limits(ts.split(","))
        ts = ",".join(members)
        if not _printable_ascii(ts):
            record("tracestate", ts)
        else:
            meta["tracestate"] = ts
            dd = None
            has_dd = False
            for member in members:
                if (<str>member).startswith("dd="):
                    has_dd = True
                    dd = _dd_member_values(<str>member)
            if dd is None:
                if has_dd:
                    record("tracestate_dd", ts)
            else:
                ts_priority = dd.get("s")
                valid = True
                if ts_priority is not None:
                    ts_priority = parse_priority(<str>ts_priority)
                    valid = ts_priority is not None
                if not valid:
                    record("tracestate_dd", ts)
                else:
                    o = dd.get("o")
                    if o:
                        origin = (<str>o).replace("~", "=")
                    else:
                        origin = o
                    for key, value in dd.items():
                        if (<str>key).startswith("t."):
                            meta["_dd.p." + (<str>key)[2:]] = (<str>value).replace("~", "=")
                    p = dd.get("p")
                    if p:
                        last_parent = <str>p
                        if is_hex(last_parent, 16):
                            meta["_dd.parent_id"] = last_parent
                        else:
                            record("tracestate_p", last_parent)
                    priority = _priority_from_w3c(sampled, ts_priority, origin)
    return new_context(join_u128(hi, lo), span, origin, priority, meta)


cdef str _w3c_clean(str text, bint is_key):
    """ddtrace's tracestate substitutions (see the pure twin); the text itself when none applies."""
    cdef Py_UCS4 c
    cdef bint clean = True
    cdef bint bad_run = False
    cdef list out
    for c in text:
        if c < 0x20 or c > 0x7E or c == u"," or c == u"=" or (c == u" " if is_key else (c == u";" or c == u"~")):
            clean = False
            break
    if clean:
        return text
    out = []
    for c in text:
        if c < 0x20 or c > 0x7E:
            if not bad_run:
                out.append(u"_")
            bad_run = True
            continue
        bad_run = False
        if c == u"," or (c == u" " or c == u"=" if is_key else c == u";" or c == u"~"):
            out.append(u"_")
        elif c == u"=":
            out.append(u"~")
        else:
            out.append(c)
    return "".join(out)


cpdef str dd_member_of(Context ctx):
    """The value of the ``dd=`` tracestate member for ``ctx`` (``s``, ``o``, ``t.*``), at most 256 chars."""
    cdef list tags = []
    cdef dict meta = ctx._meta
    cdef Py_ssize_t size, extra
    cdef str tag
    if ctx.sampling_priority is not None:
        tags.append("s:%s" % (ctx.sampling_priority,))
    if ctx._origin:
        tags.append("o:" + _w3c_clean(ctx._origin, False))
    dm = meta.get("_dd.p.dm")
    if dm:
        tags.append("t.dm:" + _w3c_clean(dm, False))
    usr = meta.get("_dd.p.usr.id")
    if usr:
        tags.append("t.usr.id:" + _w3c_clean(usr, False))
    size = _DD_MEMBER_RESERVED + len(";".join(tags))
    for key, value in list(meta.items()):
        if type(key) is not str or not (<str>key).startswith("_dd.p.") or key == "_dd.p.dm" or key == "_dd.p.usr.id":
            continue
        tag = _w3c_clean((<str>key).replace("_dd.p.", "t."), True) + ":" + _w3c_clean(str(value), False)
        extra = len(tag) + (1 if tags else 0)
        if size + extra <= DD_MEMBER_MAX_CHARS:
            tags.append(tag)
            size += extra
    return ";".join(tags)


cpdef str traceparent_of(Context ctx):
    """The traceparent to send for ``ctx``: the upstream trace id and flag bits kept, our span id."""
    cdef object tp = ctx._meta.get("traceparent")
    cdef uint64_t hi, lo, span, flags
    cdef int sampled
    cdef str stripped
    cdef char buf[55]
    if ctx.span_id is None or ctx.trace_id is None:
        return tp or ""
    sampled = 1 if ctx.sampling_priority is not None and ctx.sampling_priority > 0 else 0
    if tp and type(tp) is str:
        stripped = (<str>tp).strip()
        if _parse_traceparent(stripped, &hi, &lo, &span, &flags) == 0:
            flags = (flags & 0xFE) | sampled
        else:
            stripped = None
    else:
        stripped = None
    if stripped is None:
        hi = PyLong_AsUnsignedLongLongMask(ctx.trace_id >> 64) if ctx.trace_id > U64 else 0
        lo = PyLong_AsUnsignedLongLongMask(ctx.trace_id)
        flags = sampled
    buf[0] = b"0"
    buf[1] = b"0"
    buf[2] = b"-"
    write_hex16(buf + 3, hi)
    write_hex16(buf + 19, lo)
    buf[35] = b"-"
    write_hex16(buf + 36, PyLong_AsUnsignedLongLongMask(ctx.span_id))
    buf[52] = b"-"
    buf[53] = b"0123456789abcdef"[(flags >> 4) & 0xF]
    buf[54] = b"0123456789abcdef"[flags & 0xF]
    return ascii_str(buf, 55)


cpdef str tracestate_of(Context ctx):
    """The tracestate to send for ``ctx`` (before ``p:``): our ``dd=`` member first, other vendors after."""
    cdef object ts = ctx._meta.get("tracestate", "")
    cdef str dd = dd_member_of(ctx)
    cdef list members
    if not ts:
        # only our own member, which dd_member_of keeps within every limit (ddtrace sends it untrimmed)
        return "dd=" + dd if dd else ""
    members = (<str>ts).split(",")
    if dd:
        members.append("dd=" + dd)
    return ",".join(_member_limits(members))


cdef str _with_parent(str tracestate, uint64_t span_id):
    """``tracestate`` with ``p:<span id>`` first in its ``dd=`` member (one is made if missing)."""
    cdef str p = "p:" + _hex16(span_id)
    if tracestate.startswith("dd="):
        return "dd=" + p + ";" + tracestate[3:]
    if tracestate:
        return "dd=" + p + "," + tracestate
    return "dd=" + p


cdef void _inject_tracecontext(Context ctx, object headers) except *:
    cdef str tp = traceparent_of(ctx)
    cdef str ts
    cdef uint64_t parent
    if not tp:
        return
    headers[TRACEPARENT] = tp
    ts = tracestate_of(ctx)
    if ctx._is_remote is False:
        ts = _with_parent(ts, PyLong_AsUnsignedLongLongMask(ctx.span_id or 0))
    else:
        last_parent = ctx._meta.get("_dd.parent_id")
        if type(last_parent) is str and len(<str>last_parent) == 16 and parse_hex_range(
                <str>last_parent, 0, 16, False, &parent) == 0:
            ts = _with_parent(ts, parent)
        elif last_parent is not None:
            record("inject_parent_id", last_parent)
    headers[TRACESTATE] = ts


# -- W3C baggage --------------------------------------------------------------------------------------

# Characters sent as they are; every other one is percent-encoded (UTF-8), "%" included (see the twin).
cdef str _BAGGAGE_KEY_SAFE = "!#$&'*+-.^_`|~"
cdef str _BAGGAGE_VALUE_SAFE = "!#$&'()*+-./:<>?@[]^_`{|}~"


cdef dict _extract_baggage(Headers h, Settings s):
    cdef str value = h.get(H_BAGGAGE)
    cdef dict items = {}
    cdef Py_ssize_t total = 0, size, index = 0
    cdef list pairs
    cdef str pair, key, item
    if not value:
        return items
    pairs = value.split(",")
    for p in pairs:
        pair = <str>p
        if index >= s.baggage_max_items:
            record("baggage_max_items", len(pairs))
            break
        index += 1
        if "=" not in pair:
            record("baggage_malformed", value)
            return {}
        size = (len(pair) if pair.isascii() else len(pair.encode("utf-8"))) + (1 if items else 0)
        if total + size > s.baggage_max_bytes:
            record("baggage_max_bytes", len(value))
            break
        key, _, item = pair.partition("=")
        key = key.strip()
        item = item.strip()
        if "%" in key:
            key = unquote(key)
        if "%" in item:
            item = unquote(item)
        if not key or not item:
            record("baggage_malformed", value)
            return {}
        items[key] = item
        total += size
    return items


cdef void _inject_baggage(Context ctx, object headers, Settings s) except *:
    cdef dict baggage = ctx._baggage
    cdef list parts = []
    cdef Py_ssize_t total = 0, size, index = 0
    cdef str item
    if not baggage:
        return
    for key, value in list(baggage.items()):
        if index >= s.baggage_max_items:
            record("baggage_max_items", len(baggage))
            break
        index += 1
        item = quote(str(key).strip(), safe=_BAGGAGE_KEY_SAFE) + "=" + quote(str(value).strip(), safe=_BAGGAGE_VALUE_SAFE)
        size = len(item) + (1 if parts else 0)
        if total + size > s.baggage_max_bytes:
            record("baggage_max_bytes", len(baggage))
            break
        parts.append(item)
        total += size
    headers[BAGGAGE] = ",".join(parts)


# -- contexts from elsewhere -------------------------------------------------------------------------


def as_context(obj):
    """``obj`` as a Context to inject (see the pure twin): a Context, a span's ``.context``, or a ddtrace
    ``Context`` read through its attributes, sharing its meta and baggage dicts."""
    if isinstance(obj, Context):
        return obj
    if obj is None or not (hasattr(obj, "trace_id") and hasattr(obj, "span_id")):
        raise TypeError("inject() expects a Context or a Span, not %s" % type(obj).__name__)
    if not hasattr(obj, "_meta") and hasattr(obj, "context"):
        return as_context(obj.context)
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


cdef Context _extract_style(int style, Headers h, Settings s):
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
            flags=1 if ctx.sampling_priority and ctx.sampling_priority > 0 else 0,
            attributes={"reason": reason, "context_headers": style},
        )
    return None


cdef Context _resolve(list contexts, list styles):
    cdef Context primary = contexts[0], ctx
    cdef list links = []
    cdef Py_ssize_t i
    cdef dict meta, primary_meta
    for i in range(1, len(contexts)):
        ctx = contexts[i]
        style = styles[i]
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
                        primary_meta["_dd.parent_id"] = _hex16(PyLong_AsUnsignedLongLongMask(dd_span_id))
                primary.span_id = ctx.span_id
    primary._span_links = links
    return primary


cpdef Context extract(object carrier, Settings s):
    """The context carried by ``carrier`` under settings ``s``; an empty ``Context()`` when there is none."""
    cdef Headers h = _read(carrier, s.http_baggage)
    cdef Context context = None, ctx, first = None
    cdef str style = ""
    cdef list contexts = None, styles = None
    cdef int i, code
    cdef dict baggage, meta
    if h.empty or s.n_extract == 0 or s.ignore:
        return Context()
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
            ctx = _extract_style(code, h, s)
            if ctx is None:
                continue
            if first is None:
                first = ctx
                style = STYLES[code]
            else:
                if contexts is None:
                    contexts = [first]
                    styles = [style]
                contexts.append(ctx)
                styles.append(STYLES[code])
        if contexts is not None:
            context = _resolve(contexts, styles)
        else:
            context = first
    if context is None:
        context = Context()
    elif h.ot is not None:
        for name, value in h.ot.items():
            context._baggage[(<str>name)[len(OT_BAGGAGE_PREFIX):]] = value
    if s.extract_style[S_BAGGAGE] and h.slots[H_BAGGAGE] is not None:
        baggage = _extract_baggage(h, s)
        if baggage:
            context._baggage = baggage
            keys = baggage.keys() if s.tag_all_baggage else s.baggage_tag_keys
            meta = context._meta
            for key in keys:
                value = baggage.get(key)
                if value is not None and "baggage." + key not in meta:
                    meta["baggage." + key] = value
    if s.restart:
        link = _link_of(context, style, "propagation_behavior_extract")
        context = Context(baggage=dict(context._baggage), span_links=[link] if link is not None else [])
    return context


cpdef inject(Context ctx, object headers, Settings s):
    """Write ``ctx`` into ``headers`` in every inject style of ``s``."""
    if not s.inject_styles:
        return
    if s.inject_style[S_BAGGAGE]:
        _inject_baggage(ctx, headers, s)
    if ctx.trace_id is None or ctx.span_id is None:
        return
    if s.http_baggage:
        for key, value in list(ctx._baggage.items()):
            headers[OT_BAGGAGE_PREFIX + key] = value
    if s.inject_style[S_DATADOG]:
        _inject_datadog(ctx, headers, s)
    if s.inject_style[S_B3MULTI]:
        _inject_b3multi(ctx, headers)
    if s.inject_style[S_B3]:
        _inject_b3(ctx, headers)
    if s.inject_style[S_TRACECONTEXT]:
        _inject_tracecontext(ctx, headers)


# Context is cimported (a C-level name); publish it as a module attribute too, as the pure twin has it.
globals()["Context"] = Context
