"""Query strings in ``http.url``: left out unless asked for, and then obfuscated as ddtrace does.

``DD_HTTP_SERVER_TAG_QUERY_STRING=true`` (servers) and ``DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING=true``
(clients) keep the query string in ``http.url``, with what ``DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP``
matches (by default ddtrace's pattern: passwords, keys, tokens, signatures, bearer and JWT values,
private keys...) replaced by ``<redacted>``; an empty pattern keeps the query string as sent. ddtrace
keeps obfuscated query strings by default; ddfast leaves them out unless asked, since a URL's query is
where secrets and personal data most often travel.
"""

import re

#: ddtrace's default obfuscation pattern (the Datadog tracers share it)
DEFAULT_PATTERN = (
    r'(?i)(?:(?:"|%22)?)(?:(?:old[-_]?|new[-_]?)?p(?:ass)?w(?:or)?d(?:1|2)?|pass(?:[-_]?phrase)?|secret'
    r"|(?:api[-_]?|private[-_]?|public[-_]?|access[-_]?|secret[-_]?|app(?:lication)?[-_]?)key(?:[-_]?id)?"
    r"|token|consumer[-_]?(?:id|key|secret)|sign(?:ed|ature)?|auth(?:entication|orization)?)"
    r'(?:(?:\s|%20)*(?:=|%3D)[^&]+|(?:"|%22)(?:\s|%20)*(?::|%3A)(?:\s|%20)*(?:"|%22)(?:%2[^2]|%[^2]|[^"%])+'
    r'(?:"|%22))|(?:bearer(?:\s|%20)+[a-z0-9._\-]+|token(?::|%3A)[a-z0-9]{13}|gh[opsu]_[0-9a-zA-Z]{36}'
    r"|(^|[^\w%-]|%[0-9a-f]{2})ey[I-L][\w-]+(?:=|%3D)*\.ey[I-L][\w-]+(?:=|%3D)*(?:\.(?:[\w.+/=-]|%3D|%2F|%2B)+)?"
    r"|-{5}BEGIN(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY-{5}[^\-]+-{5}END(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY"
    r"(?:-{5})?(?:\n|%0A)?|(?:ssh-(?:rsa|dss)|ecdsa-[a-z0-9]+-[a-z0-9]+)(?:\s|%20|%09)+(?:[a-z0-9/.+]"
    r"|%2F|%5C|%2B){100,}(?:=|%3D)*(?:(?:\s|%20|%09)+[a-z0-9._-]+)?)"
)


def compile_pattern(text, setting="DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP"):
    """The obfuscation pattern ``text`` compiled (None for "": no obfuscation); ValueError naming
    ``setting`` when it is not a regular expression."""
    if text == "":
        return None
    try:
        return re.compile(text)
    except re.error as e:
        raise ValueError("%s is not a valid regular expression (%s): %r" % (setting, e, text)) from None


def _redacted(match):
    return (match.group(1) or "") + "<redacted>"


class Obfuscator:
    """``url(url)``: a URL with its query string obfuscated by ``pattern`` (None: kept as sent)."""

    def __init__(self, pattern):
        self.pattern = pattern
        # ddtrace keeps the character before a JWT its default pattern matched
        self._replacement = _redacted if pattern is not None and pattern.pattern == DEFAULT_PATTERN else "<redacted>"

    def query(self, query):
        if self.pattern is None or not query:
            return query
        return self.pattern.sub(self._replacement, query)

    def url(self, url, query=None):
        """``url`` (its own query string, or ``query`` given apart, as WSGI and ASGI give it) with the
        query string obfuscated; the fragment is left out, as no server receives it."""
        base, _, _fragment = url.partition("#")
        base, mark, own = base.partition("?")
        if query is None:
            query = own if mark else ""
        return base + "?" + self.query(query) if query else base
