"""The tracer: starts spans, tracks the active one, samples each trace once and hands finished traces
to a writer. A drop-in for ddtrace's ``Tracer`` (``trace``, ``start_span``, ``wrap``,
``current_span``, ``current_root_span``, ``context_provider``, ``flush``, ``shutdown``).

The span and sampling work runs in the core modules (compiled when available); this module only
orchestrates. The active span lives in a ``contextvars`` variable, so each thread and each asyncio task
sees its own. Settings are read when the tracer is made and again only when ``ddfast.config`` changes.
"""

import contextvars
import functools
import inspect
import logging
import os
import uuid
import weakref

from ddfast._impl import load
from ddfast.agent_writer import AgentWriter
from ddfast.settings import config

log = logging.getLogger("ddfast.tracer")

_propagation = load("propagation")

#: tags ddtrace puts on every local root span
LANGUAGE = "python"
_PROPAGATED_PREFIX = "_dd.p."
_NOT_INHERITED = ("_dd.p.dm", "_dd.p.ts")
_U64 = 0xFFFFFFFFFFFFFFFF

_runtime_id = uuid.uuid4().hex


def _new_runtime_id():
    """A forked child is a new process: its own runtime id and process id on its root spans."""
    global _runtime_id
    _runtime_id = uuid.uuid4().hex
    for t in list(_tracers):
        t._pid = os.getpid()


os.register_at_fork(after_in_child=_new_runtime_id)


class ContextProvider:
    """The active span (or extracted Context) of the current thread / asyncio task."""

    def __init__(self, span_type):
        self._var = contextvars.ContextVar("ddfast_active", default=None)
        self._span_type = span_type

    def active(self):
        """The active span, or the activated Context; a finished span gives way to its open parent."""
        item = self._var.get()
        if item is not None and type(item) is self._span_type and item.duration_ns is not None:
            parent = item._parent
            while parent is not None and parent.duration_ns is not None:
                parent = parent._parent
            self._var.set(parent)
            return parent
        return item

    def activate(self, item):
        """Make ``item`` (a Span, a Context such as an extracted one, or None) the active one."""
        self._var.set(item)
        return item


