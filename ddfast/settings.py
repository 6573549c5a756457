"""ddfast's settings: the ``DD_*`` environment variables ddtrace reads, read once at import.

``config`` holds them. Code may override an attribute at start-up (``ddfast.config.x = ...``): the
modules that depend on it are told at once and rebuild their snapshot, so nothing on the request path
reads the environment or re-validates a setting. Parsing follows ddtrace 4.16: booleans are true for
``true``/``1`` (any case).

An invalid value in the environment gives one warning (naming the variable, the value and what is used
instead) and the default: a typo never stops a service from starting. A value assigned in code is
checked at once and refused with ``ValueError``/``TypeError``; a string is read as the environment
variable would be (``config.propagation_style_inject = "b3,datadog"``).
"""

import os

from ddfast._log import LazyLogger

log = LazyLogger("ddfast")

STYLES = ("datadog", "tracecontext", "b3multi", "b3", "baggage")
DEFAULT_STYLES = ("datadog", "tracecontext", "baggage")
BEHAVIORS = ("continue", "restart", "ignore")
# OTEL_PROPAGATORS values ddtrace maps to its own styles (others are ignored with a warning)
_OTEL_STYLES = ("b3", "b3multi", "datadog", "tracecontext", "none")
# the name of ddfast's own OpenTelemetry propagator (``ddfast.otel``'s entry point, which speaks the styles
# configured here): no style, and no mistake either
_OTEL_OWN = "ddfast"


def asbool(value, default):
    """ddtrace's boolean parsing: ``true``/``1`` (any case) is true; unset gives ``default``."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


#: the largest count a setting holds (the compiled core keeps counts in C integers)
MAX_COUNT = 2**31 - 1
#: the longest interval or timeout a setting holds, in seconds
MAX_SECONDS = 3600.0


def _bool(env, name, default):
    """``asbool`` of a variable, with a warning for a value that is neither true nor false (read as
    false, as ddtrace reads it)."""
    raw = env.get(name)
    value = asbool(raw, default)
    if not value and raw is not None and raw.strip().lower() not in ("false", "0", ""):
        log.warning("ddfast: %s=%r is not true, false, 1 or 0; using false", name, raw)
    return value


def _int(env, name, default, minimum=0, maximum=MAX_COUNT):
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        log.warning("ddfast: %s=%r is not an integer; using %d", name, raw, default)
        return default
    if value < minimum:
        log.warning("ddfast: %s=%r is below %d; using %d", name, raw, minimum, minimum)
        return minimum
    if value > maximum:
        log.warning("ddfast: %s=%r is above %d; using %d", name, raw, maximum, maximum)
        return maximum
    return value


def _float(env, name, default, minimum=0.0, maximum=MAX_SECONDS):
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        log.warning("ddfast: %s=%r is not a number; using %s", name, raw, default)
        return default
    if not minimum <= value <= maximum:  # also NaN and infinities
        log.warning("ddfast: %s=%r is not within %s-%s; using %s", name, raw, minimum, maximum, default)
        return default
    return value


#: where the agent listens when nothing is configured and its socket exists (as ddtrace looks for it)
DEFAULT_AGENT_SOCKET = "/var/run/datadog/apm.socket"
DEFAULT_AGENT_URL = "http://localhost:8126"
API_VERSIONS = ("v0.4", "v0.5")


#: the characters of an agent URL that ``_plain_split`` reads itself: no user, brackets, query, fragment,
#: escape, space or non-ASCII, whose readings are urllib's business
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-/:")


class _PlainSplit:
    __slots__ = ("scheme", "netloc", "path", "hostname", "port")


def _plain_split(url):
    """What ``urllib.parse.urlsplit(url)`` gives of a plain ``http(s)://host[:port][/path]`` or ``unix://...``
    URL (the usual agent URL), without importing ``urllib.parse`` (and the ``re``, ``enum`` and
    ``ipaddress`` it imports) at ``import ddfast``; None for any other URL, which urllib reads."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https", "unix") or not _PLAIN.issuperset(rest):
        return None
    netloc, slash, path = rest.partition("/")
    host, colon, port = netloc.partition(":")
    if colon and not (port.isdigit() and int(port) <= 65535):
        return None  # no port, or a bad one: urllib's reading and message
    parts = _PlainSplit()
    parts.scheme = scheme
    parts.netloc = netloc
    parts.path = slash + path
    parts.hostname = host.lower() or None
    parts.port = int(port) if colon else None
    return parts


