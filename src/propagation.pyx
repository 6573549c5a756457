# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, freethreading_compatible=True
"""HTTP header propagation, compiled. Twin of ``ddfast/_pure/propagation.py``: same functions, same results.

The algorithm is the pure twin's, step for step (read that one first); here the headers of interest are
read into typed slots in one pass over the carrier, ids are parsed and printed in C (``idcodec.pxd``),
contexts are made without argument parsing, and nothing is allocated that the result does not keep.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from ddfast._ext.context cimport Context, new_context
from ddfast._ext.span cimport register_propagation
from cpython.unicode cimport (
    Py_UNICODE_ISSPACE, PyUnicode_AsUTF8String, PyUnicode_DecodeLatin1, PyUnicode_DecodeUTF8, PyUnicode_Find,
    PyUnicode_GET_LENGTH, PyUnicode_Tailmatch,
)
from idcodec cimport (
    HEX_DIGITS, PyUnicode_DATA, PyUnicode_FindChar, PyUnicode_KIND, PyUnicode_READ_CHAR, ascii_str, has_dd_p,
    hex16_lower, int_to_u128, is_printable_ascii, is_propagated_key, join_u128, low64, parse_dec_chars, parse_dec_u64,
    parse_hex_range, parse_hex_u128, printable_bytes, read_char, shared_tid, small_int, tid_text, write_dec8,
    write_hex16,
)
from libc.stdint cimport uint32_t
from libc.string cimport memchr, memcmp, memcpy, memset
from strbuf cimport StrBuf, sb_ascii, sb_bytes, sb_char, sb_free, sb_init, sb_reserve, sb_str

import sys

from ddfast._ext.context import set_w3c_writers
from ddfast.span_link import SpanLink

cdef object _logger = None


cdef object _log():
    """The module's logger: ``logging`` is imported at the first message, not by ``import ddfast``."""
    global _logger
    if _logger is None:
        import logging
        _logger = logging.getLogger("ddfast.propagation")
    return _logger


# The module's source, one concern a file (each beside its pure twin ddfast/_pure/propagation_<name>.py);
# included in this order: later parts use earlier ones.

include "propagation_settings.pxi"
include "propagation_carrier.pxi"
include "propagation_json.pxi"
include "propagation_tagset.pxi"
include "propagation_datadog.pxi"
include "propagation_b3.pxi"
include "propagation_tracecontext.pxi"
include "propagation_tracestate.pxi"
include "propagation_baggage.pxi"
include "propagation_merge.pxi"


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
    """Call ``hook(obj, context)`` before injecting a context whose priority is undecided and that no
    tracer's state decides (an extracted or a foreign context: the process-wide part, which looks for
    the tracer that owns it); None removes it. A local trace's own tracer decides it first."""
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
    cdef Context state = ctx.trace_state()
    if state._priority is None:
        decide_first(context, ctx, state._sink)
    inject(ctx, headers, _active)


cpdef list http_inject_pairs(object context, bint as_bytes, bint decide=True):
    """What ``http_inject`` writes, as a new list of ``(name, value)`` pairs in the order a dict would
    hold them, values UTF-8 bytes when ``as_bytes``: a message's headers. ``decide``: an undecided trace
    is decided first, as ``http_inject`` does (False: the caller has asked the trace's tracer already)."""
    cdef _Pairs pairs = _Pairs.__new__(_Pairs)
    pairs.pairs = []
    pairs.as_bytes = as_bytes
    cdef Context ctx = context if type(context) is Context else as_context(context)
    cdef Context state
    if decide:
        state = ctx.trace_state()
        if state._priority is None:
            decide_first(context, ctx, state._sink)
    inject(ctx, pairs, _active)
    return pairs.pairs


cdef int decide_first(object obj, Context ctx, object sink) except -1:
    """An undecided trace about to be injected: its own tracer decides it (the ``before_inject`` of the
    trace's sink, a tracer's state), else the process-wide hook (an extracted or a foreign context)."""
    decide = getattr(sink, "before_inject", None) if sink is not None else None
    if (decide is None or not decide(obj, ctx)) and _before_inject is not None:
        _before_inject(obj, ctx)
    return 0


cpdef Context http_extract(object headers):
    """``HTTPPropagator.extract``: the Context carried by ``headers`` (dict, mapping, WSGI environ, ASGI
    pair list), an empty Context when there is none; bad header values never raise (see ``ERRORS``)."""
    return extract(headers, _active)


cdef object _extract_c(object headers):
    return http_extract(headers)


cdef object _inject_c(object context, object headers):
    return http_inject(context, headers)


cdef object _inject_pairs_c(object context, bint as_bytes, bint decide):
    return http_inject_pairs(context, as_bytes, decide)


# a tracer's HTTP path and message spans call these in C (see span.register_propagation)
register_propagation(http_extract, _extract_c, http_inject, _inject_c, http_inject_pairs, _inject_pairs_c)


# Context is cimported (a C-level name); publish it as a module attribute too, as the pure twin has it.
globals()["Context"] = Context

# the W3C views of a context (Context._traceparent/_tracestate, ddtrace's private properties) are ours
set_w3c_writers(traceparent_of, tracestate_of)
