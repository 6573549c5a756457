"""The tracer: starts spans, tracks the active one, samples each trace once and hands finished traces
to a writer. A drop-in for ddtrace's ``Tracer`` (``trace``, ``start_span``, ``wrap``,
``current_span``, ``current_root_span``, ``context_provider``, ``flush``, ``shutdown``).

The span and sampling work runs in the core modules (compiled when available); this module only
orchestrates. The active span lives in a ``contextvars`` variable, so each thread and each asyncio task
sees its own. Settings are read when the tracer is made and again only when ``ddfast.config`` changes.
"""

import contextvars
import functools
import os
from _weakrefset import WeakSet  # weakref.WeakSet, without the rest of weakref

from ddfast._impl import load
from ddfast._log import LazyLogger
from ddfast.propagation import decide_foreign
from ddfast.settings import config
from ddfast.writer import AgentWriter

log = LazyLogger("ddfast.tracer")

_propagation = load("propagation")


def _uuid4_hex():
    """``uuid.uuid4().hex`` (ddtrace's runtime id), without importing uuid at start."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    return b.hex()


_runtime_id = _uuid4_hex()


def _new_runtime_id():
    """A forked child is a new process: its own runtime id and process id on its root spans."""
    global _runtime_id
    _runtime_id = _uuid4_hex()
    for t in list(_tracers):
        t._state.pid = os.getpid()
        t._state.runtime_id = _runtime_id


os.register_at_fork(after_in_child=_new_runtime_id)


#: set around a call that goes over HTTP without an HTTP client span of its own (botocore's), so that the
#: HTTP client integration underneath does not trace and inject the exchange a second time (an HTTP client
#: span marks its own exchange: HttpTracer.in_client_exchange)
in_client_call = contextvars.ContextVar("ddfast_in_client_call", default=False)


class ContextProvider:
    """The active span (or extracted Context) of the current thread / asyncio task."""

    def __init__(self, span_type, active_span_of):
        self._var = contextvars.ContextVar("ddfast_active", default=None)
        self._span_type = span_type
        self._active_span_of = active_span_of

    def active(self):
        """The active span, or the activated Context; a finished span gives way to its open parent."""
        item = self._var.get()
        if type(item) is self._span_type:
            return self._active_span_of(self._var)
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
        self._http = None
        # an undecided trace is decided before it is injected: a local trace by its own tracer's state
        # (TracerState.before_inject, reached from the trace), any other context (one activated from
        # extract, a foreign one) through the process-wide _sample_before_inject, the same for every tracer
        if propagation is not _propagation:
            propagation.set_before_inject(_sample_before_inject)
        #: HTTPPropagator's extract/inject of this tracer's core (what ddfast.contrib calls)
        self._http_extract = propagation.http_extract
        self._http_inject = propagation.http_inject
        self._http_inject_pairs = propagation.http_inject_pairs
        self._Span = self._span_mod.Span
        self._tracer_start = self._span_mod.tracer_start
        self._tracer_trace = self._span_mod.tracer_trace
        self.context_provider = ContextProvider(self._Span, self._span_mod.active_span_of)
        # settings, sampler and writer live in the core's TracerState, which also finishes each trace
        self._state = self._span_mod.TracerState(None, None, self._sampling_mod.sample_spans, _runtime_id, os.getpid())
        self.sampler = sampler if sampler is not None else self._default_sampler(config)
        self.writer = writer if writer is not None else AgentWriter()
        self._configure(config)
        # tracer.trace(...) goes straight into the core, without a Python frame per span: the state's own
        # method, which knows the active-span variable; the state refers to the tracer, so whoever holds
        # tracer.trace keeps the tracer alive, as a bound method would (the class attribute documents it)
        self._state.var = self.context_provider._var
        self._state.tracer = self
        self.trace = self._state.trace
        _tracers.add(self)

    def _default_sampler(self, cfg):
        """The sampler of ``DD_TRACE_SAMPLING_RULES`` and ``DD_TRACE_RATE_LIMIT``: the tracer reads them and
        hands them over, as it hands propagation its settings (the core reads no setting)."""
        sampling = self._sampling_mod
        rules = sampling.parse_sampling_rules(cfg.trace_sampling_rules) if cfg.trace_sampling_rules else []
        return sampling.DatadogSampler(rules=rules, rate_limit=cfg.trace_rate_limit)

    def _configure(self, cfg):
        st = self._state
        st.enabled = cfg.tracing_enabled
        st.service = cfg.service
        st.env = cfg.env
        st.version = cfg.version
        st.tags = dict(cfg.tags)
        st.span_rules = (
            self._sampling_mod.parse_span_sampling_rules(cfg.span_sampling_rules) if cfg.span_sampling_rules else []
        )
        self._span_mod.set_trace_id_128(cfg.trace_128_bit_traceid_generation_enabled)

    @property
    def http(self):
        """This tracer's HTTP request path (the core's ``HttpTracer``): what the HTTP integrations call per
        request (server span, client span, status, route, finish), bound to this tracer's state, active
        span and propagation; made on first use. The integrations (``ddfast.contrib``) give it their HTTP
        settings (error statuses, header tags, client IP, query strings) when they take it."""
        http = self._http
        if http is None:
            http = self._http = self._span_mod.HttpTracer(
                self._state,
                self.context_provider._var,
                self._http_extract,
                self._http_inject,
                self._http_inject_pairs,
                in_client_call,
            )
        return http

    @property
    def enabled(self):
        """False makes the tracer a cheap no-op: spans are made but never sampled nor written."""
        return self._state.enabled

    @enabled.setter
    def enabled(self, value):
        self._state.enabled = bool(value)

    @property
    def dropped_traces(self):
        """Finished traces not written: dropped by a sampling rule's discard, or after shutdown."""
        return self._state.dropped

    @property
    def _service(self):
        return self._state.service

    @property
    def _pid(self):
        return self._state.pid

    @property
    def _shut_down(self):
        return self._state.shut_down

    # -- writer and sampler ------------------------------------------------------------------------

    @property
    def writer(self):
        return self._state.writer

    @writer.setter
    def writer(self, writer):
        if not callable(getattr(writer, "write", None)):
            raise TypeError("a writer needs a write(spans) method; got %s" % type(writer).__name__)
        if isinstance(writer, AgentWriter) and writer.on_rates is None:
            writer.on_rates = self._update_agent_rates
        self._state.writer = writer

    def _update_agent_rates(self, rate_by_service):
        """The agent's answer: its sampling rate per ``service:S,env:E``, for the sampler."""
        self._state.sampler.update_rate_by_service_sample_rates(rate_by_service)

    @property
    def sampler(self):
        return self._state.sampler

    @sampler.setter
    def sampler(self, sampler):
        if not isinstance(sampler, self._sampling_mod.DatadogSampler):
            raise TypeError("sampler must be a DatadogSampler, not %s" % type(sampler).__name__)
        self._state.sampler = sampler

    # -- spans -------------------------------------------------------------------------------------

    def start_span(self, name, child_of=None, service=None, resource=None, span_type=None, activate=False):
        """A new span, child of ``child_of`` (a Span or Context) or a new trace's root; ``activate``
        makes it the current span."""
        span = self._tracer_start(self._state, name, child_of, service, resource, span_type)
        if activate:
            self.context_provider._var.set(span)
        return span

    def trace(self, name, service=None, resource=None, span_type=None):
        """A new active span, child of the current one (or of the activated Context); use it as a
        context manager or call ``finish()``."""
        return self._tracer_trace(self._state, self.context_provider._var, name, service, resource, span_type)

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

        import inspect  # once per decorated function, not per call

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
        self._state.sampler.sample(span._local_root)

    def _on_trace_finished(self, spans):
        """A local trace finished: decide it if undecided, tag it as ddtrace does, write it (the core's
        ``TracerState`` does it; spans hand their trace to it directly)."""
        self._state(spans)

    def flush(self):
        """Ask the writer to send what it holds."""
        flush = getattr(self._state.writer, "flush_queue", None)
        if flush is not None:
            flush()

    def shutdown(self, timeout=None):
        """Flush and stop the writer; traces finished afterwards are counted in ``dropped_traces``."""
        self.flush()
        stop = getattr(self._state.writer, "stop", None)
        if stop is not None:
            stop(timeout)
        self._state.shut_down = True


_tracers = WeakSet()


def _configure_all(cfg):
    for t in list(_tracers):
        t._configure(cfg)


config.on_change(_configure_all)


def _sample_before_inject(obj, context):
    """Injection of an undecided trace no tracer's state placed (``TracerState.before_inject``): decide
    it first (on its local root), as ddtrace does, so that every downstream service receives the decision.
    A trace of ddtrace's is decided by ddtrace's tracer."""
    if decide_foreign(obj, context):
        return
    sink = getattr(getattr(obj, "_trace_ctx", None), "_sink", None)
    if sink is not None and obj.context is context:
        sampler = getattr(sink, "sampler", None)  # the sink is its tracer's TracerState (a late chunk)
        if sampler is not None:
            sampler.sample(obj._local_root)
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


_propagation.set_before_inject(_sample_before_inject)

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
