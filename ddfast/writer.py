"""Where finished traces go. The tracer calls ``writer.write(spans)`` once per finished trace chunk.

Any object with ``write(spans)``, ``flush_queue()`` and ``stop(timeout=None)`` is a writer.
``AgentWriter`` (the tracer's default) sends them to the Datadog agent; ``InMemoryWriter`` keeps them
in memory, bounded, for tests and tools: a full buffer drops the oldest trace and counts it; nothing is
lost silently.
"""

import collections
import logging
import threading
import time

from ddfast.agent_writer import AgentWriter

log = logging.getLogger("ddfast.writer")

__all__ = ["AgentWriter", "InMemoryWriter"]


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