class AgentURL:
    """A parsed agent URL: ``scheme``, ``host``, ``port`` and base ``path``, or the unix ``socket_path``."""

    __slots__ = ("url", "scheme", "host", "port", "path", "socket_path")

    def __init__(self, url):
        if not isinstance(url, str):
            raise TypeError("the agent URL must be a str, not %s" % type(url).__name__)
        parts = _plain_split(url)
        if parts is None:
            import urllib.parse

            parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "unix"):
            raise ValueError("the agent URL must be http://, https:// or unix://, got %r" % (url,))
        self.url = url
        self.scheme = scheme
        self.socket_path = None
        self.host = None
        self.port = None
        self.path = ""
        if scheme == "unix":
            self.socket_path = parts.netloc + parts.path
            if not self.socket_path:
                raise ValueError("the agent URL %r names no socket" % (url,))
        else:
            if not parts.hostname:
                raise ValueError("the agent URL %r names no host" % (url,))
            self.host = parts.hostname
            try:
                self.port = parts.port or (443 if scheme == "https" else 80)
            except ValueError as e:
                raise ValueError("the agent URL %r has a bad port: %s" % (url, e)) from None
            self.path = parts.path.rstrip("/")

    def endpoint(self, name):
        """The request path of endpoint ``name`` (``v0.5/traces``)."""
        return "%s/%s" % (self.path, name)

    def __repr__(self):
        return "AgentURL(%r)" % self.url


def agent_url(env, socket_exists=os.path.exists):
    """The trace agent's URL as ddtrace resolves it: ``DD_TRACE_AGENT_URL`` (``http://``, ``https://``
    or ``unix://``); else ``DD_AGENT_HOST``/``DD_TRACE_AGENT_PORT``; else the agent's default unix socket
    when it exists; else ``http://localhost:8126``. A URL the writer could not use is warned about and
    ignored, so that a bad setting never breaks the import."""
    url = (env.get("DD_TRACE_AGENT_URL") or "").strip()
    if url and _usable_agent_url(url, "DD_TRACE_AGENT_URL"):
        return url
    host = (env.get("DD_AGENT_HOST") or env.get("DD_TRACE_AGENT_HOSTNAME") or "").strip()
    port = (env.get("DD_TRACE_AGENT_PORT") or "").strip()
    if port and not port.isdigit():
        log.warning("ddfast: DD_TRACE_AGENT_PORT=%r is not a port number; using 8126", port)
        port = ""
    if not host and not port and socket_exists(DEFAULT_AGENT_SOCKET):
        return "unix://" + DEFAULT_AGENT_SOCKET
    host = host or "localhost"
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = "[%s]" % host
    url = "http://%s:%s" % (host, port or "8126")
    return url if _usable_agent_url(url, "DD_AGENT_HOST/DD_TRACE_AGENT_PORT") else DEFAULT_AGENT_URL


def _usable_agent_url(url, source):
    try:
        AgentURL(url)  # the parser the writer uses: what it accepts is what the settings accept
    except ValueError as e:
        log.warning("ddfast: %s gives no usable agent URL (%s); ignored", source, e)
        return False
    return True


def _api_version(env):
    version = (env.get("DD_TRACE_API_VERSION") or "v0.5").strip().lower()
    if version not in API_VERSIONS:
        log.warning(
            "ddfast: DD_TRACE_API_VERSION=%r is not supported (%s); using v0.5", version, ", ".join(API_VERSIONS)
        )
        version = "v0.5"
    return version


def parse_styles(text, source):
    """A style list (``datadog,tracecontext``…) as ddtrace parses it: lower-cased, ``none`` and unknown
    names dropped (unknown ones with a warning); a repeated style is harmless (it is used once)."""
    styles = []
    for style in text.split(","):
        style = style.strip().lower()
        if style == "b3 single header":  # the former name of "b3", still seen in older configurations
            style = "b3"
        if not style or style == "none":
            continue
        if style not in STYLES:
            log.warning(
                "ddfast: unknown propagation style %r in %s; ignored (known: %s)", style, source, ", ".join(STYLES)
            )
            continue
        styles.append(style)
    return styles


