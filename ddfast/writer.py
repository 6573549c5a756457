"""Where finished traces go: the tracer hands each finished trace (a list of spans) to its writer.

Any object with ``write(spans)``, ``flush_queue()`` and ``stop(timeout=None)`` is a writer.
``AgentWriter`` (the tracer's default) sends them to the Datadog agent; ``InMemoryWriter`` keeps them
in memory, bounded, for tests and tools: a full buffer drops the oldest trace and counts it; nothing is
lost silently.

``AgentWriter``: the application's side only encodes. Each trace goes into the payload being filled
(msgpack, compiled when available) of the writer's ``TraceBuffer`` (the encoding core module's), under a
lock that only the application's threads contend for; the tracer's finish path writes there directly,
in C with the compiled core. The sending side is a real thread of its own (a native thread even where
gevent has monkey-patched ``threading``): once an interval it asks for the payload, which the next
write seals and queues (an idle application's payload is sealed by the sender itself, with a lock it
only tries, never waits for), and sends the sealed payloads one by one. No lock the application takes
is ever held across I/O, a thread start or a call out, so neither a slow agent nor a greenlet switch
can make the application wait.

What the agent does not take is retried, not dropped: connection errors, timeouts, 5xx, 408 and 429
are tried again with exponential backoff and jitter (``Retry-After`` honoured, capped) until the
payload's deadline (``DDFAST_WRITER_RETRY_SECONDS``, 20 s by default), so traces outlive an agent
restart. Each request has one deadline for the whole exchange (``DD_TRACE_AGENT_TIMEOUT_SECONDS``,
``ddfast.agent``), so a stalled or dribbling agent costs one attempt. A payload refused as too large
(413) is split in halves until single traces; an agent without ``/v0.5/traces`` gets the same payload
re-encoded for v0.4 (``split_payload``, ``to_v04``: msgpack is imported then, not with ddfast).

Memory is bounded: one payload being filled (``DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES``) plus sealed
payloads waiting (``DD_TRACE_WRITER_BUFFER_SIZE_BYTES``). When that room is full the newest traces are
the ones refused. Every trace that does not reach the agent is counted in ``dropped_traces`` (by
reason in ``drops``) and reported in a warning at most once a minute, and at exit in one line.

Shutdown: at exit, and on SIGTERM (and SIGINT where the application replaced Python's own handler),
what is buffered is sent within ``DDFAST_SHUTDOWN_TIMEOUT_SECONDS`` (5 s), then the signal does what it
would have done. Fork-safe: a child starts with an empty buffer and its own thread, so it never sends
the parent's traces.
"""

import _signal as signal  # signal without its enums, which cost ~0.5 ms of import
import atexit
import collections
import os
import threading
import time
from _weakrefset import WeakSet  # weakref.WeakSet, without the rest of weakref

from ddfast import agent
from ddfast._log import LazyLogger
from ddfast.settings import API_VERSIONS
from ddfast.settings import AgentURL
from ddfast.settings import config

log = LazyLogger("ddfast.writer")

__all__ = ["AgentWriter", "InMemoryWriter"]

#: the agent's trace endpoints
V04 = "v0.4/traces"
V05 = "v0.5/traces"

#: how often, at most, drops are reported in the log (seconds)
DROP_LOG_INTERVAL = 60.0
#: the first retry's wait (seconds); each further wait doubles, up to RETRY_MAX_WAIT, with full jitter
RETRY_FIRST_WAIT = 0.2
RETRY_MAX_WAIT = 2.0
#: the longest wait a Retry-After answer can impose (seconds)
RETRY_AFTER_CAP = 5.0
#: statuses that say "try again later"
RETRY_STATUSES = frozenset((408, 429))
#: the signals the writer's thread leaves to the main thread
_ASYNC_SIGNALS = {
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGALRM", "SIGWINCH")
    if hasattr(signal, name)
}
#: how long the sender leaves a requested payload for the application to seal before sealing it itself
SEAL_GRACE = 0.05


def _positive(value, name, kind=float):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or not value > 0:
        raise ValueError("%s must be a positive %s, got %r" % (name, kind.__name__, value))
    return value


#: the interpreter's own lock factory (gevent's original where gevent has patched it: the same function
#: whether looked up before or after the patching), looked up once: a forked child makes its locks anew
#: with no lookup through the import machinery, whose every object touched costs the child a page copy
_allocate_lock = agent.original("_thread", "allocate_lock")
_RLock = agent.original("_thread", "RLock")


