"""Logs joined to traces: ``patch()`` makes every ``logging`` record carry the active trace's ids and
the service's names, so that Datadog shows a trace's logs and a log line's trace.

The attributes and their formats are ddtrace 4.16's: ``dd.trace_id`` (32 hex digits for a 128-bit
trace id, else decimal), ``dd.span_id`` (decimal), ``dd.service``, ``dd.env``, ``dd.version`` (the
configured ones, else empty); outside a span both ids are ``"0"``. ``FORMAT`` is a ``%``-style format
string that shows them; a ``{``-style one may use ``{dd.trace_id}`` and the like. ``structlog_processor``
adds the same keys to a structlog event.

``DD_LOGS_INJECTION`` (``true`` by default, as in ddtrace; ``false`` turns it off): with it off,
records carry nothing, and ``patch()`` only makes the formats that name the attributes (``FORMAT``, or
a copy of it) keep working: in the formatters made from then on and in those of the handlers already
configured, each ``%(dd.trace_id)s`` or ``{dd.service}`` is replaced by its value outside a span, once,
so that formatting a record costs nothing more. A format naming them in a way this does not rewrite
gets the values as ``logging.Formatter`` defaults instead (Python then merges them into each record's
attributes as it formats it). ``ddfast.patch(logging=True)`` calls ``patch()``.
"""

import logging
import re

from ddfast.settings import config

TRACE_ID = "dd.trace_id"
SPAN_ID = "dd.span_id"
SERVICE = "dd.service"
ENV = "dd.env"
VERSION = "dd.version"

#: a ``%``-style format with the trace correlation (the layout of ddtrace's documentation)
FORMAT = (
    "%(asctime)s %(levelname)s [%(name)s] [%(filename)s:%(lineno)d] "
    "[dd.service=%(dd.service)s dd.env=%(dd.env)s dd.version=%(dd.version)s "
    "dd.trace_id=%(dd.trace_id)s dd.span_id=%(dd.span_id)s] - %(message)s"
)

_U64 = 0xFFFFFFFFFFFFFFFF
_state = {"tracer": None, "factory": None, "format": None, "style_init": None}


def correlation(tracer=None):
    """The correlation attributes of the active span of ``tracer`` (default: ``ddfast.tracer``)."""
    if tracer is None:
        from ddfast.tracer import tracer
    span = tracer.current_span()
    if span is None:
        trace_id = span_id = "0"
    else:
        trace_id = span.trace_id
        trace_id = "%032x" % trace_id if trace_id > _U64 else str(trace_id)
        span_id = str(span.span_id)
    return {
        TRACE_ID: trace_id,
        SPAN_ID: span_id,
        SERVICE: config.service or "",
        ENV: config.env or "",
        VERSION: config.version or "",
    }


class _DDAttributes:
    """``record.dd`` while a ``{``-style format runs: ``{dd.trace_id}`` reads ``record.dd.trace_id``."""

    __slots__ = ("trace_id", "span_id", "service", "env", "version")

    def __init__(self, record):
        get = record.__dict__.get
        self.trace_id = get(TRACE_ID, "0")
        self.span_id = get(SPAN_ID, "0")
        self.service = get(SERVICE, "")
        self.env = get(ENV, "")
        self.version = get(VERSION, "")


class _Outside:
    """``record.dd`` of a ``{``-style format's defaults: the values outside a span."""

    __slots__ = ("trace_id", "span_id", "service", "env", "version")

    def __init__(self, values):
        self.trace_id, self.span_id = values[TRACE_ID], values[SPAN_ID]
        self.service, self.env, self.version = values[SERVICE], values[ENV], values[VERSION]


_NAMES = r"(dd\.(?:trace_id|span_id|service|env|version))"
# %(dd.x)s with its conversion flags, width and precision; {dd.x} with its conversion and format spec
_PERCENT_FIELD = re.compile(r"%\(" + _NAMES + r"\)([#0+ -]*\d*(?:\.\d+)?[sra])")
_BRACE_FIELD = re.compile(r"\{" + _NAMES + r"((?:![rsa])?(?::[^{}]*)?)\}")


