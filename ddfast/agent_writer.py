"""``AgentWriter``: the tracer's default writer. Encodes finished traces and sends them to the agent.

The request path only encodes: ``write(spans)`` puts the trace into the current payload (msgpack,
compiled when available) under a lock held for that alone. A background thread sends the payload
every ``DD_TRACE_WRITER_INTERVAL_SECONDS`` (or as soon as one is full), retries network errors and
5xx answers with backoff, and hands the agent's ``rate_by_service`` to the sampler. Memory is bounded:
one payload being filled (``DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES``) plus sealed payloads waiting to
be sent (``DD_TRACE_WRITER_BUFFER_SIZE_BYTES``). Every trace that does not reach the agent is counted
in ``dropped_traces`` (by reason in ``drops``) and reported in a warning at most once a minute.

Fork-safe: a child process starts with an empty buffer and its own thread, so it never sends the
parent's traces. At exit the buffered traces are sent, within the agent timeout.
"""

import atexit
import collections
import json
import logging
import os
import random
import threading
import time
import weakref

from ddfast import agent
from ddfast.encoding_errors import BufferFull
from ddfast.encoding_errors import BufferItemTooLarge
from ddfast.settings import API_VERSIONS
from ddfast.settings import config

log = logging.getLogger("ddfast.writer")

#: how often, at most, drops are reported in the log (seconds)
DROP_LOG_INTERVAL = 60.0
#: attempts per payload (the first and two retries), as ddtrace makes them
RETRY_ATTEMPTS = 3


def _positive(value, name, kind=float):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or not value > 0:
        raise ValueError("%s must be a positive %s, got %r" % (name, kind.__name__, value))
    return value


