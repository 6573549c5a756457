"""``patch()``: every Falcon application, WSGI (``falcon.App``) and ASGI (``falcon.asgi.App``), is traced
by ddfast's WSGI or ASGI middleware without a change to its code: what ``ddfast-run`` uses. As in
ddtrace, spans are ``falcon.request`` with service ``falcon`` (the application's under schema v1), the
resource is the class of the Falcon resource that served the request (``GET app.views.User``; the URI
template, ``GET /users/{id:int}``, with ``DDFAST_HTTP_ROUTE_RESOURCES=true``), ``GET 404`` when none
matched; ``http.route`` is the URI template, after the root path."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_apps = (AppPatch("falcon", "App", "falcon"), AppPatch("falcon.asgi", "App", "falcon", is_asgi=True))


def _noting_route(get_responder):
    route_resources = _http.route_resources()

    def traced_get_responder(self, req):
        found = get_responder(self, req)
        resource, template = found[2], found[3]
        carrier = getattr(req, "scope", None)  # the ASGI request's scope, or the WSGI environ
        carrier = carrier if carrier is not None else req.env
        if resource is not None and template:
            carrier[_http.ROUTE_KEY] = (req.root_path or "") + template
            if not route_resources:  # ddtrace's: the resource's class
                kind = type(resource)
                carrier[_http.RESOURCE_KEY] = "%s %s.%s" % (req.method, kind.__module__, kind.__name__)
        else:
            carrier[_http.ROUTE_KEY] = None
        return found

    return traced_get_responder


def patch(tracer=None, service=None):
    """Trace every ``falcon.App`` and ``falcon.asgi.App``; False when already patched."""
    if not any([app.patch(tracer, service) for app in _apps]):
        return False
    _patch.wrap(_apps[0].owner, "_get_responder", _noting_route)
    return True


def unpatch():
    if _apps[0].patched:
        _patch.unwrap(_apps[0].owner, "_get_responder")
    for app in _apps:
        app.unpatch()