def _styles(env, specific, parsed):
    """The style list from DD_TRACE_PROPAGATION_STYLE_<X>, else DD_TRACE_PROPAGATION_STYLE, else
    OTEL_PROPAGATORS (as ddtrace remaps it), else the default. ``parsed`` (variable -> styles) is shared
    by the two directions, so that a variable both read is parsed, and warned about, once."""
    for name in (specific, "DD_TRACE_PROPAGATION_STYLE"):
        if env.get(name) is not None:
            if name not in parsed:
                parsed[name] = parse_styles(env[name], name)
            return list(parsed[name])
    otel = env.get("OTEL_PROPAGATORS")
    if otel is not None:
        if "OTEL_PROPAGATORS" not in parsed:
            parsed["OTEL_PROPAGATORS"] = _otel_styles(otel)
        if parsed["OTEL_PROPAGATORS"]:
            return list(parsed["OTEL_PROPAGATORS"])
    return list(DEFAULT_STYLES)


def _otel_styles(text):
    accepted = []
    for style in text.split(","):
        style = style.strip().lower()
        if style in _OTEL_STYLES:
            if style not in accepted:
                accepted.append(style)
        elif style != _OTEL_OWN:
            log.warning("ddfast: OTEL_PROPAGATORS style %r is not supported; ignored", style)
    return parse_styles(",".join(accepted), "OTEL_PROPAGATORS") if accepted else []


def parse_tags(text):
    """``DD_TAGS`` as ddtrace parses it: ``k:v`` pairs split at commas (or, with none, whitespace); a
    pair without ``:`` is a key with an empty value; empty keys are dropped."""
    tags = {}
    if not text:
        return tags
    for item in text.split("," if "," in text else None):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(":")
        key = key.strip()
        if key:
            tags[key] = value.strip()
    return tags


def _span_rules(env):
    text = env.get("DD_SPAN_SAMPLING_RULES", "")
    path = env.get("DD_SPAN_SAMPLING_RULES_FILE", "")
    if text and path:
        log.warning("ddfast: DD_SPAN_SAMPLING_RULES and DD_SPAN_SAMPLING_RULES_FILE are both set; using the first")
    if text or not path:
        return text
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        log.warning("ddfast: cannot read DD_SPAN_SAMPLING_RULES_FILE=%r (%s); using no span sampling rules", path, e)
        return ""


def _status_codes(text):
    codes = set()
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        low, sep, high = item.partition("-")
        try:
            first, last = int(low), int(high if sep else low)
        except ValueError:
            raise ValueError("%r is not a status code or a range like 500-599" % item) from None
        if not 100 <= first <= last <= 599:
            raise ValueError("%r is not within 100-599, low to high" % item)
        codes.update(range(first, last + 1))
    return frozenset(codes)


def parse_statuses(text, default, name):
    """HTTP status codes from ``400-403,405``-style ranges (ddtrace's format), as a frozenset; unset or
    empty means ``default``. A malformed value raises ValueError naming the setting ``name``."""
    try:
        return _status_codes(default if text is None or not text.strip() else text)
    except ValueError as e:
        raise ValueError("%s: %s" % (name, e)) from None


def _env_statuses(env, name, default):
    """The status codes of setting ``name``; ``default`` (a range text, or None: the setting is unset)
    when it is unset or invalid (warned)."""
    text = env.get(name)
    if text is None or not text.strip():
        return None if default is None else _status_codes(default)
    try:
        return _status_codes(text)
    except ValueError as e:
        instead = default or "the server's statuses (DD_TRACE_HTTP_SERVER_ERROR_STATUSES), as ddtrace does"
        log.warning("ddfast: %s=%r is invalid (%s); using %s", name, text, e, instead)
        return None if default is None else _status_codes(default)