class AgentWriter:
    """Sends finished traces to the Datadog agent from a background thread; see the module docstring.

    Arguments default to the settings: ``agent_url`` (``DD_TRACE_AGENT_URL``…), ``api_version``
    (``DD_TRACE_API_VERSION``), ``interval``, ``timeout``, ``buffer_size``, ``max_payload_size``.
    ``on_rates(rate_by_service)`` receives each agent answer's sampling rates (the tracer connects its
    sampler's ``update_rate_by_service_sample_rates``).
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
        _encoding=None,
    ):
        self.agent_url = agent.AgentURL(agent_url if agent_url is not None else config.trace_agent_url)
        api_version = api_version if api_version is not None else config.trace_api_version
        if api_version not in API_VERSIONS:
            raise ValueError("api_version must be one of %s, got %r" % (", ".join(API_VERSIONS), api_version))
        self.api_version = api_version
        self.interval = _positive(config.trace_writer_interval_seconds if interval is None else interval, "interval")
        self.timeout = _positive(config.trace_agent_timeout_seconds if timeout is None else timeout, "timeout")
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
        self._stopped = False
        self._reset()
        _writers.add(self)

    def _reset(self):
        """A fresh state: empty buffer, no thread, zero counters (at start and in a forked child)."""
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._encoder = self._new_encoder(self.api_version)
        self._pending = collections.deque()  # sealed payloads: (payload, trace count, endpoint)
        self._pending_bytes = 0
        self._thread = None
        #: traces that did not reach the agent, in total and by reason
        self.dropped_traces = 0
        self.drops = collections.Counter()
        self._drops_unlogged = collections.Counter()
        self._last_drop_log = None
        #: traces and payloads the agent accepted
        self.sent_traces = 0
        self.sent_payloads = 0

    def _new_encoder(self, api_version):
        cls = self._encoding.MsgpackEncoderV05 if api_version == "v0.5" else self._encoding.MsgpackEncoderV04
        return cls(self.max_payload_size, self.max_payload_size)

    # -- the request path ----------------------------------------------------------------------------

    def write(self, spans):
        """Queue one finished trace for the agent; never blocks on the network."""
        lock = self._lock
        lock.acquire()  # not a with-statement: half its cost (~80 ns per trace on CPython 3.11)
        try:
            reason = "stopped" if self._stopped else None
            if reason is None:
                try:
                    self._encoder.put(spans)  # the usual case: one C call under the lock, no frame more
                except Exception as exc:
                    reason = self._put_failed_locked(spans, exc)
            if reason is not None:
                self._drop_locked(1, reason)
            elif self._thread is None:
                self._start_locked()
        finally:
            lock.release()
        if reason is not None:
            self._maybe_log_drops()

    def _put_failed_locked(self, spans, exc):
        """The encoder refused ``spans`` with ``exc``: a full payload is sealed for the sender (if the
        waiting room allows) and the trace put into the next; the reason it was dropped, or None."""
        if isinstance(exc, BufferItemTooLarge):
            return "too_large"
        if not isinstance(exc, BufferFull):
            log.debug("ddfast: a trace could not be encoded", exc_info=exc)
            return "encoding_error"
        encoder = self._encoder
        if self._pending_bytes + encoder.size > self.buffer_size:
            self._wake.set()
            return "buffer_full"
        self._seal_locked()
        self._wake.set()
        try:
            encoder.put(spans)
            return None
        except Exception:
            return "buffer_full"

    def _seal_locked(self):
        for payload, count in self._encoder.encode():
            self._pending.append((payload, count, self._encoder.endpoint))
            self._pending_bytes += len(payload)

    def _start_locked(self):
        if self._stopped:
            return
        thread = threading.Thread(target=self._run, name="ddfast.AgentWriter", daemon=True)
        self._thread = thread
        thread.start()

    # -- drops ---------------------------------------------------------------------------------------

    def _drop_locked(self, count, reason):
        self.dropped_traces += count
        self.drops[reason] += count
        self._drops_unlogged[reason] += count

    def _drop(self, count, reason):
        with self._lock:
            self._drop_locked(count, reason)
        self._maybe_log_drops()

    def _maybe_log_drops(self):
        now = time.monotonic()
        if self._last_drop_log is not None and now - self._last_drop_log < DROP_LOG_INTERVAL:
            return
        with self._lock:
            if not self._drops_unlogged:
                return
            summary = ", ".join("%d %s" % (n, reason) for reason, n in sorted(self._drops_unlogged.items()))
            total = sum(self._drops_unlogged.values())
            self._drops_unlogged.clear()
            self._last_drop_log = now
        log.warning("ddfast: %d trace(s) not sent to the agent at %s (%s)", total, self.agent_url.url, summary)

    # -- the sender ----------------------------------------------------------------------------------

    def _run(self):
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopped
            try:
                self._flush()
            except Exception:  # never let the sender die; what it held is counted as dropped
                log.debug("ddfast: writer flush failed", exc_info=True)
            if stopping:
                return

    def _flush(self):
        """Seal the current payload and send every waiting one (in this thread)."""
        with self._send_lock:
            with self._lock:
                self._seal_locked()
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    payload, count, endpoint = self._pending[0]
                try:
                    self._send(payload, count, endpoint)
                except Exception:
                    log.debug("ddfast: sending a payload failed", exc_info=True)
                    self._drop(count, "send_failed")
                finally:
                    with self._lock:
                        if self._pending and self._pending[0][0] is payload:
                            self._pending.popleft()
                            self._pending_bytes -= len(payload)
        self._maybe_log_drops()

    def _send(self, payload, count, endpoint):
        """POST one payload, with retries; counts it as sent or dropped."""
        headers = dict(agent.BASE_HEADERS)
        headers["Content-Type"] = self._encoder.content_type
        headers["X-Datadog-Trace-Count"] = str(count)
        # ddtrace's fibonacci backoff with jitter, from the interval (capped at 1 s: long intervals do not
        # make retries slower)
        base_wait = 0.618 * min(self.interval, 1.0) / (1.618**RETRY_ATTEMPTS) / 2
        for attempt in range(RETRY_ATTEMPTS):
            try:
                status, body = agent.post(self.agent_url, endpoint, payload, headers, self.timeout)
            except OSError as e:
                problem = "%s: %s" % (type(e).__name__, e)
            else:
                if status < 400:
                    with self._lock:
                        self.sent_traces += count
                        self.sent_payloads += 1
                    self._apply_rates(body)
                    return
                if status in (404, 415) and endpoint == "v0.5/traces":
                    self._downgrade(status)
                    self._drop(count, "api_downgrade")
                    return
                if status < 500:
                    log.debug("ddfast: the agent refused %d trace(s): HTTP %d %r", count, status, body[:200])
                    self._drop(count, "rejected")
                    return
                problem = "HTTP %d" % status
            if attempt + 1 < RETRY_ATTEMPTS:
                time.sleep(base_wait * 1.618 ** (attempt + 1) * random.uniform(0.5, 1.0))
        log.debug("ddfast: %d trace(s) not sent after %d attempts: %s", count, RETRY_ATTEMPTS, problem)
        self._drop(count, "send_failed")

    def _downgrade(self, status):
        """The agent has no v0.5 endpoint (HTTP 404/415): use v0.4 from now on, as ddtrace does."""
        with self._lock:
            if self.api_version == "v0.4":
                return
            log.warning("ddfast: the agent answered HTTP %d to v0.5/traces; using v0.4/traces", status)
            self.api_version = "v0.4"
            old = self._encoder
            self._encoder = self._new_encoder("v0.4")
            count = len(old)
        if count:  # traces already encoded for v0.5 cannot be sent any more
            self._drop(count, "api_downgrade")

    def _apply_rates(self, body):
        if self.on_rates is None or not body:
            return
        try:
            rates = json.loads(body).get("rate_by_service")
            if isinstance(rates, dict):
                self.on_rates(rates)
        except Exception:
            log.debug("ddfast: unusable agent response %r", body[:200], exc_info=True)

    # -- the writer protocol ---------------------------------------------------------------------------

    def flush_queue(self):
        """Send everything buffered now, in the caller's thread (waits for the agent)."""
        self._flush()

    def stop(self, timeout=None):
        """Send what is buffered and stop; traces written afterwards are dropped (and counted)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._wake.set()
            thread.join(timeout)
        else:
            self._flush()

    def __len__(self):
        """Traces buffered and not yet sent."""
        with self._lock:
            return len(self._encoder) + sum(count for _, count, _ in self._pending)

    def __repr__(self):
        return "AgentWriter(%r, api_version=%r)" % (self.agent_url.url, self.api_version)


_writers = weakref.WeakSet()


def _after_fork_in_child():
    for writer in list(_writers):
        stopped = writer._stopped
        writer._reset()
        writer._stopped = stopped


def _stop_all_at_exit():
    for writer in list(_writers):
        try:
            writer.stop(timeout=writer.timeout)
        except Exception:
            log.debug("ddfast: writer stop at exit failed", exc_info=True)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_stop_all_at_exit)