class Tracer:
    """Makes spans and sends finished traces to ``writer`` (default: an ``AgentWriter``, which sends them
    to the Datadog agent and gives the agent's sampling rates to the sampler).

    ``_core`` is for tests: ``(span_module, sampling_module, propagation_module)`` of one
    implementation; by default the compiled ones when available.
    """

    def __init__(self, writer=None, sampler=None, _core=None):
        if _core is None:
            _core = (load("span"), load("sampling"), _propagation)
        self._span_mod, self._sampling_mod, propagation = _core
        propagation.set_before_inject(_sample_before_inject)
        #: HTTPPropagator's extract/inject of this tracer's core (what ddfast.contrib calls)
        self._http_extract = propagation.http_extract
        self._http_inject = propagation.http_inject
        self._Span = self._span_mod.Span
        self._Context = self._span_mod.Context
        self._start = self._span_mod.start_span
        self.context_provider = ContextProvider(self._Span)
        self._sampler = sampler if sampler is not None else self._sampling_mod.DatadogSampler()
        self._writer = None
        self.writer = writer if writer is not None else AgentWriter()
        self._pid = os.getpid()
        self._shut_down = False
        self._sink = self._on_trace_finished
        #: finished traces not written: dropped by a sampling rule's discard, or after shutdown
        self.dropped_traces = 0
        self._configure(config)
        _tracers.add(self)

    def _configure(self, cfg):
        self.enabled = cfg.tracing_enabled
        self._service = cfg.service
        self._env = cfg.env
        self._version = cfg.version
        self._tags = dict(cfg.tags)
        self._span_rules = (
            self._sampling_mod.parse_span_sampling_rules(cfg.span_sampling_rules) if cfg.span_sampling_rules else []
        )
        self._span_mod.set_trace_id_128(cfg.trace_128_bit_traceid_generation_enabled)

    # -- writer and sampler ------------------------------------------------------------------------

    @property
    def writer(self):
        return self._writer

    @writer.setter
    def writer(self, writer):
        if not callable(getattr(writer, "write", None)):
            raise TypeError("a writer needs a write(spans) method; got %s" % type(writer).__name__)
        if isinstance(writer, AgentWriter) and writer.on_rates is None:
            writer.on_rates = self._update_agent_rates
        self._writer = writer

    def _update_agent_rates(self, rate_by_service):
        """The agent's answer: its sampling rate per ``service:S,env:E``, for the sampler."""
        self._sampler.update_rate_by_service_sample_rates(rate_by_service)

    @property
    def sampler(self):
        return self._sampler

    @sampler.setter
    def sampler(self, sampler):
        if not isinstance(sampler, self._sampling_mod.DatadogSampler):
            raise TypeError("sampler must be a DatadogSampler, not %s" % type(sampler).__name__)
        self._sampler = sampler

    # -- spans -------------------------------------------------------------------------------------

    def start_span(self, name, child_of=None, service=None, resource=None, span_type=None, activate=False):
        """A new span, child of ``child_of`` (a Span or Context) or a new trace's root; ``activate``
        makes it the current span."""
        parent = remote = None
        if child_of is not None:
            if type(child_of) is self._Span:
                parent = child_of
            elif type(child_of) is self._Context:
                remote = child_of
            else:
                raise TypeError("child_of must be a Span or a Context, not %s" % type(child_of).__name__)
        if parent is None and service is None:
            service = self._service
        span = self._start(name, service, resource, span_type, parent, remote, self._sink)
        meta = span._meta
        if parent is None:
            # the root gets every propagated tag when its trace finishes
            meta["language"] = LANGUAGE
            meta["runtime-id"] = _runtime_id
            span._metrics["process_id"] = self._pid
        else:
            trace_meta = span._trace_ctx._meta
            if trace_meta:
                for key, value in trace_meta.items():
                    if key.startswith(_PROPAGATED_PREFIX) and key not in _NOT_INHERITED:
                        meta[key] = value
        if self._tags:
            span.set_tags(self._tags)
        if self._env:
            meta["env"] = self._env
        if self._version:
            root = span._local_root
            if (
                span.service == self._service
                if root is span
                else (root.service == span.service and "version" in root._meta)
            ):
                meta["version"] = self._version
        if activate:
            self.context_provider._var.set(span)
        return span

    def trace(self, name, service=None, resource=None, span_type=None):
        """A new active span, child of the current one (or of the activated Context); use it as a
        context manager or call ``finish()``."""
        return self.start_span(name, self.context_provider.active(), service, resource, span_type, True)

    def current_span(self):
        """The active span of this thread / task, or None."""
        active = self.context_provider.active()
        return active if type(active) is self._Span else None

    def current_root_span(self):
        """The local root of the active span, or None."""
        span = self.current_span()
        return None if span is None else span._local_root

    def wrap(self, name=None, service=None, resource=None, span_type=None):
        """Decorator: trace every call of the function (coroutines, generators and async generators
        for as long as they run); the span name defaults to ``module.function``."""

        def decorator(f):
            span_name = name or "%s.%s" % (f.__module__, f.__name__)
            if inspect.iscoroutinefunction(f):

                @functools.wraps(f)
                async def traced_coroutine(*args, **kwargs):
                    with self.trace(span_name, service=service, resource=resource, span_type=span_type):
                        return await f(*args, **kwargs)

                return traced_coroutine
            if inspect.isasyncgenfunction(f):

                @functools.wraps(f)
                async def traced_async_gen(*args, **kwargs):
                    with self.trace(span_name, service=service, resource=resource, span_type=span_type):
                        async for item in f(*args, **kwargs):
                            yield item

                return traced_async_gen
            if inspect.isgeneratorfunction(f):

                @functools.wraps(f)
                def traced_gen(*args, **kwargs):
                    with self.trace(span_name, service=service, resource=resource, span_type=span_type):
                        return (yield from f(*args, **kwargs))

                return traced_gen

            @functools.wraps(f)
            def traced(*args, **kwargs):
                with self.trace(span_name, service=service, resource=resource, span_type=span_type):
                    return f(*args, **kwargs)

            return traced

        return decorator

    # -- sampling and finished traces ----------------------------------------------------------------

    def sample(self, span):
        """Decide the trace of ``span`` now (it is otherwise decided at injection or when it finishes)."""
        self._sampler.sample(span._local_root)

    def _on_trace_finished(self, spans):
        """A local trace finished: decide it if undecided, tag it as ddtrace does, write it."""
        if not self.enabled:
            return
        root = spans[0]  # a trace's buffer starts with its local root
        state = root._trace_ctx
        if state._priority is None:
            _, discard = self._sampler.sample_or_discard(root)
            if discard:
                self.dropped_traces += 1
                return
        priority = state._priority
        if self._span_rules and priority is not None and priority <= 0:
            self._sampling_mod.sample_spans(spans, self._span_rules)
        meta = root._meta
        for key, value in state._meta.items():
            if key.startswith(_PROPAGATED_PREFIX):
                meta[key] = value
        if root.trace_id > _U64 and "_dd.p.tid" not in meta:
            meta["_dd.p.tid"] = "%016x" % (root.trace_id >> 64)
        if priority is not None:
            root._metrics["_sampling_priority_v1"] = priority
        origin = state._origin
        service = self._service
        for span in spans:
            if origin is not None:
                span._meta["_dd.origin"] = origin
            if span._is_top_level:
                span._metrics["_dd.top_level"] = 1
            if service and span.service != service:
                span._meta["_dd.base_service"] = service
        if self._shut_down:
            self.dropped_traces += 1
            return
        self._writer.write(spans)

    def flush(self):
        """Ask the writer to send what it holds."""
        flush = getattr(self._writer, "flush_queue", None)
        if flush is not None:
            flush()

    def shutdown(self, timeout=None):
        """Flush and stop the writer; traces finished afterwards are counted in ``dropped_traces``."""
        self.flush()
        stop = getattr(self._writer, "stop", None)
        if stop is not None:
            stop(timeout)
        self._shut_down = True