def _regexp_error(text):
    """Why ``text`` is not a regular expression ("" when it is)."""
    import re  # a pattern that is set only: not imported by ``import ddfast``

    try:
        re.compile(text)
    except re.error as e:
        return str(e)
    return ""


def _env_regexp(env, name):
    """The obfuscation pattern of the environment: None (ddtrace's default) when unset or invalid."""
    regexp = env.get(name)
    error = None if regexp is None else _regexp_error(regexp)
    if error:
        log.warning("ddfast: %s=%r is not a valid regular expression (%s); using ddtrace's default pattern",
                    name, regexp, error)  # fmt: skip
        return None
    return regexp


def _logs_injection(value):
    """DD_LOGS_INJECTION as ddtrace 4.16 reads it: unset means on; ``true``/``1``/``structured`` on,
    ``false``/``0`` off; anything else is off, with a warning."""
    if value is None or not value.strip():
        return True
    value = value.strip().lower()
    if value in ("true", "1", "structured"):
        return True
    if value not in ("false", "0"):
        log.warning("ddfast: DD_LOGS_INJECTION=%r is not true, structured or false; using false (no injection)", value)
    return False


# -- values assigned in code: checked at once, a string read as the environment variable would be -------


def _type_error(name, value, expected):
    return TypeError("ddfast.config.%s must be %s, not %s" % (name, expected, type(value).__name__))


def _set_bool(name, value):
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError("ddfast.config.%s: %r is not true, false, 1 or 0" % (name, value))
    if isinstance(value, int):  # bool included
        return bool(value)
    raise _type_error(name, value, "a bool")


def _set_logs_injection(name, value):
    if isinstance(value, str) and value.strip().lower() == "structured":
        return True
    return _set_bool(name, value)


def _number(name, value, kind, minimum, maximum):
    if isinstance(value, str):
        try:
            value = kind(value.strip())
        except ValueError:
            raise ValueError("ddfast.config.%s: %r is not a number" % (name, value)) from None
    elif isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise _type_error(name, value, "an int" if kind is int else "a number")
    if not minimum <= value <= maximum:
        raise ValueError("ddfast.config.%s: %r is not within %s-%s" % (name, value, minimum, maximum))
    return kind(value)


def _count(minimum=0):
    return lambda name, value: _number(name, value, int, minimum, MAX_COUNT)


def _seconds(name, value):
    return _number(name, value, float, 0.001, MAX_SECONDS)


def _seconds_or_zero(name, value):
    return _number(name, value, float, 0.0, MAX_SECONDS)


def _str_list(name, value):
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise _type_error(name, value, "a list of str")
    return list(value)


def _set_styles(name, value):
    styles = []
    for style in _str_list(name, value):
        style = style.strip().lower()
        if style == "b3 single header":
            style = "b3"
        if style == "none":
            continue
        if style not in STYLES:
            raise ValueError(
                "ddfast.config.%s: unknown propagation style %r; known: %s" % (name, style, ", ".join(STYLES))
            )
        styles.append(style)
    return styles


def _set_behavior(name, value):
    if not isinstance(value, str):
        raise _type_error(name, value, "a str")
    if value.strip().lower() not in BEHAVIORS:
        raise ValueError("ddfast.config.%s: %r is not one of %s" % (name, value, ", ".join(BEHAVIORS)))
    return value.strip().lower()


def _optional_str(name, value):
    if value is not None and not isinstance(value, str):
        raise _type_error(name, value, "a str or None")
    return value


def _text(name, value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(name, value, "a str (JSON)")
    return value


def _set_tags(name, value):
    if isinstance(value, str):
        return parse_tags(value)
    if not isinstance(value, dict):
        raise _type_error(name, value, "a dict")
    return dict(value)


def _set_header_tags(name, value):
    tags = _set_tags(name, value)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise _type_error(name, value, "a dict of str")
    return {k.strip().lower(): v for k, v in tags.items()}


_STATUS_DEFAULTS = {"http_server_error_statuses": "500-599", "http_client_error_statuses": None}


def _set_statuses(name, value):
    if value is None and _STATUS_DEFAULTS[name] is None:
        return None  # unset: the server statuses, as ddtrace has it
    if isinstance(value, str):
        if _STATUS_DEFAULTS[name] is None and not value.strip():
            return None
        return parse_statuses(value, _STATUS_DEFAULTS[name], "ddfast.config." + name)
    try:
        codes = frozenset(value)
    except TypeError:
        raise _type_error(name, value, "a set of status codes") from None
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int):
            raise _type_error(name, code, "a set of int status codes")
        if not 100 <= code <= 599:
            raise ValueError("ddfast.config.%s: %r is not within 100-599" % (name, code))
    return codes


