"""Logs joined to traces: ``patch()`` makes every ``logging`` record carry the active trace's ids and
the service's names, so that Datadog shows a trace's logs and a log line's trace.

The attributes and their formats are ddtrace 4.16's: ``dd.trace_id`` (32 hex digits for a 128-bit
trace id, else decimal), ``dd.span_id`` (decimal), ``dd.service``, ``dd.env``, ``dd.version`` (the
configured ones, else empty); outside a span both ids are ``"0"``. ``FORMAT`` is a ``%``-style format
string that shows them; a ``{``-style one may use ``{dd.trace_id}`` and the like. ``structlog_processor``
adds the same keys to a structlog event.

``DD_LOGS_INJECTION`` (``true`` by default, as in ddtrace; ``false`` turns it off): with it off,
records carry nothing and ``patch()`` only gives the formatters whose format names a ``dd.`` attribute
(``FORMAT``, or a copy of it) that attribute's value outside a span as a default (``logging.Formatter``'s
``defaults``), so that such a format keeps working: a formatter that names none costs nothing more, one
that does merges five defaults into each record's attributes when it formats it (Python's own way).
``ddfast.patch(logging=True)`` calls ``patch()``.
"""

import logging

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


def _give_defaults(style, defaults):
    """Give a formatter's style (``logging.PercentStyle`` or ``StrFormatStyle``) ``defaults`` for what
    its format does not find on a record, when its format names a ``dd.`` attribute."""
    if "dd." in (getattr(style, "_fmt", None) or ""):
        style._defaults = dict(defaults, **(style._defaults or {}))


def _formatter_defaults():
    """With injection off: formatters, those made from now on and those of the handlers already
    configured, whose format names ``dd.`` attributes find them (as outside a span) when a record lacks them."""
    if _state["style_init"] is not None:
        return
    defaults = {TRACE_ID: "0", SPAN_ID: "0", SERVICE: config.service or "", ENV: config.env or "",
                VERSION: config.version or ""}  # fmt: skip
    defaults["dd"] = _Outside(defaults)
    original_init = logging.PercentStyle.__init__

    def style_init(self, fmt, *args, **kwargs):
        original_init(self, fmt, *args, **kwargs)
        _give_defaults(self, defaults)

    _state["style_init"] = original_init
    logging.PercentStyle.__init__ = style_init
    loggers = [logging.getLogger()] + [
        lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            style = getattr(handler.formatter, "_style", None)
            if style is not None:
                _give_defaults(style, defaults)


def patch(tracer=None):
    """Make every log record carry the correlation attributes (``tracer``'s active span; default
    ``ddfast.tracer``). False when ``DD_LOGS_INJECTION`` is off (then formats naming them still work,
    see the module docstring) or it is patched already."""
    if not config.logs_injection:
        _formatter_defaults()
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
