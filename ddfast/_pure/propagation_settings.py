"""Propagation: header names, styles and settings, error accounting.

Part of the pure twin ``ddfast._pure.propagation``; twin of ``src/propagation_settings.pxi``.
"""

import sys
import sysconfig
import threading
import time

_logger = None


def _log():
    """The module's logger: ``logging`` is imported at the first message, not by ``import ddfast``."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("ddfast.propagation")
    return _logger


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
    TRACE_ID,
    PARENT_ID,
    SAMPLING_PRIORITY,
    ORIGIN,
    TAGS,
    TRACEPARENT,
    TRACESTATE,
    B3_TRACE_ID,
    B3_SPAN_ID,
    B3_SAMPLED,
    B3_FLAGS,
    B3_SINGLE,
    BAGGAGE,
)
# Lower-cased carrier key -> header name: the HTTP name and its WSGI/CGI spelling (HTTP_X_DATADOG_...).
KNOWN_KEYS = {}
for _name in HEADERS:
    KNOWN_KEYS[_name] = _name
    KNOWN_KEYS["http_" + _name.replace("-", "_")] = _name
del _name
_WSGI_OT_BAGGAGE_PREFIX = "http_ot_baggage_"
# Headers whose repeated occurrences are one comma-separated list (RFC 9110 5.3; W3C trace-context 3.3.1).
LIST_HEADERS = frozenset([TRACESTATE, BAGGAGE])
# A WSGI environ (PEP 3333) is a dict with this key; in it a header is a CGI variable, "HTTP_" and the name
# in upper case with "_" for "-" (what every WSGI server writes): each is looked up by that name, interned
# here, instead of every key of the environ being compared with every known name.
WSGI_VERSION = "wsgi.version"
ENVIRON_KEYS = tuple([sys.intern("HTTP_" + _name.upper().replace("-", "_")) for _name in HEADERS])
_ENVIRON_OT_BAGGAGE_PREFIX = "HTTP_OT_BAGGAGE_"

# -- styles and settings --------------------------------------------------------------------------

DATADOG = "datadog"
TRACECONTEXT = "tracecontext"
B3MULTI = "b3multi"
B3 = "b3"
BAGGAGE_STYLE = "baggage"
NONE = "none"
STYLES = (DATADOG, TRACECONTEXT, B3MULTI, B3, BAGGAGE_STYLE)

# traceparent flags W3C defines: sampled (bit 0) and, in level 2, a random trace id (bit 1)
W3C_SAMPLED_FLAG = 0x01
W3C_RANDOM_FLAG = 0x02
W3C_KNOWN_FLAGS = 0x03

CONTINUE = "continue"
RESTART = "restart"
IGNORE = "ignore"
BEHAVIORS = (CONTINUE, RESTART, IGNORE)


class Settings:
    """A snapshot of the propagation settings, validated once (see ``ddfast.settings``)."""

    __slots__ = (
        "extract_styles",
        "inject_styles",
        "extract_first",
        "behavior_extract",
        "tags_max_length",
        "trace_id_128",
        "baggage_max_items",
        "baggage_max_bytes",
        "baggage_tag_keys",
        "http_baggage",
    )

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
_LOG_INTERVAL = 60.0
_QUIET_RECHECK = 1.0
_DEBUG = 10  # logging.DEBUG
_last_logged = {}
_quiet_until = 0.0
# a free-threaded CPython counts from several threads at once: the read and the write under a lock there
# (only on the error path); under the GIL, none
_count_lock = threading.Lock() if sysconfig.get_config_var("Py_GIL_DISABLED") else None


def record(reason, detail=None):
    """Count a propagation problem; log it at debug level at most once a minute per reason. While debug
    logging is off, whether it is on is asked at most once a second: a flood of bad headers costs a
    count each, not a logging call each."""
    global _quiet_until
    if _count_lock is None:
        ERRORS[reason] = ERRORS.get(reason, 0) + 1
    else:
        with _count_lock:
            ERRORS[reason] = ERRORS.get(reason, 0) + 1
    now = time.monotonic()
    if now < _quiet_until:
        return
    last = _last_logged.get(reason)
    if last is not None and now - last < _LOG_INTERVAL:
        return
    if not _log().isEnabledFor(_DEBUG):
        _quiet_until = now + _QUIET_RECHECK
        return
    _last_logged[reason] = now
    _log().debug("ddfast propagation: %s: %r (%d so far)", reason, detail, ERRORS[reason])


# -- limits on what is accepted from the wire --------------------------------------------------------------

#: the longest origin accepted from the wire (x-datadog-origin, tracestate o:)
ORIGIN_MAX_CHARS = 128


def _accepted_origin(origin):
    """An extracted origin, or None when longer than any real one (``synthetics``, ``rum``, ``lambda``...):
    a hostile value is not fanned out into every downstream call (recorded ``origin_too_long``)."""
    if origin is not None and len(origin) > ORIGIN_MAX_CHARS:
        record("origin_too_long", origin[:64])
        return None
    return origin