class AgentWriter:
    """Sends finished traces to the Datadog agent from a background thread; see the module docstring.

    Arguments default to the settings: ``agent_url`` (``DD_TRACE_AGENT_URL``…), ``api_version``
    (``DD_TRACE_API_VERSION``), ``interval``, ``timeout`` (one request), ``buffer_size``,
    ``max_payload_size``, ``retry_seconds`` (one payload's retries). ``on_rates(rate_by_service)``
    receives each agent answer's sampling rates (the tracer connects its sampler's
    ``update_rate_by_service_sample_rates``).
    """

    def __init__(
        self,
        agent_url=None,
        api_version=None,
        interval=None,
        timeout=None,
        buffer_size=None,
        max_payload_size=None,
        on_rates=None,
        retry_seconds=None,
        _encoding=None,
    ):
        self.agent_url = AgentURL(agent_url if agent_url is not None else config.trace_agent_url)
        api_version = api_version if api_version is not None else config.trace_api_version
        if api_version not in API_VERSIONS:
            raise ValueError("api_version must be one of %s, got %r" % (", ".join(API_VERSIONS), api_version))
        self.api_version = api_version
        self.interval = _positive(config.trace_writer_interval_seconds if interval is None else interval, "interval")
        self.timeout = _positive(config.trace_agent_timeout_seconds if timeout is None else timeout, "timeout")
        self.retry_seconds = _positive(
            config.writer_retry_seconds if retry_seconds is None else retry_seconds, "retry_seconds"
        )
        self.buffer_size = _positive(
            config.trace_writer_buffer_size if buffer_size is None else buffer_size, "buffer_size", int
        )
        self.max_payload_size = _positive(
            config.trace_writer_max_payload_size if max_payload_size is None else max_payload_size,
            "max_payload_size",
            int,
        )
        if on_rates is not None and not callable(on_rates):
            raise TypeError("on_rates must be callable, not %s" % type(on_rates).__name__)
        self.on_rates = on_rates
        if _encoding is None:
            from ddfast import encoding as _encoding
        self._encoding = _encoding
        # the application's side: the payload being filled, the sealed payloads, the application's lock,
        # what it refused (the encoding core module's; the tracer writes there directly)
        self._buffer = _encoding.TraceBuffer(
            self._new_encoder(self.api_version), self.buffer_size, self._start, self._on_drop
        )
        self._reset()
        _writers.add(self)
        _install_signal_handlers()

    @property
    def _trace_buffer(self):
        """Where the tracer writes this writer's traces itself: the buffer, unless a subclass has its own
        ``write``."""
        return self._buffer if type(self).write is AgentWriter.write else None

    def _reset(self):
        """The sending side's fresh state: no thread, zero counters (at start and in a forked child)."""
        # the sending side: the writer's thread, and a caller's flush while it runs
        self._send_lock = _allocate_lock()  # the sending side's counters; never held across I/O
        self._exit = False
        self._hurry = None  # a flush's or a stop's deadline, which shortens every retry
        self._late_reason = "send_failed"  # why traces still unsent at that deadline are dropped
        self._in_flight = 0  # payloads being sent, and their traces
        self._in_flight_traces = 0
        self._send_drops = collections.Counter()
        self._logged = collections.Counter()
        self._last_drop_log = None
        # one drop report at a time (taken only by reports, never with another lock held): a report at
        # shutdown waits for one the writer's thread is writing, so that the process cannot end between the
        # thread's count of the drops and its line; reentrant, for a signal's report inside another
        self._report_lock = _RLock()
        #: traces and payloads the agent accepted
        self.sent_traces = 0
        self.sent_payloads = 0

    def _new_encoder(self, api_version):
        cls = self._encoding.MsgpackEncoderV05 if api_version == "v0.5" else self._encoding.MsgpackEncoderV04
        return cls(self.max_payload_size, self.max_payload_size)

    # -- the application's side -----------------------------------------------------------------------

    def write(self, spans):
        """Queue one finished trace for the agent; never waits for the network or the sender. (The
        tracer does the same without this call: it writes into the buffer itself.)"""
        self._buffer.write(spans)

    @property
    def _stopped(self):
        return self._buffer.stopped

    def _on_drop(self, error):
        """The buffer refused a trace (``error``: why it could not be encoded, or None)."""
        if error is not None:
            log.debug("ddfast: a trace could not be encoded", exc_info=error)
        self._maybe_log_drops()

    def _start(self):
        """The first trace's: the writer's thread (the buffer calls this once, outside its lock)."""
        # what sending needs and ``import ddfast`` left out is imported here, at the first trace, in the
        # application's thread: never at exit (see agent.prepare), nor racing an exit from another thread
        try:
            agent.prepare(self.agent_url)
            import random  # noqa: F401  (a retry's jitter)
        except Exception:
            log.debug("ddfast: preparing the writer failed", exc_info=True)
        # signals are for the main thread, which runs Python's handlers: delivered to the writer's thread,
        # a SIGTERM would wait for the main thread's next bytecode (a sleep's end, say) to be handled.
        # The new thread takes the mask it is started with, so it never receives them.
        try:
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)
            try:
                agent.original("_thread", "start_new_thread")(self._run, ())
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except Exception:  # no thread to be had: what is buffered is sent at exit, or by flush_queue
            log.warning("ddfast: the writer's thread could not be started; traces are sent at exit", exc_info=True)

    # -- drops -----------------------------------------------------------------------------------------

    @property
    def drops(self):
        """Traces that did not reach the agent, by reason."""
        # copies first (one C call each): the counters may be growing in other threads meanwhile
        return collections.Counter(self._buffer.drops) + collections.Counter(dict(self._send_drops))

    @property
    def dropped_traces(self):
        """Traces that did not reach the agent, in total."""
        return sum(self.drops.values())

    def _maybe_log_drops(self, force=False):
        lock = self._report_lock
        locked = lock.acquire(True, 1.0)  # bounded: a report never holds up an exit for long
        try:
            now = time.monotonic()
            if not force and self._last_drop_log is not None and now - self._last_drop_log < DROP_LOG_INTERVAL:
                return
            drops = self.drops
            new = drops - self._logged
            if not new:
                return
            self._logged = drops
            self._last_drop_log = now
            self._buffer.report_after = now + DROP_LOG_INTERVAL  # the application's side asks no sooner
            summary = ", ".join("%d %s" % (n, reason) for reason, n in sorted(new.items()))
            log.warning(
                "ddfast: %d trace(s) not sent to the agent at %s (%s)", sum(new.values()), self.agent_url.url, summary
            )
        finally:
            if locked:
                lock.release()

    # -- the sending side -------------------------------------------------------------------------------

    def _run(self):
        buffer = self._buffer
        try:
            while not self._exit:
                buffer.wait(self.interval)
                if self._exit:
                    break
                self._request_payload()
                self._drain()
        except Exception:  # never let the sender die silently
            log.debug("ddfast: the writer's thread failed", exc_info=True)
        finally:
            buffer.thread_started = False

    def _request_payload(self):
        """Have the payload being filled sealed: by the application's next write, or by this thread when
        the application writes nothing within SEAL_GRACE (it is idle: the lock is free)."""
        buffer = self._buffer
        if not len(buffer.encoder):
            return
        buffer.request_seal()
        buffer.wait(SEAL_GRACE)  # a write that seals it wakes this thread at once
        buffer.try_seal()

    def _drain(self, deadline=None):
        """Send the queued payloads, oldest first, until none is left. Another thread may drain at the
        same time (a flush while the sender retries): each payload is taken by one of them."""
        buffer = self._buffer
        while True:
            with self._send_lock:  # taken and counted at once, so that len() never misses a payload
                item = buffer.take()
                if item is None:
                    break
                payload, count, endpoint = item
                self._in_flight += 1
                self._in_flight_traces += count
            try:
                self._send(payload, count, endpoint, deadline)
            except Exception:
                log.debug("ddfast: sending a payload failed", exc_info=True)
                self._count_drop("send_failed", count)
            finally:
                with self._send_lock:
                    self._in_flight -= 1
                    self._in_flight_traces -= count
                buffer.sent(len(payload))
        self._maybe_log_drops()

    def _count_drop(self, reason, count):
        with self._send_lock:
            self._send_drops[reason] += count

    def _deadline(self, deadline):
        """The earliest of ``deadline`` and a flush's or a stop's (``_hurry``)."""
        hurry = self._hurry
        return deadline if hurry is None or hurry > deadline else hurry

    def _send(self, payload, count, endpoint, deadline=None):
        """POST one payload until the agent takes it or its deadline passes (its own retry time, or
        sooner: ``deadline``, a flush's, a stop's); counts it as sent or dropped."""
        own = time.monotonic() + self.retry_seconds
        if deadline is None or deadline > own:
            deadline = own
        headers = dict(agent.BASE_HEADERS)
        headers["Content-Type"] = "application/msgpack"
        headers["X-Datadog-Trace-Count"] = str(count)
        attempt = 0
        problem = "no time left to send"
        while True:
            end = self._deadline(deadline)
            left = end - time.monotonic()
            if left <= 0:
                log.debug("ddfast: %d trace(s) not sent before the deadline: %s", count, problem)
                self._count_drop(self._late_reason if end < deadline else "send_failed", count)
                return
            try:
                status, answer_headers, body = agent.post(
                    self.agent_url, endpoint, payload, headers, min(self.timeout, left)
                )
            except OSError as e:
                problem = "%s: %s" % (type(e).__name__, e)
                wait = None
            else:
                if status < 300:
                    with self._send_lock:
                        self.sent_traces += count
                        self.sent_payloads += 1
                    self._apply_rates(body)
                    return
                if status in (404, 415) and endpoint == V05:
                    self._downgrade(status)
                    payload, endpoint = to_v04(payload), V04
                    continue
                if status == 413:
                    self._split(payload, count, endpoint, deadline)
                    return
                problem = "HTTP %d" % status
                if status < 500 and status not in RETRY_STATUSES:
                    log.debug("ddfast: the agent refused %d trace(s): HTTP %d %r", count, status, body[:200])
                    self._count_drop("rejected", count)
                    return
                wait = _retry_after(answer_headers.get("retry-after"))
            attempt += 1
            if wait is None:
                import random  # imported at the first trace (_start); a dict lookup here, on a retry only

                wait = random.uniform(0, min(RETRY_MAX_WAIT, RETRY_FIRST_WAIT * 2 ** (attempt - 1)))
            if len(self._buffer.encoder):
                self._buffer.request_seal()  # payloads go on being sealed on time while this one waits
            self._sleep(time.monotonic() + wait, deadline)

    def _sleep(self, until, deadline):
        """Wait until ``until``, or less when a flush or a stop brings the deadline forward."""
        sleep = _original_sleep()
        while True:
            left = min(until, self._deadline(deadline)) - time.monotonic()
            if left <= 0:
                return
            sleep(min(left, 0.05))

    def _split(self, payload, count, endpoint, deadline):
        """The agent refused ``payload`` as too large: send it again in halves, down to single traces."""
        if count <= 1:
            log.debug("ddfast: the agent refused a single trace of %d bytes as too large", len(payload))
            self._count_drop("too_large", count)
            return
        for part, part_count in split_payload(payload, endpoint):
            self._send(part, part_count, endpoint, deadline)

    def _downgrade(self, status):
        """The agent has no v0.5 endpoint (HTTP 404/415): use v0.4 from now on, as ddtrace does; what
        is buffered for v0.5 is re-encoded when sent."""
        if self.api_version == "v0.4":
            return
        log.warning("ddfast: the agent answered HTTP %d to v0.5/traces; using v0.4/traces", status)
        self.api_version = "v0.4"
        # the application's lock, for as long as it takes to seal and swap an object
        self._buffer.replace_encoder(self._new_encoder("v0.4"))

    def _apply_rates(self, body):
        if self.on_rates is None or not body:
            return
        try:
            import json  # the agent's answers only: not imported by ``import ddfast``

            rates = json.loads(body).get("rate_by_service")
            if isinstance(rates, dict):
                self.on_rates(rates)
        except Exception:
            log.debug("ddfast: unusable agent response %r", body[:200], exc_info=True)

    # -- flush and stop ----------------------------------------------------------------------------------

    def _flush(self, deadline, stopping=False, reason="send_failed"):
        """Seal what is buffered and send everything before ``deadline``, this thread helping the sender;
        what could not be sent by then is counted under ``reason``."""
        self._late_reason = reason
        self._hurry = deadline
        buffer = self._buffer
        try:
            if not buffer.seal(max(deadline - time.monotonic(), 0.001), stopping):
                # the lock's holder was interrupted by the signal that asked for this flush
                self._count_drop(reason, len(buffer.encoder))
            if stopping:
                buffer.stopped = True
            self._drain(deadline)
            sleep = _original_sleep()
            while self._in_flight and time.monotonic() < deadline + 0.5:
                sleep(0.005)  # the sender's payload: sent, or given up at the deadline
        finally:
            self._hurry = None

    def flush_queue(self, timeout=None):
        """Send everything buffered now, waiting for the agent at most ``timeout`` seconds (default: one
        payload's retry time); what could not be sent by then is dropped and counted."""
        self._flush(time.monotonic() + (self.retry_seconds if timeout is None else timeout))
        self._maybe_log_drops()

    def stop(self, timeout=None):
        """Send what is buffered within ``timeout`` seconds (default ``DDFAST_SHUTDOWN_TIMEOUT_SECONDS``)
        and stop; traces written afterwards are dropped (and counted)."""
        if self._stopped:
            return
        deadline = time.monotonic() + (config.shutdown_timeout_seconds if timeout is None else timeout)
        self._flush(deadline, stopping=True, reason="shutdown")
        self._exit = True
        self._buffer.wake()
        self._maybe_log_drops(force=True)

    def __len__(self):
        """Traces buffered and not yet sent (being sent included)."""
        with self._buffer, self._send_lock:  # the application's lock, then the senders': never the other way
            return len(self._buffer) + self._in_flight_traces

    def __repr__(self):
        return "AgentWriter(%r, api_version=%r)" % (self.agent_url.url, self.api_version)


