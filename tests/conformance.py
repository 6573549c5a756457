"""A stand-in for the test application of Datadog's cross-language conformance suite (the
``tests/parametric`` scenarios of DataDog/system-tests), built on ddfast's public API.

The suite drives every Datadog tracer through the same few operations: extract a header list and
start a child span of it, inject a span's context into new headers, finish spans, then read the spans
as the agent received them. ``Library`` does exactly that with one twin of ddfast's core, and
``agent_spans`` decodes the spans from the v0.4 payload the agent would get, so a check reads
``trace_id`` (the low 64 bits), ``meta["_dd.p.tid"]``, ``metrics["_sampling_priority_v1"]`` and
``span_links`` as the suite's agent does. ``tracecontext`` parses injected W3C headers as the suite's
helper does (one ``traceparent``; ``tracestate`` members validated, duplicate keys dropped).
"""

import contextlib
import re
from collections import OrderedDict
from collections import namedtuple

import msgpack

from ddfast.propagation import settings_of
from ddfast.settings import Config

SAMPLING_PRIORITY = "_sampling_priority_v1"
ORIGIN = "_dd.origin"

#: the suite's header and link tests these transcriptions leave out, and why
NOT_EXPRESSED = [
    (
        "test_span_links.py: test_span_started_with_link_v04/_v05, test_span_with_attached_links",
        "links between local spans and their attribute flattening: no header is involved (span API, test_span.py)",
    ),
    (
        "test_headers_precedence.py: ..._propagationstyle_legacy, ..._propagationstyle_default_tracecontext_datadog",
        "defaults of older tracers (datadog only; tracecontext first), marked irrelevant for Python by the suite;"
        " the current default is tested as ..._default_datadog_tracecontext",
    ),
    (
        "W3C cases the suite skips itself (illegal tracestate keys or values, member and key limits on extract,"
        " the multiple-request advanced cases)",
        "skipped there for every tracer",
    ),
]


class Library:
    """ddfast configured from ``env`` (the suite's ``library_env``) on twin ``core`` =
    ``(span, sampling, propagation)`` modules of one implementation."""

    def __init__(self, core, env):
        from ddfast.tracer import Tracer
        from ddfast.writer import InMemoryWriter

        self._span_mod, self._sampling, self._prop = core
        self.config = Config(environ=dict(env))
        self._saved = self._prop.active_settings()
        cfg = self.config
        self._prop.configure(settings_of(cfg, self._prop))
        rules = self._sampling.parse_sampling_rules(cfg.trace_sampling_rules) if cfg.trace_sampling_rules else []
        sampler = self._sampling.DatadogSampler(rules=rules, rate_limit=cfg.trace_rate_limit)
        self.tracer = Tracer(writer=InMemoryWriter(), sampler=sampler, _core=core)
        self.tracer._configure(cfg)

    def close(self):
        self._prop.configure(self._saved)
        self._span_mod.set_trace_id_128(Config(environ={}).trace_128_bit_traceid_generation_enabled)

    # -- the operations of the suite's test application ------------------------------------------

    def extract(self, headers):
        """The context of a header list (repeated names kept, as an HTTP server receives them)."""
        return self._prop.http_extract(list(headers))

    def start_span(self, name, parent=None, service=None, resource=None):
        return self.tracer.start_span(name, child_of=parent, service=service, resource=resource, activate=True)

    @contextlib.contextmanager
    def extract_headers_and_make_child_span(self, name, headers):
        span = self.start_span(name, parent=self.extract(headers))
        try:
            yield span
        finally:
            span.finish()

    def inject(self, span_or_context):
        """The headers a span (or context) is sent with, names lower-cased."""
        out = {}
        self._prop.http_inject(span_or_context, out)
        return {name.lower(): value for name, value in out.items()}

    def make_child_span_and_get_headers(self, headers):
        with self.extract_headers_and_make_child_span("name", headers) as span:
            return self.inject(span)

    def agent_spans(self):
        """Every finished span, as the agent decodes it from a v0.4 payload (dicts)."""
        traces = self.tracer.writer.pop_traces()
        encoding = _encoding_of(self._span_mod)
        payload = encoding.MsgpackEncoderV04(20 << 20, 20 << 20).encode_traces(traces) if traces else None
        return [span for trace in (msgpack.unpackb(payload) if payload else []) for span in trace]

    def only_span(self):
        (span,) = self.agent_spans()
        return span


def _encoding_of(span_mod):
    import importlib

    return importlib.import_module(span_mod.__name__.rsplit(".", 1)[0] + ".encoding")


def find_span(spans, span):
    """The agent's dict of ddfast span ``span``."""
    (found,) = [s for s in spans if s["span_id"] == span.span_id]
    return found


def has_no_parent(span):
    return span.get("parent_id") in (None, 0)


# -- W3C headers as the suite reads them -----------------------------------------------------------

Traceparent = namedtuple("Traceparent", "version trace_id parent_id flags")

_KEY = r"[a-z][_0-9a-z\-\*\/]{0,255}|[0-9a-z][_0-9a-z\-\*\/]{0,240}@[a-z][_0-9a-z\-\*\/]{0,13}"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(r"^(%s)=(%s)$" % (_KEY, _VALUE))
_DELIMITER = re.compile(r"[ \t]*,[ \t]*")


_UNSIZED_MEMBER = re.compile(
    r"(?:[a-z][_0-9a-z\-\*\/]*|[0-9a-z][_0-9a-z\-\*\/]*@[a-z][_0-9a-z\-\*\/]*)=[\x20-\x2b\x2d-\x3c\x3e-\x7e]*"
    r"[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)


def w3c_member(member, sized=True):
    """``member`` (a tracestate list member, trimmed) is written as W3C's grammar says (level 1 and 2);
    with ``sized`` false, whatever the length of its key and value."""
    return (_MEMBER if sized else _UNSIZED_MEMBER).fullmatch(member) is not None


def traceparent(headers):
    """The injected ``traceparent`` split in its four fields, None when a field has the wrong size or
    an id is zero (the suite's reading); fails when there is not exactly one."""
    (value,) = [v for k, v in headers.items() if k.lower() == "traceparent"]
    version, trace_id, parent_id, flags = value.split("-")
    if (len(version), len(trace_id), len(parent_id), len(flags)) != (2, 32, 16, 2):
        return None
    if int(trace_id, 16) == 0 or int(parent_id, 16) == 0:
        return None
    return Traceparent(version, trace_id, parent_id, flags)


def tracestate(headers):
    """The injected ``tracestate`` as an ordered ``{key: value}``; an ill-formed member fails."""
    members = OrderedDict()
    for name, value in headers.items():
        if name.lower() != "tracestate":
            continue
        for member in _DELIMITER.split(value):
            if not member:
                continue
            match = _MEMBER.match(member)
            assert match, "illegal tracestate member %r" % member
            members.setdefault(match.group(1), match.group(2))
    return members


def tracestate_text(members):
    return ",".join("%s=%s" % kv for kv in members.items())


def dd_items(headers):
    """The ``k:v`` items of the injected ``dd=`` tracestate member ([] without one)."""
    dd = tracestate(headers).get("dd")
    return dd.split(";") if dd else []
