"""``ddfast.patch(requests=True, httpx=True, …)``: trace the named libraries' HTTP calls (client
spans, trace context injected) and servers, in one call. A library that is not installed is skipped
with a warning naming it; an unknown name is a ``TypeError``.
"""

import importlib
import logging

log = logging.getLogger("ddfast.patching")

#: library -> the ddfast.contrib module whose patch() traces it
PATCHABLE = {
    "requests": "ddfast.contrib.requests",
    "httpx": "ddfast.contrib.httpx",
    "urllib3": "ddfast.contrib.urllib3",
    "aiohttp": "ddfast.contrib.aiohttp",
    "tornado": "ddfast.contrib.tornado",
    "logging": "ddfast.contrib.logging",
    "flask": "ddfast.contrib.flask",
    "starlette": "ddfast.contrib.starlette",
    "django": "ddfast.contrib.django",
    "falcon": "ddfast.contrib.falcon",
    "pyramid": "ddfast.contrib.pyramid",
    "bottle": "ddfast.contrib.bottle",
}


def patch(tracer=None, **libraries):
    """Patch each library given as ``name=True``; returns the names patched now."""
    unknown = sorted(set(libraries) - set(PATCHABLE))
    if unknown:
        raise TypeError("ddfast.patch() cannot patch %s; it patches %s" % (", ".join(unknown), ", ".join(PATCHABLE)))
    patched = []
    for name, wanted in libraries.items():
        if not wanted:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            log.warning("ddfast.patch(): %s is not installed; not patched", name)
            continue
        if importlib.import_module(PATCHABLE[name]).patch(tracer=tracer):
            patched.append(name)
    return patched