def _retry_after(value):
    """Seconds from a ``Retry-After`` header (seconds form), capped; None when absent or unreadable."""
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP) if value else None
    except ValueError:
        return None


_writers = WeakSet()


def _after_fork_in_child():
    for writer in list(_writers):
        writer._buffer.reset(writer._new_encoder(writer.api_version))  # stopped stays stopped
        writer._reset()


def _original_sleep():
    return agent.original("time", "sleep")


def _flush_all(deadline):
    """Send what every writer holds before ``deadline``."""
    for writer in list(_writers):
        try:
            writer._flush(deadline, reason="shutdown")
            writer._maybe_log_drops(force=True)
        except Exception:
            log.debug("ddfast: writer flush failed", exc_info=True)


def _stop_all_at_exit():
    deadline = time.monotonic() + config.shutdown_timeout_seconds
    for writer in list(_writers):
        try:
            writer.stop(timeout=max(deadline - time.monotonic(), 0.0))
        except Exception:
            log.debug("ddfast: writer stop at exit failed", exc_info=True)


# -- exit signals ------------------------------------------------------------------------------------------

_previous_handlers = {}
_signals_installed = False


def _on_exit_signal(signum, frame):
    """SIGTERM / SIGINT: send what is buffered (bounded), then do what the signal would have done."""
    _flush_all(time.monotonic() + config.shutdown_timeout_seconds)
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def _install_signal_handlers():
    """Once per process, from the main thread: chain SIGTERM (and SIGINT unless Python's own
    KeyboardInterrupt handler is in place: atexit covers that one, and asyncio can install its own).
    A signal the application ignores stays ignored; a handler it installs later replaces this one."""
    global _signals_installed
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    _signals_installed = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None) or previous is signal.default_int_handler:
                continue
            _previous_handlers[signum] = previous
            signal.signal(signum, _on_exit_signal)
        except (ValueError, OSError):  # not the main interpreter, or a platform without the signal
            log.debug("ddfast: cannot install a handler for signal %s", signum, exc_info=True)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_stop_all_at_exit)