_tracers = weakref.WeakSet()


def _configure_all(cfg):
    for t in list(_tracers):
        t._configure(cfg)


config.on_change(_configure_all)


def _sample_before_inject(obj, context):
    """Injection of an undecided trace: decide it first (on its local root), as ddtrace does, so that
    every downstream service receives the decision."""
    buffer = getattr(obj, "_buffer", None)
    if buffer is not None and obj.context is context:
        tracer = getattr(buffer.sink, "__self__", None)
        if isinstance(tracer, Tracer):
            tracer.sample(obj)
            return
    for tracer in list(_tracers):
        root = tracer.current_root_span()
        if root is not None and root.trace_id == context.trace_id:
            tracer.sample(root)
            if context._shared is None and context is not root._trace_ctx:
                state = root._trace_ctx
                context._priority = state._priority
                context._ot = state._ot
            return


#: the global tracer
tracer = Tracer()


def start_span_from_context(context, name, service=None, resource=None, span_type=None):
    """Go's ``tracer.StartSpanFromContext``: a new active span of the global tracer, child of
    ``context`` (a Span, or a Context such as an extracted one; None: the active span), and its
    context, ``(span, span.context)``, to inject or pass on."""
    if context is None:
        context = tracer.context_provider.active()
    span = tracer.start_span(name, child_of=context, service=service, resource=resource, span_type=span_type,
                             activate=True)  # fmt: skip
    return span, span.context