def _fixed(style, values):
    """``style``'s format (``logging.PercentStyle`` or ``StrFormatStyle``) with each field naming a
    correlation attribute replaced by its value in ``values``; None when some are left (or the style is
    another one)."""
    fmt = style._fmt
    if type(style) is logging.PercentStyle:
        fmt = _PERCENT_FIELD.sub(lambda m: (("%" + m.group(2)) % values[m.group(1)]).replace("%", "%%"), fmt)
        return None if "%(dd." in fmt else fmt
    if type(style) is logging.StrFormatStyle:
        fmt = _BRACE_FIELD.sub(
            lambda m: ("{0" + m.group(2) + "}").format(values[m.group(1)]).replace("{", "{{").replace("}", "}}"), fmt
        )
        return None if re.search(r"\{dd\b", fmt) else fmt
    return None


def _outside_a_span(style, values):
    """Make ``style`` format records that lack the correlation attributes as if outside a span."""
    fmt = getattr(style, "_fmt", None)
    if not isinstance(fmt, str) or "dd." not in fmt or hasattr(style, "_ddfast_fmt"):
        return
    try:
        fixed = _fixed(style, values)
    except (TypeError, ValueError):  # a conversion that does not take the value
        fixed = None
    style._ddfast_fmt = fmt  # what unpatch() puts back
    if fixed is not None:
        style._fmt = fixed
    else:
        style._defaults = {**values, "dd": _Outside(values), **(style._defaults or {})}


def _handler_styles():
    """The format styles of the handlers of every logger made so far."""
    loggers = [logging.getLogger()] + [
        lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            style = getattr(handler.formatter, "_style", None)
            if style is not None:
                yield style


def _keep_formats_working():
    """With injection off: the formats naming the correlation attributes show their values outside a
    span (see the module docstring), in the formatters made from now on and in those already configured."""
    if _state["style_init"] is not None:
        return
    values = {TRACE_ID: "0", SPAN_ID: "0", SERVICE: config.service or "", ENV: config.env or "",
              VERSION: config.version or ""}  # fmt: skip
    original_init = logging.PercentStyle.__init__

    def style_init(self, fmt, *args, **kwargs):
        original_init(self, fmt, *args, **kwargs)
        _outside_a_span(self, values)

    _state["style_init"] = original_init
    logging.PercentStyle.__init__ = style_init
    for style in _handler_styles():
        _outside_a_span(style, values)


def patch(tracer=None):
    """Make every log record carry the correlation attributes (``tracer``'s active span; default
    ``ddfast.tracer``). False when ``DD_LOGS_INJECTION`` is off (then formats naming them still work,
    see the module docstring) or it is patched already."""
    if not config.logs_injection:
        _keep_formats_working()
        return False
    if _state["factory"] is not None:
        return False
    previous = logging.getLogRecordFactory()
    original_format = logging.StrFormatStyle._format

    def record_factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.__dict__.update(correlation(_state["tracer"]))
        return record

    def str_format(self, record):
        record.dd = _DDAttributes(record)
        try:
            return original_format(self, record)
        finally:
            del record.dd  # not left for other formatters (a JSON one would show it)

    _state.update(tracer=tracer, factory=(previous, record_factory), format=original_format)
    logging.setLogRecordFactory(record_factory)
    logging.StrFormatStyle._format = str_format
    return True


def unpatch():
    """Undo ``patch()`` (a record factory set on top of ours since is kept, and keeps calling ours)."""
    if _state["style_init"] is not None:
        logging.PercentStyle.__init__ = _state["style_init"]
        _state["style_init"] = None
        for style in _handler_styles():
            if hasattr(style, "_ddfast_fmt"):
                style._fmt = style.__dict__.pop("_ddfast_fmt")
    if _state["factory"] is None:
        return
    previous, ours = _state["factory"]
    if logging.getLogRecordFactory() is ours:
        logging.setLogRecordFactory(previous)
    logging.StrFormatStyle._format = _state["format"]
    _state.update(tracer=None, factory=None, format=None)


def structlog_processor(logger, method_name, event_dict):
    """A structlog processor adding the correlation keys of ``ddfast.tracer``'s active span."""
    event_dict.update(correlation(_state["tracer"]))
    return event_dict
