"""``patch()``: every Falcon application, WSGI (``falcon.App``) and ASGI (``falcon.asgi.App``), is traced
by ddfast's WSGI or ASGI middleware without a change to its code: what ``ddfast-run`` uses. The resource
is the matched URI template (``GET /users/{id:int}``, tagged ``http.route``, after the root path),
``GET 404`` when no resource matched."""

from ddfast.contrib import _http
from ddfast.contrib import _patch
from ddfast.contrib._framework import AppPatch

_patches = []


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
    import falcon
    import falcon.asgi

    if not _patches:
        _patches.extend([AppPatch(falcon.App), AppPatch(falcon.asgi.App, is_asgi=True)])
    patched = [p.patch(tracer, service) for p in _patches]
    if not any(patched):
        return False
    _patch.wrap(falcon.App, "_get_responder", _noting_route)
    return True


def unpatch():
    if _patches:
        import falcon

        for p in _patches:
            p.unpatch()
        _patch.unwrap(falcon.App, "_get_responder")
