"""Msgpack encoders for the agent's trace API, pure Python (on the ``msgpack`` package). Twin of
``src/encoding.pyx``.

``MsgpackEncoderV04`` (``/v0.4/traces``: an array of traces, each an array of span maps) and
``MsgpackEncoderV05`` (``/v0.5/traces``: ``[string table, traces]``, each span a 12-item array of
string-table indices and numbers) buffer finished traces as they come, bounded by ``max_size``
(the payload) and ``max_item_size`` (one trace), and hand out one payload per ``encode()``. The
payloads decode to what ddtrace 4.16's encoders produce for the same spans.

``TraceBuffer`` is the agent writer's application side (``ddfast.writer``): the payload being filled,
the sealed payloads waiting for the sender, and the lock only application threads take; the tracer's
finish path writes each trace into it directly.
"""

import _thread
import collections
import sys
import time

import msgpack

from ddfast._pure.span import DERIVED_METRICS
from ddfast._pure.span import DERIVED_TAGS
from ddfast._pure.span import Span as _PureSpan
from ddfast._pure.span_tracer import register_trace_buffer
from ddfast.encoding_errors import BufferFull
from ddfast.encoding_errors import BufferItemTooLarge

# ddtrace's limits: a longer string is cut to its first characters and a marker
MAX_TEXT_LEN = 25000
TRUNCATED_LEN = 2500
TRUNCATED_MARK = "<truncated>..."
TID_KEY = "_dd.p.tid"
LINKS_KEY = "_dd.span_links"
CONTENT_TYPE = "application/msgpack"
# ddtrace starts every v0.5 string table with these two entries
V05_PRESET = ("", "_dd.origin")
# what an encoder's add() did with a trace
ADDED = 0
TOO_LARGE = 1
FULL = 2
DEFAULT_MAX_SIZE = 20 << 20
_U64 = 0xFFFFFFFFFFFFFFFF


def _packer():
    # Lone surrogates are escaped rather than failing the whole trace.
    return msgpack.Packer(unicode_errors="backslashreplace", default=str)


def truncated(s):
    """``s``, or when longer than 25000 characters its first 2486 and ``<truncated>...`` (as ddtrace)."""
    if len(s) > MAX_TEXT_LEN:
        return s[: TRUNCATED_LEN - len(TRUNCATED_MARK)] + TRUNCATED_MARK
    return s


def _text(value):
    """A str (truncated), None as None (nil), anything else as its str()."""
    if value is None:
        return None
    return truncated(value if type(value) is str else str(value))


def _texts(mapping):
    """A str -> str mapping with every string as ``_text`` makes it (the mapping itself when it is)."""
    if _short_strings(mapping) and _short_strings(mapping.values()):
        return mapping
    return {_text(k): _text(v) for k, v in mapping.items()}


_NUMBERS = {int, float}


def _short_strings(items):
    """Whether no item can need truncating: together they are no longer than one may be (checked at C
    speed; a long or a non-text item sends the caller to the exact, slower path)."""
    try:
        return sum(map(len, items)) <= MAX_TEXT_LEN
    except TypeError:
        return False


def _numbers(metrics):
    """Metrics as ``_number`` makes them (the mapping itself when it already is)."""
    if _short_strings(metrics) and set(map(type, metrics.values())) <= _NUMBERS:
        return metrics  # a span's set_metric keeps ints within 64 bits
    return {_text(k): _number(v) for k, v in metrics.items()}


def low64(value):
    return 0 if value is None else value & _U64


def tid_of(trace_id, meta):
    """The ``_dd.p.tid`` tag the chunk's first span must carry, or None when present or not needed."""
    if trace_id is None:
        return None
    high = (trace_id >> 64) & _U64
    if high == 0 or TID_KEY in meta:
        return None
    return "%016x" % high


def _links_json(links):
    """The span links as the JSON text ddtrace puts in the ``_dd.span_links`` tag (v0.5)."""
    import json  # spans with links only: not imported by ``import ddfast``

    return json.dumps([link.to_dict() for link in links])


def header_size(n):
    """Bytes of an array/map header for ``n`` items."""
    return 1 if n < 16 else (3 if n <= 0xFFFF else 5)


