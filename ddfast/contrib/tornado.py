"""``patch()``: every request a Tornado application serves gets a ``tornado.request`` server span (service
``tornado-web`` unless ``DD_SERVICE``), a child of the caller's trace, active while the handler runs,
tagged with the response status (a handler's uncaught exception is a 500, an error, recorded on the
span). ``DD_TORNADO_DISTRIBUTED_TRACING``. Not patched by ``ddfast-run`` unless
``DD_TRACE_TORNADO_ENABLED=true``, as with ddtrace-run.

As in ddtrace, the resource is the handler's class (``app.handlers.UserHandler``; ``tornado.web.ErrorHandler``
for a 404) and ``http.route`` the matched URL spec as Tornado reverses it (``/users/%s``: its pattern's
groups become ``%s``), ``^$`` when none matched. ``DDFAST_HTTP_ROUTE_RESOURCES=true`` names spans after the
route instead (``GET /users/%s``, ``GET 404``).
"""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib.integration import Integration

#: where the matched URL spec's route is left on the request (HTTPServerRequest) for the span
_ROUTE_ATTR = "_ddfast_route"
#: where the server span is left on the handler, for its log_exception
_SPAN_ATTR = "_ddfast_span"
#: http.route when no URL spec matched (ddtrace's)
NO_ROUTE = "^$"


#: what opens a group that captures nothing (kept in the route as it is)
_NOT_CAPTURING = ("?:", "?=", "?!", "?<=", "?<!", "?>", "?(", "?P=")


def route_of_pattern(pattern):
    """The route of a URL spec's regular expression, as ddtrace writes it when Tornado cannot reverse it:
    without the anchors, each capturing group ``%s``, non-capturing groups and lookarounds kept, inline
    comments dropped."""
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$"):
        pattern = pattern[:-1]
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(pattern[i:j])
            i = j
        elif c == "(":
            depth, j = 1, i + 1
            while j < n and depth:
                if pattern[j] == "\\":
                    j += 1
                elif pattern[j] == "(":
                    depth += 1
                elif pattern[j] == ")":
                    depth -= 1
                j += 1
            inner = pattern[i + 1 : j]
            if inner.startswith("?#"):
                pass
            elif inner.startswith(_NOT_CAPTURING):
                out.append(pattern[i:j])
            else:
                out.append("%s")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _noting_route(match):
    def traced_match(self, request):
        found = match(self, request)
        if found is not None:
            route = self.__dict__.get(_ROUTE_ATTR)
            if route is None:
                path = getattr(self, "_path", None)
                route = self.__dict__[_ROUTE_ATTR] = path if path is not None else route_of_pattern(self.regex.pattern)
            setattr(request, _ROUTE_ATTR, route)
        return found

    return traced_match


def _recording_exception(log_exception):
    """``RequestHandler.log_exception``, which Tornado calls with a handler's uncaught exception: recorded on
    the request's span (an ``HTTPError`` only when its status is an error status), as ddtrace does."""
    from tornado.web import HTTPError

    def traced_log_exception(self, typ, value, tb):
        span = self.__dict__.get(_SPAN_ATTR)
        if span is not None and value is not None:
            if not isinstance(value, HTTPError) or value.status_code in _http.error_statuses["server"]:
                span.set_exc_info(typ, value, tb)
        return log_exception(self, typ, value, tb)

    return traced_log_exception


def patch(tracer=None, service=None, distributed_tracing=None):
    """Trace ``tornado.web.RequestHandler._execute`` (every handler, every application)."""
    from tornado import routing
    from tornado import web

    _patch.wrap(routing.PathMatches, "match", _noting_route)
    _patch.wrap(web.RequestHandler, "log_exception", _recording_exception)

    integ = Integration("tornado", tracer, service, distributed_tracing)
    http, names = integ.http, integ.http_names
    route_resources = _http.route_resources()

    def make(execute):
        async def traced_execute(self, *args, **kwargs):
            if not http.enabled:
                return await execute(self, *args, **kwargs)
            request = self.request
            headers = request.headers
            span = http.server_start(
                names, headers, request.method, request.full_url(), request.path, headers.get("User-Agent"),
                request.remote_ip,
            )  # fmt: skip
            self.__dict__[_SPAN_ATTR] = span
            try:
                return await execute(self, *args, **kwargs)
            except BaseException as e:
                span.set_exc_info(type(e), e, e.__traceback__)
                raise
            finally:
                http.status(span, self.get_status(), getattr(self, "_headers", None))
                route = getattr(request, _ROUTE_ATTR, None)
                if route_resources:
                    http.route(span, request.method, route)
                else:
                    kind = type(self)
                    http.route(span, request.method, route or NO_ROUTE, "%s.%s" % (kind.__module__, kind.__name__))
                span.finish()

        return traced_execute

    return _patch.wrap(web.RequestHandler, "_execute", make)


def unpatch():
    from tornado import routing
    from tornado import web

    _patch.unwrap(web.RequestHandler, "_execute")
    _patch.unwrap(web.RequestHandler, "log_exception")
    _patch.unwrap(routing.PathMatches, "match")