def _set_client_ip_header(name, value):
    return (_optional_str(name, value) or "").strip().lower() or None


def _set_regexp(name, value):
    error = _optional_str(name, value) is not None and _regexp_error(value)
    if error:
        raise ValueError("ddfast.config.%s: %r is not a valid regular expression (%s)" % (name, value, error))
    return value


def _set_agent_url(name, value):
    try:
        AgentURL(value)
    except (TypeError, ValueError) as e:
        raise type(e)("ddfast.config.%s: %s" % (name, e)) from None
    return value


def _set_api_version(name, value):
    if not isinstance(value, str):
        raise _type_error(name, value, "a str")
    if value.strip().lower() not in API_VERSIONS:
        raise ValueError("ddfast.config.%s: %r is not one of %s" % (name, value, ", ".join(API_VERSIONS)))
    return value.strip().lower()


_CHECKS = {
    "trace_128_bit_traceid_generation_enabled": _set_bool,
    "propagation_style_extract": _set_styles,
    "propagation_style_inject": _set_styles,
    "propagation_extract_first": _set_bool,
    "propagation_behavior_extract": _set_behavior,
    "x_datadog_tags_max_length": _count(),
    "baggage_max_items": _count(),
    "baggage_max_bytes": _count(),
    "baggage_tag_keys": _str_list,
    "propagation_http_baggage_enabled": _set_bool,
    "tracing_enabled": _set_bool,
    "service": _optional_str,
    "env": _optional_str,
    "version": _optional_str,
    "tags": _set_tags,
    "trace_sampling_rules": _text,
    "trace_rate_limit": _count(minimum=-(2**31)),
    "span_sampling_rules": _text,
    "trace_agent_url": _set_agent_url,
    "trace_api_version": _set_api_version,
    "trace_agent_timeout_seconds": _seconds,
    "trace_writer_interval_seconds": _seconds,
    "trace_writer_buffer_size": _count(minimum=1),
    "trace_writer_max_payload_size": _count(minimum=1),
    "writer_retry_seconds": _seconds,
    "shutdown_timeout_seconds": _seconds_or_zero,
    "distributed_tracing": _set_bool,
    "logs_injection": _set_logs_injection,
    "http_server_error_statuses": _set_statuses,
    "http_client_error_statuses": _set_statuses,
    "trace_header_tags": _set_header_tags,
    "client_ip_enabled": _set_bool,
    "client_ip_header": _set_client_ip_header,
    "http_server_tag_query_string": _set_bool,
    "http_client_tag_query_string": _set_bool,
    "obfuscation_query_string_regexp": _set_regexp,
}


