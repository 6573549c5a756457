"""Spans and the tracer's per-span and per-trace work, pure Python. Twin of ``src/span.pyx``.

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

# The module's source, one concern a file (each beside its compiled twin src/span_<name>.pxi).
from ddfast._pure.span_asgi import AsgiSend  # noqa: F401
from ddfast._pure.span_asgi import AsgiTracing  # noqa: F401
from ddfast._pure.span_asgi import UrlText  # noqa: F401
from ddfast._pure.span_asgi import listed_header  # noqa: F401
from ddfast._pure.span_carrier import MessageSpans  # noqa: F401
from ddfast._pure.span_http import RESOURCE_KEY  # noqa: F401
from ddfast._pure.span_http import ROUTE_KEY  # noqa: F401
from ddfast._pure.span_http import STATUS_KEY  # noqa: F401
from ddfast._pure.span_http import TRACED_KEY  # noqa: F401
from ddfast._pure.span_http import HttpNames  # noqa: F401
from ddfast._pure.span_http import HttpTracer  # noqa: F401
from ddfast._pure.span_http import RequestsSend  # noqa: F401
from ddfast._pure.span_http import RequestsSendCall  # noqa: F401
from ddfast._pure.span_http import http_client_start  # noqa: F401
from ddfast._pure.span_http import http_server_start  # noqa: F401
from ddfast._pure.span_http import http_status  # noqa: F401
from ddfast._pure.span_http import split_url  # noqa: F401
from ddfast._pure.span_http import url_without_query  # noqa: F401
from ddfast._pure.span_object import AUTO_DROP_TAG  # noqa: F401
from ddfast._pure.span_object import AUTO_KEEP  # noqa: F401
from ddfast._pure.span_object import AUTO_KEEP_TAG  # noqa: F401
from ddfast._pure.span_object import AUTO_REJECT  # noqa: F401
from ddfast._pure.span_object import BAGGAGE_TAG_PREFIX  # noqa: F401
from ddfast._pure.span_object import DECISION_MAKER_KEY  # noqa: F401
from ddfast._pure.span_object import DERIVED_COUNT  # noqa: F401
from ddfast._pure.span_object import DERIVED_KEYS  # noqa: F401
from ddfast._pure.span_object import DERIVED_LANGUAGE  # noqa: F401
from ddfast._pure.span_object import DERIVED_METRICS  # noqa: F401
from ddfast._pure.span_object import DERIVED_PRIORITY  # noqa: F401
from ddfast._pure.span_object import DERIVED_PROCESS_ID  # noqa: F401
from ddfast._pure.span_object import DERIVED_RUNTIME_ID  # noqa: F401
from ddfast._pure.span_object import DERIVED_TAGS  # noqa: F401
from ddfast._pure.span_object import DERIVED_TOP_LEVEL  # noqa: F401
from ddfast._pure.span_object import LANGUAGE  # noqa: F401
from ddfast._pure.span_object import LAST_PARENT_KEY  # noqa: F401
from ddfast._pure.span_object import MANUAL_DROP  # noqa: F401
from ddfast._pure.span_object import MANUAL_KEEP  # noqa: F401
from ddfast._pure.span_object import MAX_META_VALUE_LEN  # noqa: F401
from ddfast._pure.span_object import MEASURED_KEY  # noqa: F401
from ddfast._pure.span_object import SERVICE_KEY  # noqa: F401
from ddfast._pure.span_object import SERVICE_VERSION_KEY  # noqa: F401
from ddfast._pure.span_object import STATUS_CODE_KEY  # noqa: F401
from ddfast._pure.span_object import TARGET_PORT_KEY  # noqa: F401
from ddfast._pure.span_object import USER_KEEP  # noqa: F401
from ddfast._pure.span_object import USER_REJECT  # noqa: F401
from ddfast._pure.span_object import Context  # noqa: F401
from ddfast._pure.span_object import Span  # noqa: F401
from ddfast._pure.span_object import derived_bit  # noqa: F401
from ddfast._pure.span_object import derived_index  # noqa: F401
from ddfast._pure.span_object import format_traceback  # noqa: F401
from ddfast._pure.span_object import set_trace_id_128  # noqa: F401
from ddfast._pure.span_object import start_span  # noqa: F401
from ddfast._pure.span_object import trace_context_of  # noqa: F401
from ddfast._pure.span_object import trace_finished  # noqa: F401
from ddfast._pure.span_object import trace_started  # noqa: F401
from ddfast._pure.span_tracer import NOT_INHERITED  # noqa: F401
from ddfast._pure.span_tracer import PROPAGATED_PREFIX  # noqa: F401
from ddfast._pure.span_tracer import U64  # noqa: F401
from ddfast._pure.span_tracer import TracerState  # noqa: F401
from ddfast._pure.span_tracer import active_span_of  # noqa: F401
from ddfast._pure.span_tracer import adopt_link_decision  # noqa: F401
from ddfast._pure.span_tracer import finish_trace  # noqa: F401
from ddfast._pure.span_tracer import inherited  # noqa: F401
from ddfast._pure.span_tracer import is_propagated_key  # noqa: F401
from ddfast._pure.span_tracer import set_derived  # noqa: F401
from ddfast._pure.span_tracer import shared_tid_text  # noqa: F401
from ddfast._pure.span_tracer import tracer_start  # noqa: F401
from ddfast._pure.span_tracer import tracer_trace  # noqa: F401
from ddfast._pure.span_wsgi import EXC_INFO_KEY  # noqa: F401
from ddfast._pure.span_wsgi import TracedWsgiApp  # noqa: F401
from ddfast._pure.span_wsgi import WsgiResponse  # noqa: F401
from ddfast._pure.span_wsgi import WsgiStartResponse  # noqa: F401

# the public classes are this module's, as their compiled twins are ddfast._ext.span's (repr, pickling)
Span.__module__ = TracerState.__module__ = HttpNames.__module__ = HttpTracer.__module__ = __name__
TracedWsgiApp.__module__ = WsgiStartResponse.__module__ = WsgiResponse.__module__ = __name__
