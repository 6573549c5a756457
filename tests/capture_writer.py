"""``CaptureWriter``: a writer of both tracers' protocols (ddtrace's and ddfast's) keeping every span
written, for the drivers that run one tracer in a subprocess and print its spans back to a test."""

import threading


class CaptureWriter:
    """Keeps every finished span; the rest of a writer's protocol does nothing."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()

    def write(self, spans=None):
        with self.lock:
            self.spans.extend(spans or ())

    def snapshot(self):
        """The spans written so far."""
        with self.lock:
            return list(self.spans)

    def take(self):
        """The spans written so far, forgotten here."""
        with self.lock:
            taken, self.spans = self.spans, []
        return taken

    def flush_queue(self, *a, **k):
        pass

    def stop(self, *a, **k):
        pass

    def recreate(self, *a, **k):
        return self

    def before_fork(self):
        pass