# -- in memory --------------------------------------------------------------------------------------


class InMemoryWriter:
    """Keeps up to ``max_traces`` finished traces (each a list of spans); ``pop_traces()`` takes them."""

    def __init__(self, max_traces=10000):
        if isinstance(max_traces, bool) or not isinstance(max_traces, int) or max_traces < 1:
            raise ValueError("max_traces must be an int >= 1, got %r" % (max_traces,))
        self.max_traces = max_traces
        self._traces = collections.deque()
        self._lock = threading.Lock()
        #: traces dropped because the buffer was full, or written after stop()
        self.dropped = 0
        self.stopped = False
        self._last_warning = 0.0

    def write(self, spans):
        with self._lock:
            if self.stopped:
                self.dropped += 1
                return
            if len(self._traces) >= self.max_traces:
                self._traces.popleft()
                self.dropped += 1
                now = time.monotonic()
                if now - self._last_warning >= 60.0:
                    self._last_warning = now
                    log.warning("ddfast: in-memory writer full (%d traces); dropping the oldest", self.max_traces)
            self._traces.append(spans)

    def pop_traces(self):
        """The traces written so far, oldest first; the buffer is emptied."""
        with self._lock:
            traces = list(self._traces)
            self._traces.clear()
            return traces

    def pop(self):
        """The spans of every trace written so far, in one list; the buffer is emptied."""
        return [span for trace in self.pop_traces() for span in trace]

    def __len__(self):
        return len(self._traces)

    def flush_queue(self):
        """Nothing to send: traces stay until popped."""

    def stop(self, timeout=None):
        """Refuse (and count) traces written from now on."""
        self.stopped = True


