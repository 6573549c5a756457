"""The one place that knows there are two implementations of each core module.

``load(name)`` returns the compiled ``ddfast._ext.<name>`` or the pure-Python twin
``ddfast._pure.<name>``, and the choice is made once, for every core module together: the compiled
modules call each other directly, so a process runs all of them compiled or none.

- ``DDFAST_NO_EXTENSIONS=1`` (read once, at import) picks the pure twins on purpose.
- A package without its compiled core (installed where no compiler worked, whose install only says so
  in pip's verbose output; or a source checkout that shadows the installed package) runs pure and warns
  once (``pure_reason``), unless ``DDFAST_NO_EXTENSIONS`` asks for pure Python.
- If the compiled core is installed but one of its modules cannot be imported (a wheel for another
  CPython, a missing symbol, a damaged file), every module falls back to its twin and ddfast warns
  once, naming the module and the error (``fallback_reason``; ``python -m ddfast`` shows it too).
"""

import importlib
import importlib.machinery
import os
import sys
import warnings

NO_EXTENSIONS = os.environ.get("DDFAST_NO_EXTENSIONS", "").strip().lower() in ("1", "true", "yes", "on")

#: every core module, in the order the compiled ones import each other
CORE_MODULES = ("ids", "context", "propagation", "span", "sampling", "encoding")

#: module name -> "cython" or "python", for every core module loaded so far
loaded = {}

#: why the compiled core is not in use although it is installed ("" when it is, or not installed)
fallback_reason = ""

#: why there is no compiled core to use ("" when there is one, or pure Python was asked for)
pure_reason = ""

_chosen = None  # "ddfast._ext" or "ddfast._pure", decided at the first load()


class CompiledCoreUnavailable(RuntimeWarning):
    """The compiled core is missing or cannot be used here; ddfast runs on its pure twins."""


def shadowed_install():
    """Another ddfast package on the path than the one imported (the installed one, when a source tree
    found first shadows it, such as the checkout in the current directory), or None."""
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    for entry in sys.path:
        candidate = os.path.join(entry or os.getcwd(), "ddfast")
        if os.path.isfile(os.path.join(candidate, "__init__.py")) and os.path.realpath(candidate) != here:
            return candidate
    return None


def _why_pure():
    here = os.path.dirname(os.path.abspath(__file__))
    shadowed = shadowed_install()
    if shadowed is not None:
        return "ddfast was imported from %s, which shadows the installed package at %s" % (here, shadowed)
    return "ddfast at %s was installed without it (no working C compiler at install time?)" % here


def _installed(name):
    """True when compiled module ``name`` is installed (a pure install has none): looked for where
    ``ddfast._ext``'s modules are, by the path finder itself (``importlib.util.find_spec`` would import
    ``contextlib``, ``functools`` and ``collections`` for it)."""
    try:
        import ddfast._ext

        spec = importlib.machinery.PathFinder.find_spec("ddfast._ext." + name, ddfast._ext.__path__)
    except ImportError:
        return False
    return spec is not None


def _choose():
    """The package of the core modules to use: all compiled when each imports, else all pure."""
    global fallback_reason, pure_reason
    if NO_EXTENSIONS:
        return "ddfast._pure"
    if not any(_installed(name) for name in CORE_MODULES):
        pure_reason = _why_pure()
        warnings.warn(
            "ddfast's compiled core is missing: %s. Every core module runs in pure Python, several times slower; "
            "set DDFAST_NO_EXTENSIONS=1 to run in pure Python on purpose" % pure_reason,
            CompiledCoreUnavailable,
            stacklevel=3,
        )
        return "ddfast._pure"
    for name in CORE_MODULES:
        try:
            importlib.import_module("ddfast._ext." + name)
        except Exception as exc:  # missing, ImportError, or an error raised while the module initialises
            fallback_reason = "ddfast._ext.%s: %s: %s" % (name, type(exc).__name__, exc)
            warnings.warn(
                "ddfast's compiled core cannot be used (%s); every core module runs in pure Python" % fallback_reason,
                CompiledCoreUnavailable,
                stacklevel=3,
            )
            return "ddfast._pure"
    return "ddfast._ext"


def load(name):
    """The implementation of core module ``name`` to use in this process."""
    global _chosen
    if _chosen is None:
        _chosen = _choose()
    loaded[name] = "cython" if _chosen == "ddfast._ext" else "python"
    return importlib.import_module("%s.%s" % (_chosen, name))


def implementation():
    """``"cython"`` when the core modules in use are compiled, else ``"python"``."""
    return "cython" if loaded and all(kind == "cython" for kind in loaded.values()) else "python"