class Config:
    """ddfast's settings, with ddtrace 4.16's defaults. Assigning an attribute checks the value (a string
    is read as the environment variable would be) and refuses a bad one with ValueError/TypeError."""

    _fields = (
        "trace_128_bit_traceid_generation_enabled",
        "propagation_style_extract",
        "propagation_style_inject",
        "propagation_extract_first",
        "propagation_behavior_extract",
        "x_datadog_tags_max_length",
        "baggage_max_items",
        "baggage_max_bytes",
        "baggage_tag_keys",
        "propagation_http_baggage_enabled",
        "tracing_enabled",
        "service",
        "env",
        "version",
        "tags",
        "trace_sampling_rules",
        "trace_rate_limit",
        "span_sampling_rules",
        "trace_agent_url",
        "trace_api_version",
        "trace_agent_timeout_seconds",
        "trace_writer_interval_seconds",
        "trace_writer_buffer_size",
        "trace_writer_max_payload_size",
        "writer_retry_seconds",
        "shutdown_timeout_seconds",
        "distributed_tracing",
        "logs_injection",
        "http_server_error_statuses",
        "http_client_error_statuses",
        "trace_header_tags",
        "client_ip_enabled",
        "client_ip_header",
        "http_server_tag_query_string",
        "http_client_tag_query_string",
        "obfuscation_query_string_regexp",
    )
    __slots__ = _fields + ("_listeners",)

    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        object.__setattr__(self, "_listeners", [])
        #: new traces get 128-bit ids, and _dd.p.tid is joined into extracted trace ids
        self.trace_128_bit_traceid_generation_enabled = _bool(env, "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", True)
        parsed = {}
        #: styles read from incoming headers, in priority order
        self.propagation_style_extract = _styles(env, "DD_TRACE_PROPAGATION_STYLE_EXTRACT", parsed)
        #: styles written into outgoing headers
        self.propagation_style_inject = _styles(env, "DD_TRACE_PROPAGATION_STYLE_INJECT", parsed)
        #: stop at the first style that yields a context (no span links, no tracestate merge)
        self.propagation_extract_first = _bool(env, "DD_TRACE_PROPAGATION_EXTRACT_FIRST", False)
        behavior = (env.get("DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT") or "continue").strip().lower()
        if behavior not in BEHAVIORS:
            log.warning("ddfast: DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT=%r is not one of %s; using continue",
                        behavior, ", ".join(BEHAVIORS))  # fmt: skip
            behavior = "continue"
        #: continue the incoming trace, restart (new trace linked to it) or ignore it
        self.propagation_behavior_extract = behavior
        #: max length of x-datadog-tags on injection; 0 disables the header
        self.x_datadog_tags_max_length = _int(env, "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", 512)
        #: W3C baggage limits (ddtrace's constants; settable as in the other Datadog tracers)
        self.baggage_max_items = _int(env, "DD_TRACE_BAGGAGE_MAX_ITEMS", 64)
        self.baggage_max_bytes = _int(env, "DD_TRACE_BAGGAGE_MAX_BYTES", 8192)
        #: baggage keys copied to the span as ``baggage.<key>`` tags; ``*`` for all
        raw_keys = env.get("DD_TRACE_BAGGAGE_TAG_KEYS", "user.id,account.id,session.id")
        self.baggage_tag_keys = [k.strip() for k in raw_keys.split(",") if k.strip()]
        #: also extract/inject baggage as ``ot-baggage-*`` headers
        self.propagation_http_baggage_enabled = _bool(env, "DD_TRACE_PROPAGATION_HTTP_BAGGAGE_ENABLED", False)
        #: integrations continue the caller's trace and send ours downstream (ddfast's switch for all;
        #: ``DD_<INTEGRATION>_DISTRIBUTED_TRACING`` for one, see ``ddfast.contrib``)
        self.distributed_tracing = _bool(env, "DD_TRACE_DISTRIBUTED_TRACING", True)
        #: response status codes that mark a server / client span as an error; ddtrace has only the server
        #: setting and applies it to client spans too, as ddfast does when the client one (its own) is unset
        self.http_server_error_statuses = _env_statuses(env, "DD_TRACE_HTTP_SERVER_ERROR_STATUSES", "500-599")
        self.http_client_error_statuses = _env_statuses(env, "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", None)
        #: HTTP headers recorded as span tags: ``{lower-case header name: tag name, "" for ddtrace's
        #: default http.request.headers.<name> / http.response.headers.<name>}``
        self.trace_header_tags = {
            name.strip().lower(): tag for name, tag in parse_tags(env.get("DD_TRACE_HEADER_TAGS")).items()
        }
        #: server spans carry http.client_ip / network.client.ip (ddfast.contrib.client_ip), read from
        #: DD_TRACE_CLIENT_IP_HEADER alone when set
        self.client_ip_enabled = _bool(env, "DD_TRACE_CLIENT_IP_ENABLED", False)
        self.client_ip_header = (env.get("DD_TRACE_CLIENT_IP_HEADER") or "").strip().lower() or None
        #: query strings kept in http.url (servers / clients), obfuscated (ddfast.contrib.query_string)
        self.http_server_tag_query_string = _bool(env, "DD_HTTP_SERVER_TAG_QUERY_STRING", False)
        self.http_client_tag_query_string = _bool(env, "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING", False)
        #: the obfuscation pattern (None: ddtrace's default; "": none)
        self.obfuscation_query_string_regexp = _env_regexp(env, "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP")
        #: log records carry the active trace's ids once ``ddfast.patch(logging=True)`` ran
        #: (``ddfast.contrib.logging``); ddtrace's values: true, structured, false
        self.logs_injection = _logs_injection(env.get("DD_LOGS_INJECTION"))
        #: false makes the tracer a cheap no-op (spans are made but never sampled nor written)
        self.tracing_enabled = _bool(env, "DD_TRACE_ENABLED", True)
        #: tags of every span (``DD_TAGS``: ``k:v`` pairs separated by commas or spaces)
        tags = parse_tags(env.get("DD_TAGS"))
        #: the default service, env and version (``DD_SERVICE``/``DD_ENV``/``DD_VERSION``, else DD_TAGS')
        self.service = env.get("DD_SERVICE") or tags.get("service")
        self.env = env.get("DD_ENV") or tags.get("env")
        self.version = env.get("DD_VERSION") or tags.get("version")
        if self.service:
            tags.pop("service", None)
        self.tags = tags
        #: trace sampling rules, JSON (parsed by the sampler, which warns about bad rules)
        self.trace_sampling_rules = env.get("DD_TRACE_SAMPLING_RULES", "")
        #: traces per second kept by sampling rules (negative: no limit)
        self.trace_rate_limit = _int(env, "DD_TRACE_RATE_LIMIT", 100, minimum=-(2**31))
        #: single-span sampling rules, JSON (DD_SPAN_SAMPLING_RULES, else the content of
        #: DD_SPAN_SAMPLING_RULES_FILE)
        self.span_sampling_rules = _span_rules(env)
        #: where finished traces are sent (see ``agent_url``)
        self.trace_agent_url = agent_url(env)
        #: the agent's trace API: ``v0.5`` (ddtrace's default; falls back to v0.4 when the agent lacks it)
        self.trace_api_version = _api_version(env)
        #: seconds one request to the agent may take in all: connect, send, and the whole answer (a stalled
        #: or slow agent costs one attempt, then the payload is retried)
        self.trace_agent_timeout_seconds = _float(env, "DD_TRACE_AGENT_TIMEOUT_SECONDS", 2.0, minimum=0.001)
        #: seconds between two sends of the buffered traces
        self.trace_writer_interval_seconds = _float(env, "DD_TRACE_WRITER_INTERVAL_SECONDS", 1.0, minimum=0.001)
        #: bytes of encoded traces waiting to be sent (beyond the payload being filled); more are dropped
        self.trace_writer_buffer_size = _int(env, "DD_TRACE_WRITER_BUFFER_SIZE_BYTES", 20 << 20, minimum=1)
        #: the largest payload sent in one request (and so the largest single trace)
        self.trace_writer_max_payload_size = _int(env, "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES", 20 << 20, minimum=1)
        #: seconds a payload is retried (agent down, 5xx, 408, 429, timeouts) before its traces are dropped
        self.writer_retry_seconds = _float(env, "DDFAST_WRITER_RETRY_SECONDS", 20.0, minimum=0.001)
        #: seconds given at exit, or on SIGTERM, to send what is buffered
        self.shutdown_timeout_seconds = _float(env, "DDFAST_SHUTDOWN_TIMEOUT_SECONDS", 5.0, minimum=0.0)

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise AttributeError("ddfast.config has no setting %r" % name)
        value = _CHECKS[name](name, value)
        had = hasattr(self, name)
        old = getattr(self, name, None)
        object.__setattr__(self, name, value)
        try:
            for listener in self._listeners:
                listener(self)
        except Exception:
            if had:
                object.__setattr__(self, name, old)
            raise

    def on_change(self, listener):
        """Call ``listener(config)`` now and after every change; it raises to reject a bad value."""
        listener(self)
        self._listeners.append(listener)

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in self._fields)


config = Config()
