"""``ddfast.patch(requests=True, httpx=True, …)``: trace the named libraries' HTTP calls (client
spans, trace context injected) and servers, in one call. A library that is not installed is skipped
with a warning naming it; an unknown name is a ``TypeError``.
"""

import functools
import importlib
import logging
import os
import re
import sys

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
    # RPC, task queues, message brokers
    "kafka": "ddfast.contrib.kafka",
    "aiokafka": "ddfast.contrib.aiokafka",
    "celery": "ddfast.contrib.celery",
    "grpc": "ddfast.contrib.grpc",
    "botocore": "ddfast.contrib.botocore",
}


#: integration name -> the module it patches, where they differ (ddtrace's names: ``kafka`` patches
#: ``confluent_kafka``)
MODULES = {"kafka": "confluent_kafka"}


def module_of(name):
    """The module whose import the integration ``name`` patches."""
    return MODULES.get(name, name)


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
            importlib.import_module(module_of(name))
        except ImportError:
            log.warning("ddfast.patch(): %s is not installed; not patched", name)
            continue
        if importlib.import_module(PATCHABLE[name]).patch(tracer=tracer):
            patched.append(name)
    return patched


class _PatchOnImport:
    """A ``sys.meta_path`` finder that runs a library's patch right after the library is first imported,
    so that ``ddfast-run`` imports nothing the program does not (no import cost, no library imported
    before gevent's monkey-patching, no framework set up before its settings are)."""

    def __init__(self, pending, tracer):
        self.pending = pending  # module name -> (integration name, contrib module name)
        self.tracer = tracer

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.pending:
            return None
        spec = _find_spec_elsewhere(self, fullname, path, target)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, functools.partial(self._patch, fullname))
        return spec

    def _patch(self, module):
        entry = self.pending.pop(module, None)
        if not self.pending and self in sys.meta_path:
            sys.meta_path.remove(self)
        if entry is not None:
            _patch_quietly(entry[0], entry[1], self.tracer)


class _PatchingLoader:
    """A module's own loader, then the patch once the module has run."""

    def __init__(self, loader, after):
        self._loader = loader
        self._after = after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._after()

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _find_spec_elsewhere(finder, fullname, path, target):
    for other in sys.meta_path:
        if other is finder or not hasattr(other, "find_spec"):
            continue
        spec = other.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def _patch_quietly(name, contrib, tracer):
    try:
        importlib.import_module(contrib).patch(tracer=tracer)
    except Exception as exc:  # a patch never breaks the program's own import
        log.warning("ddfast: %s could not be patched (%s: %s); it is not traced", name, type(exc).__name__, exc)


def patch_on_import(tracer=None, **libraries):
    """Patch each library given as ``name=True`` when the program imports it (now, if it already
    has); what ``ddfast-run`` does for every supported library that is installed."""
    unknown = sorted(set(libraries) - set(PATCHABLE))
    if unknown:
        raise TypeError("ddfast.patch() cannot patch %s; it patches %s" % (", ".join(unknown), ", ".join(PATCHABLE)))
    pending = {}
    for name, wanted in libraries.items():
        if not wanted:
            continue
        module = module_of(name)
        if module in sys.modules:
            _patch_quietly(name, PATCHABLE[name], tracer)
        else:
            pending[module] = (name, PATCHABLE[name])
    if pending:
        sys.meta_path.insert(0, _PatchOnImport(pending, tracer))
