# Propagation: header names, styles and settings, error accounting.
# Included by src/propagation.pyx (one extension module); pure twin: ddfast/_pure/propagation_settings.py.

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
# A WSGI environ (PEP 3333) is a dict with this key; in it a header is a CGI variable, "HTTP_" and the name
# in upper case with "_" for "-" (what every WSGI server writes): each is looked up by that name, interned
# here, instead of every key of the environ being compared with every known name.
WSGI_VERSION = "wsgi.version"
ENVIRON_KEYS = tuple([sys.intern("HTTP_" + _name.upper().replace("-", "_")) for _name in HEADERS])
cdef str _WSGI_VERSION = WSGI_VERSION
cdef tuple _environ_keys_held = ENVIRON_KEYS  # what keeps the names below alive, whatever rebinds ENVIRON_KEYS
cdef PyObject *_environ_keys[N_HEADERS]  # the names by slot
for _slot in range(N_HEADERS):
    _environ_keys[_slot] = PyTuple_GET_ITEM(_environ_keys_held, _slot)
cdef str _ENVIRON_OT_BAGGAGE_PREFIX = "HTTP_OT_BAGGAGE_"

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
cdef int _DEBUG = 10  # logging.DEBUG
cdef dict _last_logged = {}
cdef double _quiet_until = 0.0


cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    static PyMutex ddf_errors_mutex = {0};
    #define DDF_ERRORS_LOCK() PyMutex_Lock(&ddf_errors_mutex)
    #define DDF_ERRORS_UNLOCK() PyMutex_Unlock(&ddf_errors_mutex)
    #else
    #define DDF_ERRORS_LOCK() ((void)0)
    #define DDF_ERRORS_UNLOCK() ((void)0)
    #endif
    """
    void _errors_lock "DDF_ERRORS_LOCK"() noexcept nogil
    void _errors_unlock "DDF_ERRORS_UNLOCK"() noexcept nogil


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
    cdef PyObject *count
    cdef long long n
    # threads count at once where there is no GIL: the read and the write are one step under a lock of
    # the counts' own (not the dict's: CPython 3.13 lets the dict's own operations suspend a critical
    # section on it), and the borrowed count is not released by another thread in between
    _errors_lock()
    try:
        count = PyDict_GetItem(_errors, reason)
        if count is NULL:
            PyDict_SetItem(_errors, reason, 1)
        elif small_int(<object>count, &n):
            PyDict_SetItem(_errors, reason, PyLong_FromLongLong(n + 1))
        else:  # a count someone replaced with another number
            PyDict_SetItem(_errors, reason, <object>count + 1)
    finally:
        _errors_unlock()
    cdef double now = _monotonic()
    if now < _quiet_until:
        return
    last = _last_logged.get(reason)
    if last is not None and now - <double>last < _LOG_INTERVAL:
        return
    if not _log().isEnabledFor(_DEBUG):
        _quiet_until = now + _QUIET_RECHECK
        return
    _last_logged[reason] = now
    _log().debug("ddfast propagation: %s: %r (%d so far)", reason, detail, _errors[reason])


# -- limits on what is accepted from the wire --------------------------------------------------------------

cdef enum:
    _ORIGIN_MAX = 128
#: the longest origin accepted from the wire (x-datadog-origin, tracestate o:)
ORIGIN_MAX_CHARS = _ORIGIN_MAX


cdef str _accepted_origin(str origin):
    """An extracted origin, or None when longer than any real one (``synthetics``, ``rum``, ``lambda``...):
    a hostile value is not fanned out into every downstream call (recorded ``origin_too_long``)."""
    if origin is not None and PyUnicode_GET_LENGTH(origin) > _ORIGIN_MAX:
        record("origin_too_long", origin[:64])
        return None
    return origin