# -- taking payloads apart, for agents that refuse them as they are ---------------------------------

# the v0.5 string table's first entries, as ddtrace and both encoders lay them out
_PRESET = (b"", b"_dd.origin")


def _packer():
    import msgpack

    return msgpack.Packer(use_bin_type=False)  # strings were decoded as raw bytes: pack them back as str


def _v04_traces(payload):
    """The raw bytes of each trace of a v0.4 payload."""
    import msgpack

    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=len(payload) + 1)
    unpacker.feed(payload)
    count = unpacker.read_array_header()
    bounds = [unpacker.tell()]
    for _ in range(count):
        unpacker.skip()
        bounds.append(unpacker.tell())
    return [payload[bounds[i] : bounds[i + 1]] for i in range(count)]


def _v05_decode(payload):
    import msgpack

    strings, traces = msgpack.unpackb(payload, raw=True, strict_map_key=False)
    return strings, traces


def _v05_encode(strings, traces):
    """A v0.5 payload of ``traces`` whose table holds only the strings they use (preset first)."""
    table = list(_PRESET)
    index = {s: i for i, s in enumerate(table)}

    def ref(i):
        s = strings[i]
        j = index.get(s)
        if j is None:
            j = index[s] = len(table)
            table.append(s)
        return j

    out = []
    for trace in traces:
        spans = []
        for span in trace:
            span = list(span)
            for field in (0, 1, 2, 11):  # service, name, resource, type
                span[field] = ref(span[field])
            span[9] = {ref(k): ref(v) for k, v in span[9].items()}
            span[10] = {ref(k): v for k, v in span[10].items()}
            spans.append(span)
        out.append(spans)
    return _packer().pack([table, out])


