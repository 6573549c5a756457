"""Run at interpreter start when ``ddfast-run`` put this folder first on ``PYTHONPATH``: every
supported library that is installed and that ddtrace-run would patch is patched when the program imports
it (HTTP clients, the web frameworks, logging; urllib3 and Tornado only when enabled:
``ddfast.patching.enabled_by_default``), then the ``sitecustomize`` this one hides, if any, runs too."""

import importlib
import importlib.util
import os
import sys


def _patch_installed():
    from ddfast.patching import enabled_by_default
    from ddfast.patching import module_of
    from ddfast.patching import patch_on_import

    # each library is patched when the program imports it, so nothing is imported here that the program
    # would not import (or would import later, after gevent's monkey-patching); an integration's name is
    # not always its module's (kafka: confluent_kafka)
    installed = [name for name in enabled_by_default() if importlib.util.find_spec(module_of(name)) is not None]
    patch_on_import(**{name: True for name in installed})


def _chain():
    """Import the next ``sitecustomize`` on the path (the one this module hides), if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules.pop("sitecustomize")
    saved = sys.path[:]
    sys.path[:] = [entry for entry in saved if os.path.abspath(entry or ".") != here]
    try:
        importlib.import_module("sitecustomize")
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        sys.modules.setdefault("sitecustomize", me)


try:
    _patch_installed()
except Exception as exc:  # never stop the user's program from starting
    sys.stderr.write("ddfast-run: tracing not set up: %s: %s\n" % (type(exc).__name__, exc))
_chain()
