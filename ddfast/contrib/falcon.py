"""``patch()``: every Falcon application, WSGI (``falcon.App``) and ASGI (``falcon.asgi.App``), is traced
by ddfast's WSGI or ASGI middleware without a change to its code: what ``ddfast-run`` uses. The resource
is the matched URI template (``GET /users/{id:int}``, tagged ``http.route``, after the root path),
``GET 404`` when no resource matched."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_apps = (AppPatch("falcon", "App"), AppPatch("falcon.asgi", "App", is_asgi=True))


def _noting_route(get_responder):
    def traced_get_responder(self, req):
        found = get_responder(self, req)
        resource, template = found[2], found[3]
        route = (req.root_path or "") + template if resource is not None and template else None
        carrier = getattr(req, "scope", None)  # the ASGI request's scope, or the WSGI environ
        (carrier if carrier is not None else req.env)[_http.ROUTE_KEY] = route
        return found

    return traced_get_responder


def patch(tracer=None, service=None):
    """Trace every ``falcon.App`` and ``falcon.asgi.App``; False when already patched."""
    if not any([app.patch(tracer, service) for app in _apps]):
        return False
    _patch.wrap(_apps[0].owner, "_get_responder", _noting_route)
    return True


def unpatch():
    if _apps[0].original is not None:
        _patch.unwrap(_apps[0].owner, "_get_responder")
    for app in _apps:
        app.unpatch()