def count_traces(payload, endpoint):
    """The number of traces in ``payload``."""
    import msgpack

    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=len(payload) + 1)
    unpacker.feed(payload)
    if endpoint == V05:
        unpacker.read_array_header()
        unpacker.skip()
    return unpacker.read_array_header()


def split_payload(payload, endpoint):
    """``payload`` (of two or more traces) as two payloads of about half the traces each, in order."""
    if endpoint == V04:
        traces = _v04_traces(payload)
        half = len(traces) // 2
        pack = _packer()
        return [
            (pack.pack_array_header(len(part)) + b"".join(part), len(part)) for part in (traces[:half], traces[half:])
        ]
    strings, traces = _v05_decode(payload)
    half = len(traces) // 2
    return [(_v05_encode(strings, part), len(part)) for part in (traces[:half], traces[half:])]


def to_v04(payload):
    """A v0.5 ``payload`` as the v0.4 payload of the same traces (the fields the v0.4 encoder writes)."""
    strings, traces = _v05_decode(payload)
    out = []
    for trace in traces:
        spans = []
        for service, name, resource, trace_id, span_id, parent_id, start, duration, error, meta, metrics, kind in trace:
            span = {b"trace_id": trace_id}
            if parent_id:
                span[b"parent_id"] = parent_id
            span[b"span_id"] = span_id
            span[b"service"] = strings[service]
            span[b"resource"] = strings[resource]
            span[b"name"] = strings[name]
            span[b"start"] = start
            span[b"duration"] = duration
            if error:
                span[b"error"] = error
            if kind:
                span[b"type"] = strings[kind]
            if meta:
                span[b"meta"] = {strings[k]: strings[v] for k, v in meta.items()}
            if metrics:
                span[b"metrics"] = {strings[k]: v for k, v in metrics.items()}
            spans.append(span)
        out.append(spans)
    return _packer().pack(out)
