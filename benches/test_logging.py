"""What logs injection (``ddfast.contrib.logging``) costs per log record: one record made and formatted
by the standard library alone (``none``), with ``DD_LOGS_INJECTION=false`` after
``ddfast.patch(logging=True)`` (``off``: no per-record work is installed, so it should cost nothing), and with it
on, inside a span (``on``). Not an implementation comparison: the gate leaves it out."""

import logging

import pytest

import ddfast
from ddfast.contrib import logging as dd_logging


class _Formatting(logging.Handler):
    """A handler that formats each record and keeps nothing (what a real handler costs, without I/O)."""

    def emit(self, record):
        self.format(record)


@pytest.mark.parametrize("injection", ["none", "off", "on"])
@pytest.mark.benchmark(group="logging: one record made and formatted")
def test_log_record(benchmark, injection):
    # a logger of its own, outside logging's registry: nothing else (pytest's capture) adds handlers to it
    logger = logging.Logger("ddfast.bench.logging")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = _Formatting()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))  # the same in all three
    logger.addHandler(handler)
    saved = ddfast.config.logs_injection
    tracer = ddfast.Tracer(writer=ddfast.InMemoryWriter())
    try:
        if injection != "none":
            ddfast.config.logs_injection = injection == "on"
            assert dd_logging.patch(tracer=tracer) is (injection == "on")
        with tracer.trace("request"):
            benchmark(logger.info, "hello %s", "world")
    finally:
        dd_logging.unpatch()
        ddfast.config.logs_injection = saved
        logger.removeHandler(handler)
