# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""Spans and the tracer's per-span and per-trace work, compiled. Twin of ``ddfast/_pure/span.py``.

A ``Span`` is one timed operation: name, service, resource, type, ids, start and duration, string
tags (``meta``) and numeric tags (``metrics``), error state, links. Every span of a local trace shares
one trace context (priority, origin, propagated tags, baggage), which also collects the trace's spans
and hands them to the tracer (its ``_sink``) when the last open span of the trace finishes. Behaviour
and names follow ddtrace 4.16's ``Span``.

The tags a tracer puts on every local root (``language``, ``runtime-id``, ``process_id``) and those
that follow from the finished trace (``_sampling_priority_v1`` on a chunk's first span,
``_dd.top_level`` on service entry spans) are not stored in the span's dicts but derived: flags on the
span say which it has, and ``get_tag``/``get_tags``/``get_metric``/``get_metrics``, the sampler's tag
rules and the encoders read them as if stored. A finished span so holds about half of ddtrace's memory.
Setting or removing one of those keys works as for any other key.
"""

import sys

cimport cython
from cpython.contextvars cimport PyContextVar_Set, get_value
from cpython.dict cimport PyDict_Copy, PyDict_SetItem, PyDict_Update
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.math cimport isinf, isnan
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp

from ddfast._ext.context cimport Context, span_context
from ddfast._ext.ids cimport new_trace_id, next_u64
from ftlock cimport cs_begin, cs_end, cs_t
from idcodec cimport PyUnicode_DATA, PyUnicode_KIND, int_to_u128, is_propagated_key, read_char, tid_text
from ddfast.span_link import SpanLink

# The module's source, one concern a file (each beside its pure twin ddfast/_pure/span_<name>.py).

include "span_object.pxi"
include "span_tracer.pxi"
include "span_http.pxi"
include "span_carrier.pxi"
include "span_asgi.pxi"
include "span_wsgi.pxi"
