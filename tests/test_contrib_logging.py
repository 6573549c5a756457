"""Logs joined to traces (``ddfast.contrib.logging``), on both implementations: the attributes
ddtrace 4.16 puts on log records, their formats, the format strings users write, structlog, and
``DD_LOGS_INJECTION`` off meaning nothing installed."""

import io
import logging
import os
import subprocess
import sys

import pytest

import ddfast
from ddfast.contrib import logging as dd_logging


@pytest.fixture
def patched(make_tracer):
    """A tracer on the implementation under test whose active span log records carry; undone after."""
    tracer = make_tracer()
    saved = (ddfast.config.service, ddfast.config.env, ddfast.config.version)
    ddfast.config.service, ddfast.config.env, ddfast.config.version = "shop", "prod", "1.2"
    assert dd_logging.patch(tracer=tracer) is True
    try:
        yield tracer
    finally:
        dd_logging.unpatch()
        ddfast.config.service, ddfast.config.env, ddfast.config.version = saved


def _logged(fmt, style="%"):
    """Log one line through a handler with ``fmt``; (the record, the formatted text)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt, style=style))
    records = []
    handler.addFilter(lambda record: records.append(record) or True)
    logger = logging.getLogger("ddfast.test.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info("hello")
    finally:
        logger.removeHandler(handler)
    return records[0], stream.getvalue().strip()


def test_a_record_in_a_span_carries_the_trace_as_ddtrace_writes_it(patched):
    with patched.trace("web.request") as span:
        record, _ = _logged("%(message)s")
    assert span.trace_id >> 64, "a new trace has a 128-bit id"
    assert getattr(record, "dd.trace_id") == "%032x" % span.trace_id
    assert getattr(record, "dd.span_id") == str(span.span_id)
    assert (getattr(record, "dd.service"), getattr(record, "dd.env"), getattr(record, "dd.version")) == (
        "shop", "prod", "1.2",
    )  # fmt: skip


def test_a_64_bit_trace_id_is_written_in_decimal(patched, prop):
    remote = prop.Context(trace_id=123, span_id=456, sampling_priority=1)
    with patched.start_span("child", child_of=remote, activate=True) as span:
        record, _ = _logged("%(message)s")
    assert getattr(record, "dd.trace_id") == "123" and getattr(record, "dd.span_id") == str(span.span_id)


def test_outside_a_span_the_ids_are_zero(patched):
    record, _ = _logged("%(message)s")
    assert (getattr(record, "dd.trace_id"), getattr(record, "dd.span_id")) == ("0", "0")
    assert getattr(record, "dd.service") == "shop"


def test_the_documented_format_and_a_brace_format_show_the_correlation(patched):
    with patched.trace("web.request") as span:
        _, percent = _logged(dd_logging.FORMAT)
        record, brace = _logged("{dd.trace_id} {dd.span_id} {dd.service} {message}", style="{")
    expected = "dd.trace_id=%032x dd.span_id=%d] - hello" % (span.trace_id, span.span_id)
    assert percent.endswith(expected) and "dd.service=shop dd.env=prod dd.version=1.2" in percent
    assert brace == "%032x %d shop hello" % (span.trace_id, span.span_id)
    assert not hasattr(record, "dd")  # the helper object is not left for other formatters


def test_structlog_processor_adds_the_same_keys(patched):
    structlog = pytest.importorskip("structlog")
    events = []
    structlog.configure(processors=[dd_logging.structlog_processor, lambda _, __, event: events.append(event) or ""])
    try:
        with patched.trace("job") as span:
            structlog.get_logger().info("done")
    finally:
        structlog.reset_defaults()
    assert events[0]["dd.trace_id"] == "%032x" % span.trace_id and events[0]["dd.span_id"] == str(span.span_id)
    assert events[0]["dd.service"] == "shop"


def test_unpatch_restores_the_factory_and_a_second_patch_is_refused(patched):
    assert dd_logging.patch(tracer=patched) is False  # already patched
    dd_logging.unpatch()
    record, _ = _logged("%(message)s")
    assert not hasattr(record, "dd.trace_id")
    assert dd_logging.patch(tracer=patched) is True  # the fixture unpatches again


def test_logs_injection_off_installs_nothing(tmp_path):
    code = (
        "import logging, ddfast\n"
        "factory, fmt = logging.getLogRecordFactory(), logging.StrFormatStyle._format\n"
        "print(ddfast.patch(logging=True), logging.getLogRecordFactory() is factory,"
        " logging.StrFormatStyle._format is fmt)\n"
    )
    env = dict(os.environ, DD_LOGS_INJECTION="false")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True", "True"]


@pytest.mark.parametrize(
    "value,on", [(None, True), ("true", True), ("structured", True), ("1", True), ("false", False), ("0", False)]
)
def test_the_setting_reads_as_ddtrace_reads_it(value, on):
    from ddfast.settings import Config

    assert Config(environ={} if value is None else {"DD_LOGS_INJECTION": value}).logs_injection is on


def test_a_bad_setting_value_warns_and_turns_it_off(caplog):
    from ddfast.settings import Config

    with caplog.at_level(logging.WARNING, logger="ddfast"):
        assert Config(environ={"DD_LOGS_INJECTION": "sometimes"}).logs_injection is False
    assert "DD_LOGS_INJECTION" in caplog.text


@pytest.fixture
def injection_off():
    saved = (ddfast.config.logs_injection, ddfast.config.service)
    ddfast.config.logs_injection, ddfast.config.service = False, "shop"
    try:
        yield
    finally:
        dd_logging.unpatch()
        ddfast.config.logs_injection, ddfast.config.service = saved


FORMATS = [("%", None), ("{", "{dd.trace_id}|{dd.service!r:>7}|{message}"), ("{", "{dd.span_id[0]}|{message}")]


@pytest.mark.parametrize("made", ["before", "after"])
def test_with_injection_off_the_documented_formats_still_work(injection_off, capsys, made):
    """Records carry nothing then; the formats naming the attributes show their values outside a span
    (formatters made before patch() too), instead of a logging error for every record."""
    logger = logging.getLogger("ddfast.test.off")
    logger.propagate = False
    stream = io.StringIO()
    handlers = [logging.StreamHandler(stream) for _ in FORMATS]

    def configure():
        for handler, (style, fmt) in zip(handlers, FORMATS, strict=True):
            handler.setFormatter(logging.Formatter(fmt or dd_logging.FORMAT, style=style))
            logger.addHandler(handler)

    if made == "before":
        configure()
    assert dd_logging.patch() is False  # nothing injected
    if made == "after":
        configure()
    styles = [handler.formatter._style for handler in handlers]
    try:
        logger.warning("hello 100%")
        # the usual formats are rewritten once, so that a record costs nothing more; the others get defaults
        assert [style._defaults is None for style in styles] == [True, True, False]
        assert "%(dd." not in styles[0]._fmt and "{dd." not in styles[1]._fmt
        dd_logging.unpatch()
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    assert "Logging error" not in capsys.readouterr().err
    percent, brace, indexed = stream.getvalue().splitlines()
    assert "[dd.service=shop dd.env= dd.version= dd.trace_id=0 dd.span_id=0] - hello 100%" in percent
    assert brace == "0| 'shop'|hello 100%" and indexed == "0|hello 100%"
    assert styles[0]._fmt == dd_logging.FORMAT  # unpatch() gives the configured formatters their formats back
