"""ddfast's settings: the ``DD_*`` environment variables ddtrace reads, read once at import.

``config`` holds them. Code may override an attribute at start-up (``ddfast.config.x = ...``): the
modules that depend on it are told at once and rebuild their snapshot, so nothing on the request path
reads the environment or re-validates a setting. Parsing follows ddtrace 4.16: booleans are true for
``true``/``1`` (any case); a bad value gives one warning and the default, never an error at import.
"""

import logging
import os

from ddfast.agent import AgentURL

log = logging.getLogger("ddfast")

STYLES = ("datadog", "tracecontext", "b3multi", "b3", "baggage")
DEFAULT_STYLES = ("datadog", "tracecontext", "baggage")
BEHAVIORS = ("continue", "restart", "ignore")
# OTEL_PROPAGATORS values ddtrace maps to its own styles (others are ignored with a warning)
_OTEL_STYLES = ("b3", "b3multi", "datadog", "tracecontext", "none")


def asbool(value, default):
    """ddtrace's boolean parsing: ``true``/``1`` (any case) is true; unset gives ``default``."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


def _int(env, name, default, minimum=0):
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
    return value


def _float(env, name, default, minimum=0.0):
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        log.warning("ddfast: %s=%r is not a number; using %s", name, raw, default)
        return default
    if not value >= minimum:  # also NaN
        log.warning("ddfast: %s=%r is below %s; using %s", name, raw, minimum, default)
        return default
    return value


#: where the agent listens when nothing is configured and its socket exists (as ddtrace looks for it)
DEFAULT_AGENT_SOCKET = "/var/run/datadog/apm.socket"
DEFAULT_AGENT_URL = "http://localhost:8126"
API_VERSIONS = ("v0.4", "v0.5")


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
        AgentURL(url)  # the writer's own parser: what it accepts is what the settings accept
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
            log.warning("ddfast: unknown propagation style %r in %s; known: %s", style, source, ", ".join(STYLES))
            continue
        styles.append(style)
    return styles


def _styles(env, specific):
    """The style list from DD_TRACE_PROPAGATION_STYLE_<X>, else DD_TRACE_PROPAGATION_STYLE, else
    OTEL_PROPAGATORS (as ddtrace remaps it), else the default."""
    for name in (specific, "DD_TRACE_PROPAGATION_STYLE"):
        if env.get(name) is not None:
            return parse_styles(env[name], name)
    otel = env.get("OTEL_PROPAGATORS")
    if otel is not None:
        accepted = []
        for style in otel.split(","):
            style = style.strip().lower()
            if style in _OTEL_STYLES:
                if style not in accepted:
                    accepted.append(style)
            else:
                log.warning("ddfast: OTEL_PROPAGATORS style %r is not supported; ignored", style)
        if accepted:
            return parse_styles(",".join(accepted), "OTEL_PROPAGATORS")
    return list(DEFAULT_STYLES)


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
        log.warning("ddfast: cannot read DD_SPAN_SAMPLING_RULES_FILE=%r (%s); no span sampling rules", path, e)
        return ""


def parse_statuses(text, default, name):
    """HTTP status codes from ``400-403,405``-style ranges (ddtrace's format), as a frozenset; unset or
    empty means ``default``. A malformed value is refused at startup, naming the setting."""
    text = default if text is None or not text.strip() else text
    codes = set()
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        low, sep, high = item.partition("-")
        try:
            first, last = int(low), int(high if sep else low)
        except ValueError:
            raise ValueError("%s: %r is not a status code or a range like 500-599" % (name, item)) from None
        if not 100 <= first <= last <= 599:
            raise ValueError("%s: %r is not within 100-599, low to high" % (name, item))
        codes.update(range(first, last + 1))
    return frozenset(codes)


def _logs_injection(value):
    """DD_LOGS_INJECTION as ddtrace 4.16 reads it: unset means on; ``true``/``1``/``structured`` on,
    ``false``/``0`` off; anything else is off, with a warning."""
    if value is None or not value.strip():
        return True
    value = value.strip().lower()
    if value in ("true", "1", "structured"):
        return True
    if value not in ("false", "0"):
        log.warning("ddfast: DD_LOGS_INJECTION=%r is not true, structured or false; logs injection is off", value)
    return False


class Config:
    """ddfast's settings, with ddtrace 4.16's defaults. Assigning an attribute re-validates it."""

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
        self.trace_128_bit_traceid_generation_enabled = asbool(
            env.get("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED"), True
        )
        #: styles read from incoming headers, in priority order
        self.propagation_style_extract = _styles(env, "DD_TRACE_PROPAGATION_STYLE_EXTRACT")
        #: styles written into outgoing headers
        self.propagation_style_inject = _styles(env, "DD_TRACE_PROPAGATION_STYLE_INJECT")
        #: stop at the first style that yields a context (no span links, no tracestate merge)
        self.propagation_extract_first = asbool(env.get("DD_TRACE_PROPAGATION_EXTRACT_FIRST"), False)
        behavior = env.get("DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT", "continue").strip().lower()
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
        self.propagation_http_baggage_enabled = asbool(env.get("DD_TRACE_PROPAGATION_HTTP_BAGGAGE_ENABLED"), False)
        #: integrations continue the caller's trace and send ours downstream (ddfast's switch for all;
        #: ``DD_<INTEGRATION>_DISTRIBUTED_TRACING`` for one, see ``ddfast.contrib``)
        self.distributed_tracing = asbool(env.get("DD_TRACE_DISTRIBUTED_TRACING"), True)
        #: response status codes that mark a server / client span as an error; ddtrace has only the server
        #: setting and applies it to client spans too, as ddfast does when the client one (its own) is unset
        self.http_server_error_statuses = parse_statuses(
            env.get("DD_TRACE_HTTP_SERVER_ERROR_STATUSES"), "500-599", "DD_TRACE_HTTP_SERVER_ERROR_STATUSES"
        )
        client = env.get("DD_TRACE_HTTP_CLIENT_ERROR_STATUSES")
        self.http_client_error_statuses = (
            None if client is None or not client.strip()
            else parse_statuses(client, "", "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES")
        )  # fmt: skip
        #: HTTP headers recorded as span tags: ``{lower-case header name: tag name, "" for ddtrace's
        #: default http.request.headers.<name> / http.response.headers.<name>}``
        self.trace_header_tags = {
            name.strip().lower(): tag for name, tag in parse_tags(env.get("DD_TRACE_HEADER_TAGS")).items()
        }
        #: server spans carry http.client_ip / network.client.ip (ddfast.contrib.client_ip), read from
        #: DD_TRACE_CLIENT_IP_HEADER alone when set
        self.client_ip_enabled = asbool(env.get("DD_TRACE_CLIENT_IP_ENABLED"), False)
        self.client_ip_header = (env.get("DD_TRACE_CLIENT_IP_HEADER") or "").strip().lower() or None
        #: query strings kept in http.url (servers / clients), obfuscated (ddfast.contrib.query_string)
        self.http_server_tag_query_string = asbool(env.get("DD_HTTP_SERVER_TAG_QUERY_STRING"), False)
        self.http_client_tag_query_string = asbool(env.get("DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING"), False)
        regexp = env.get("DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP")
        if regexp is not None:
            from ddfast.contrib.query_string import compile_pattern

            compile_pattern(regexp)  # refused now, naming the setting, if it is not a regular expression
        #: the obfuscation pattern (None: ddtrace's default; "": none)
        self.obfuscation_query_string_regexp = regexp
        #: log records carry the active trace's ids once ``ddfast.patch(logging=True)`` ran
        #: (``ddfast.contrib.logging``); ddtrace's values: true, structured, false
        self.logs_injection = _logs_injection(env.get("DD_LOGS_INJECTION"))
        #: false makes the tracer a cheap no-op (spans are made but never sampled nor written)
        self.tracing_enabled = asbool(env.get("DD_TRACE_ENABLED"), True)
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
        #: seconds before a request to the agent is given up (then retried)
        self.trace_agent_timeout_seconds = _float(env, "DD_TRACE_AGENT_TIMEOUT_SECONDS", 2.0, minimum=0.001)
        #: seconds between two sends of the buffered traces
        self.trace_writer_interval_seconds = _float(env, "DD_TRACE_WRITER_INTERVAL_SECONDS", 1.0, minimum=0.001)
        #: bytes of encoded traces waiting to be sent (beyond the payload being filled); more are dropped
        self.trace_writer_buffer_size = _int(env, "DD_TRACE_WRITER_BUFFER_SIZE_BYTES", 20 << 20, minimum=1)
        #: the largest payload sent in one request (and so the largest single trace)
        self.trace_writer_max_payload_size = _int(env, "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES", 20 << 20, minimum=1)

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise AttributeError("ddfast.config has no setting %r" % name)
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