def _fields(span):
    """The encoded fields of a span of either twin (or any span with ddtrace's public API)."""
    return (
        span.name,
        span.service,
        span.resource,
        span.span_type,
        span.trace_id,
        span.span_id,
        span.parent_id,
        span.start_ns,
        span.duration_ns,
        int(span.error),
        span.get_tags(),
        span.get_metrics(),
        getattr(span, "_links", None),
        (),
        (),
    )


def _derived_items(span, mask):
    """``[(key, value)]`` of the pure span's derived tags (``mask`` DERIVED_TAGS) or metrics, in the
    order the compiled encoders write them: after the stored ones."""
    if not span._derived & mask:
        return ()
    derived = {}
    span.add_derived(derived, mask)
    return derived.items()


def _number(value):
    """A metric value: ints stay ints, floats stay floats (as ddtrace sends them)."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        return value if -(2**63) <= value <= _U64 else float(value)
    if t is bool:
        return int(value)
    if isinstance(value, int):
        return _number(int(value))
    return float(value)


class _BufferedEncoder:
    """Traces encoded as they come, one bytes object per trace, joined at ``encode()``."""

    content_type = CONTENT_TYPE

    def __init__(self, max_size=DEFAULT_MAX_SIZE, max_item_size=DEFAULT_MAX_SIZE):
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError("max_size must be a positive int, got %r" % (max_size,))
        if isinstance(max_item_size, bool) or not isinstance(max_item_size, int) or max_item_size <= 0:
            raise ValueError("max_item_size must be a positive int, got %r" % (max_item_size,))
        self._max_size = max_size
        self._max_item_size = max_item_size
        self._count = 0
        self._packer = _packer()
        self._parts = []
        self._length = 0

    @property
    def max_size(self):
        return self._max_size

    @property
    def max_item_size(self):
        return self._max_item_size

    def __len__(self):
        """The number of traces waiting in the buffer."""
        return self._count

    @property
    def size(self):
        """The size in bytes of the payload ``encode()`` would return now."""
        return self._size(self._count)

    def put(self, spans):
        """Add one trace (a list of finished spans). Raises ``BufferItemTooLarge`` when the trace alone
        exceeds ``max_item_size`` and ``BufferFull`` when the payload would exceed ``max_size``; the
        buffer is then unchanged, as after any error encoding the trace."""
        refused = self.add(spans)
        if refused == TOO_LARGE:
            raise BufferItemTooLarge(self._refused_size)
        if refused == FULL:
            raise BufferFull(self._refused_size)

    def add(self, spans):
        """``put`` without the exceptions for a refused trace: ``ADDED``, ``TOO_LARGE`` or ``FULL`` (the
        refused trace's size then in ``_refused_size``); any other error raises, the buffer unchanged."""
        if not isinstance(spans, (list, tuple)):
            raise TypeError("a trace is a list of spans, not %s" % type(spans).__name__)
        self._mark()
        try:
            self._put(spans)
        except BaseException:
            self._rollback()
            raise
        item = self._item_size()
        if item > self._max_item_size or self._size(self._count + 1) > self._max_size:
            self._refused_size = item
            self._rollback()
            return TOO_LARGE if item > self._max_item_size else FULL
        self._count += 1
        return ADDED

    def encode(self):
        """``[(payload, trace_count)]`` for the traces buffered so far, or ``[]``; the buffer is reset."""
        if self._count == 0:
            return []
        payload = self._payload()
        count = self._count
        self._reset()
        return [(payload, count)]

    def encode_traces(self, traces):
        """One payload for ``traces`` (an iterable of span lists), through the same buffer."""
        for spans in traces:
            self.put(spans)
        payload = self._payload()
        self._reset()
        return payload

    def _put(self, spans):
        span_ = self._span
        encoded = [
            span_(_fast_fields(span) if type(span) is _PureSpan else _fields(span), i == 0)
            for i, span in enumerate(spans)
        ]
        self._append(self._packer.pack(encoded))

    def _append(self, data):
        self._parts.append(data)
        self._length += len(data)

    def _mark(self):
        self._mark_parts = len(self._parts)
        self._mark_length = self._length

    def _rollback(self):
        del self._parts[self._mark_parts :]
        self._length = self._mark_length

    def _item_size(self):
        return self._length - self._mark_length

    def _reset(self):
        self._count = 0
        self._parts = []
        self._length = 0


class MsgpackEncoderV04(_BufferedEncoder):
    """``/v0.4/traces``: an array of traces, each an array of span maps (see the module docstring)."""

    endpoint = "v0.4/traces"

    def _size(self, count):
        return header_size(count) + self._length

    def _span(self, fields, first):
        """One span (``fields`` as ``_fields`` reads them) in this version's shape."""
        (name, service, resource, span_type, trace_id, span_id, parent_id,
         start, duration, error, meta, metrics, links, derived_tags, derived_metrics) = fields  # fmt: skip
        tid = tid_of(trace_id, meta) if first else None
        d = {"trace_id": low64(trace_id)}
        if parent_id:
            d["parent_id"] = parent_id
        d["span_id"] = span_id
        d["service"] = _text(service)
        d["resource"] = _text(resource)
        d["name"] = _text(name)
        d["start"] = start
        d["duration"] = duration
        if error:
            d["error"] = error
        if span_type is not None:
            d["type"] = _text(span_type)
        if links:
            d["span_links"] = [_link_v04(link) for link in links]
        if meta or tid is not None or derived_tags:
            meta = _texts(meta)
            if tid is not None or derived_tags:
                meta = dict(meta)
                if tid is not None:
                    meta[TID_KEY] = tid
                meta.update(derived_tags)
            d["meta"] = meta
        if metrics or derived_metrics:
            metrics = _numbers(metrics) if metrics else {}
            if derived_metrics:
                metrics = dict(metrics)
                metrics.update(derived_metrics)
            d["metrics"] = metrics
        return d

    def _payload(self):
        return b"".join([self._packer.pack_array_header(self._count)] + self._parts)


def _link_v04(link):
    """A span link as a v0.4 map: ids split in 64-bit halves, flags with bit 31 set to say "set"."""
    high = (link.trace_id >> 64) & _U64
    d = {"trace_id": link.trace_id & _U64, "span_id": link.span_id}
    attributes = link._flat_attributes()
    if attributes:
        d["attributes"] = _texts(attributes)
    if link.tracestate:
        d["tracestate"] = _text(link.tracestate)
    if link.flags is not None:
        d["flags"] = (link.flags & 0xFFFFFFFF) | 0x80000000
    if high:
        d["trace_id_high"] = high
    return d


class MsgpackEncoderV05(_BufferedEncoder):
    """``/v0.5/traces``: ``[string table, traces]``, each span a 12-item array (see the module docstring)."""

    endpoint = "v0.5/traces"

    def __init__(self, max_size=DEFAULT_MAX_SIZE, max_item_size=DEFAULT_MAX_SIZE):
        super().__init__(max_size, max_item_size)
        self._clear_table()

    def _clear_table(self):
        self._index = {}
        self._strings = []
        self._table_length = 0
        for s in V05_PRESET:
            self._ref(s)

    def _ref(self, s):
        """The table index of ``s`` (None is the empty string), adding it on first use."""
        if type(s) is str:
            i = self._index.get(s)  # the common case: a (short) string already in the table
            if i is not None:
                return i
        elif s is None:
            return 0
        s = _text(s)
        i = self._index.get(s)
        if i is not None:
            return i
        i = len(self._strings)
        self._table_length += len(self._packer.pack(s))
        self._index[s] = i
        self._strings.append(s)
        return i

    def _size(self, count):
        return 1 + header_size(len(self._strings)) + self._table_length + header_size(count) + self._length

    def _mark(self):
        super()._mark()
        self._table_mark = self._table_length
        self._strings_mark = len(self._strings)

    def _rollback(self):
        super()._rollback()
        self._table_length = self._table_mark
        for s in self._strings[self._strings_mark :]:
            self._index.pop(s, None)
        del self._strings[self._strings_mark :]

    def _item_size(self):
        return super()._item_size() + self._table_length - self._table_mark

    def _span(self, fields, first):
        """One span (``fields`` as ``_fields`` reads them) in this version's shape."""
        (name, service, resource, span_type, trace_id, span_id, parent_id,
         start, duration, error, meta, metrics, links, derived_tags, derived_metrics) = fields  # fmt: skip
        ref = self._ref
        tid = tid_of(trace_id, meta) if first else None
        # table indices are taken in the compiled twin's order, so both give the same bytes
        service_i = ref(service)
        name_i = ref(name)
        resource_i = ref(resource)
        encoded_meta = {ref(k): ref(v) for k, v in meta.items()}
        if tid is not None:
            key = ref(TID_KEY)
            encoded_meta[key] = ref(tid)
        if links:
            key = ref(LINKS_KEY)
            encoded_meta[key] = ref(_links_json(links))
        for k, v in derived_tags:
            key = ref(k)
            encoded_meta[key] = ref(v)
        encoded_metrics = {ref(k): _number(v) for k, v in metrics.items()} if metrics else {}
        for k, v in derived_metrics:
            encoded_metrics[ref(k)] = _number(v)
        return [
            service_i,
            name_i,
            resource_i,
            low64(trace_id),
            span_id,
            parent_id or 0,
            start,
            duration or 0,
            error,
            encoded_meta,
            encoded_metrics,
            ref(span_type),
        ]

    def _payload(self):
        pack = self._packer
        head = pack.pack_array_header(2) + pack.pack(self._strings)
        return b"".join([head, pack.pack_array_header(self._count)] + self._parts)

    def _reset(self):
        super()._reset()
        self._clear_table()


def _fast_fields(span):
    """The encoded fields of a pure ``Span``, read from its slots."""
    return (
        span.name,
        span.service,
        span._resource if span._resource is not None else span.name,
        span.span_type,
        span.trace_id,
        span.span_id,
        span.parent_id,
        span.start_ns,
        span.duration_ns,
        span.error,
        span._meta,
        span._metrics,
        span._links,
        _derived_items(span, DERIVED_TAGS),
        _derived_items(span, DERIVED_METRICS),
    )


# -- the writer's buffer -----------------------------------------------------------------------------

# why the application's side refused a trace
DROP_REASONS = ("too_large", "encoding_error", "buffer_full", "stopped")
# the longest wait a lock is given, in seconds: longer timeouts wait without a bound
MAX_WAIT = 1e9


def _lock_factory():
    """The interpreter's own lock factory (gevent's original where gevent has patched it)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        return monkey.get_original("_thread", "allocate_lock")
    return _thread.allocate_lock


class TraceBuffer:
    """The application's side of the agent writer: the payload being filled (``encoder``), the sealed
    payloads waiting for the sender, the lock only application threads contend for, and what was
    refused. ``write(spans)`` encodes one trace under that lock, seals the payload when the sender asked
    for it (``request_seal``) or when it is full (room permitting: past ``buffer_size`` bytes waiting,
    the newest trace is refused and counted), and does nothing under the lock that could switch threads
    or greenlets. Outside it, once: ``on_start()`` at the first trace (the writer starts its thread);
    and ``on_drop(error)`` after a refused trace, no sooner than ``report_after`` (a ``time.monotonic``
    time; at once for an encoding error, which it receives). The tracer's finish path calls ``write``
    directly, not through the writer's (the compiled twin: without a Python call)."""

    __slots__ = ("_allocate_lock", "buffer_size", "on_start", "on_drop", "_stopped", "_lock", "_wake_lock",
                 "_pending_lock", "_encoder", "_pending", "_pending_traces", "_queued_bytes", "_sent_bytes",
                 "_seal_due", "_thread_started", "_drops", "report_after", "lock_contended", "lock_wait")  # fmt: skip

    def __init__(self, encoder, buffer_size, on_start=None, on_drop=None):
        if not isinstance(encoder, _BufferedEncoder):
            raise TypeError("encoder must be a MsgpackEncoderV04 or V05, not %s" % type(encoder).__name__)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size <= 0:
            raise ValueError("buffer_size must be a positive int, got %r" % (buffer_size,))
        # looked up once: a forked child makes its locks anew with no lookup through the import machinery
        self._allocate_lock = _lock_factory()
        self.buffer_size = buffer_size
        self.on_start = on_start
        self.on_drop = on_drop
        self._stopped = False
        self._new_locks()
        self._clear(encoder)

    def _new_locks(self):
        self._lock = self._allocate_lock()  # the application's lock
        self._wake_lock = self._allocate_lock()  # held while no wake-up is pending for the sender
        self._wake_lock.acquire()
        self._pending_lock = self._allocate_lock()  # the sealed payloads and their count, taken together

    def _clear(self, encoder):
        self._encoder = encoder
        self._pending = collections.deque()  # sealed payloads, oldest first: (payload, trace count, endpoint)
        self._pending_traces = 0
        self._queued_bytes = 0  # written under the application's lock ...
        self._sent_bytes = 0  # ... and this by the sender: waiting = queued - sent
        self._seal_due = self._thread_started = False
        self._drops = [0] * len(DROP_REASONS)
        #: the ``time.monotonic()`` time before which a refused trace is not reported (``on_drop``)
        self.report_after = 0.0
        #: application threads that found the lock taken, and the longest they waited (seconds)
        self.lock_contended = 0
        self.lock_wait = 0.0

    def reset(self, encoder):
        """A forked child's buffer: new locks (the parent's may have been held by a thread the child does
        not have: they are left, not freed, as CPython leaves its own), ``encoder`` empty, nothing sealed,
        no thread, counters zeroed; ``stopped`` stays."""
        if not isinstance(encoder, _BufferedEncoder):
            raise TypeError("encoder must be a MsgpackEncoderV04 or V05, not %s" % type(encoder).__name__)
        self._new_locks()
        self._clear(encoder)

    # -- the application's side

    def write(self, spans):
        """Encode one finished trace into the payload being filled (see the class docstring)."""
        reason = None
        start = False
        error = None
        self._acquire(-1.0)
        try:
            if self._stopped:
                reason = 3  # stopped
            else:
                added = ADDED
                try:
                    added = self._encoder.add(spans)
                    if added == FULL:
                        added = self._add_to_next(spans)
                except Exception as e:
                    error = e
                    reason = 1  # encoding_error
                if added == TOO_LARGE:
                    reason = 0  # too_large
                elif added == FULL:
                    reason = 2  # buffer_full
                if self._seal_due:  # once an interval: the sender asked for the payload
                    self._seal()
            if reason is not None:
                self._drops[reason] += 1
            if not self._thread_started and not self._stopped:
                self._thread_started = start = True
        finally:
            self._lock.release()
        if start and self.on_start is not None:
            try:
                self.on_start()  # outside the lock: under gevent, starting a thread may switch greenlets
            except Exception:
                pass
        if reason is not None and self.on_drop is not None:
            if reason == 1 or time.monotonic() >= self.report_after:  # at most once an interval
                try:
                    self.on_drop(error)
                except Exception:  # a logging handler's failure is not the application's
                    pass

    def _add_to_next(self, spans):
        """The payload is full: sealed for the sender if the room allows, and ``spans`` put in the next."""
        with self._pending_lock:
            waiting = self._queued_bytes - self._sent_bytes
        if waiting + self._encoder._size(self._encoder._count) > self.buffer_size:
            self._wake()
            return FULL  # the newest traces are the ones refused: those waiting keep their turn
        self._seal()
        try:
            return ADDED if self._encoder.add(spans) == ADDED else FULL
        except Exception:
            return FULL

    def _seal(self):
        """Move the payload being filled to the sealed ones and wake the sender (application's lock held)."""
        count = self._encoder._count
        self._seal_due = False
        if count == 0:
            return
        payload = self._encoder._payload()
        self._encoder._reset()
        with self._pending_lock:
            self._pending.append((payload, count, self._encoder.endpoint))
            self._pending_traces += count
            self._queued_bytes += len(payload)
        self._wake()

    def _acquire(self, timeout):
        """Take the application's lock, waiting at most ``timeout`` seconds (negative: no bound); True when
        taken. A wait is timed (the lock is the application's: the sender only tries it, so an
        application thread waits only for another one)."""
        lock = self._lock
        if lock.acquire(False):
            return True
        if timeout == 0:
            return False
        start = time.perf_counter()
        if not lock.acquire(True, -1 if timeout < 0 or timeout > MAX_WAIT else timeout):
            return False
        waited = time.perf_counter() - start
        self.lock_contended += 1
        if waited > self.lock_wait:
            self.lock_wait = waited
        return True

    def __enter__(self):
        """The application's lock, held (``with buffer:``): what it guards stays still meanwhile."""
        self._acquire(-1.0)
        return self

    def __exit__(self, *exc_info):
        self._lock.release()

    # -- the sender's side

    def request_seal(self):
        """Ask for the payload being filled: the next ``write`` seals it (or ``try_seal``)."""
        self._seal_due = True

    def try_seal(self):
        """Seal the payload as requested, if the application's lock is free right now (an idle
        application's payload): never waits. True when sealed here."""
        if not self._seal_due or not self._lock.acquire(False):
            return False
        try:
            if not self._seal_due:
                return False
            self._seal()
            return True
        finally:
            self._lock.release()

    def seal(self, timeout=-1.0, stop=False):
        """Seal the payload being filled, waiting for the lock at most ``timeout`` seconds (negative: no
        bound); with ``stop``, refuse every trace written afterwards. False when the lock was not had in
        time (its holder may be the thread a signal interrupted to ask for this)."""
        if not self._acquire(timeout):
            return False
        try:
            if stop:
                self.stopped = True
            self._seal()
        finally:
            self._lock.release()
        return True

    def replace_encoder(self, encoder):
        """Seal the payload being filled and fill ``encoder``'s from now on."""
        if not isinstance(encoder, _BufferedEncoder):
            raise TypeError("encoder must be a MsgpackEncoderV04 or V05, not %s" % type(encoder).__name__)
        self._acquire(-1.0)
        try:
            self._seal()
            self._encoder = encoder
        finally:
            self._lock.release()

    def take(self):
        """The oldest sealed payload, ``(payload, trace count, endpoint)``, taken; None when there is none."""
        with self._pending_lock:
            if not self._pending:
                return None
            item = self._pending.popleft()
            self._pending_traces -= item[1]
            return item

    def sent(self, size):
        """A taken payload of ``size`` bytes is done with (sent or dropped): its room is free again."""
        with self._pending_lock:
            self._sent_bytes += size

    def _wake(self):
        try:
            self._wake_lock.release()
        except RuntimeError:  # already woken
            pass

    def wake(self):
        """Wake the sender's ``wait`` (kept for the next one when it is not waiting)."""
        self._wake()

    def wait(self, timeout):
        """The sender's sleep: True when woken (the wake-up is used), False after ``timeout`` seconds."""
        return self._wake_lock.acquire(True, min(max(timeout, 0.0), MAX_WAIT))

    # -- what it holds

    @property
    def encoder(self):
        """The encoder of the payload being filled."""
        return self._encoder

    @property
    def seal_due(self):
        """Whether the sender asked for the payload being filled and it is not sealed yet."""
        return self._seal_due

    @property
    def stopped(self):
        return self._stopped

    @stopped.setter
    def stopped(self, value):
        self._stopped = bool(value)

    @property
    def thread_started(self):
        return self._thread_started

    @thread_started.setter
    def thread_started(self, value):
        self._thread_started = bool(value)

    @property
    def drops(self):
        """Traces refused here, by reason (only the reasons with some)."""
        return {reason: n for reason, n in zip(DROP_REASONS, self._drops, strict=True) if n}

    @property
    def waiting_bytes(self):
        """Bytes of the sealed payloads not yet done with (the room ``buffer_size`` bounds)."""
        return self._queued_bytes - self._sent_bytes

    def __len__(self):
        """Traces in the payload being filled and in the sealed payloads not yet taken."""
        return self._encoder._count + self._pending_traces

    def __repr__(self):
        return "TraceBuffer(%s, %d traces)" % (type(self._encoder).__name__, len(self))


# the tracer's finish path writes into a TraceBuffer directly
register_trace_buffer(TraceBuffer, TraceBuffer.write)
