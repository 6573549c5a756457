"""``ddfast.patch(requests=True, httpx=True, …)``: trace the named libraries' HTTP calls (client
spans, trace context injected) and servers, in one call. A library that is not installed is skipped
with a warning naming it; an unknown name is a ``TypeError``.
"""

import importlib
import logging
import os
import re

from ddfast.settings import asbool

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
    "fastapi": "ddfast.contrib.fastapi",
    "django": "ddfast.contrib.django",
    "falcon": "ddfast.contrib.falcon",
    "pyramid": "ddfast.contrib.pyramid",
    "bottle": "ddfast.contrib.bottle",
}


#: the libraries ddtrace-run leaves alone unless enabled (ddtrace's defaults)
OFF_BY_DEFAULT = frozenset(["urllib3", "tornado"])


def enabled_by_default(environ=None):
    """The libraries ``ddfast-run`` patches, as ddtrace-run chooses them: all but ``OFF_BY_DEFAULT``;
    ``DD_TRACE_<LIBRARY>_ENABLED=true|false`` turns one on or off, and ``DD_PATCH_MODULES``
    (``urllib3:true,flask:false``) overrides both."""
    env = os.environ if environ is None else environ
    chosen = {name: name not in OFF_BY_DEFAULT for name in PATCHABLE}
    for name in PATCHABLE:
        value = env.get("DD_TRACE_%s_ENABLED" % name.upper())
        if value is not None and value.strip():
            chosen[name] = asbool(value, chosen[name])
    for item in re.split(r"[\s,]+", env.get("DD_PATCH_MODULES", "")):
        name, sep, value = item.partition(":")
        if sep and name.strip() in chosen:
            chosen[name.strip()] = asbool(value, chosen[name.strip()])
    return [name for name, on in chosen.items() if on]


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
