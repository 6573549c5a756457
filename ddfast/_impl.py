"""The one place that knows there are two implementations of each core module.

``load(name)`` returns the compiled ``ddfast._ext.<name>`` when it is importable and not disabled,
else the pure-Python twin ``ddfast._pure.<name>``. ``DDFAST_NO_EXTENSIONS=1`` (read once, at import)
forces the pure twins even where the extensions are installed.
"""

import importlib
import os

NO_EXTENSIONS = os.environ.get("DDFAST_NO_EXTENSIONS", "").strip().lower() in ("1", "true", "yes", "on")

#: module name -> "cython" or "python", for every core module loaded so far
loaded = {}


def load(name):
    """The implementation of core module ``name`` to use in this process."""
    if not NO_EXTENSIONS:
        try:
            module = importlib.import_module("ddfast._ext." + name)
        except ImportError:
            pass
        else:
            loaded[name] = "cython"
            return module
    loaded[name] = "python"
    return importlib.import_module("ddfast._pure." + name)


def implementation():
    """``"cython"`` when every core module in use is compiled, else ``"python"``."""
    return "cython" if loaded and all(kind == "cython" for kind in loaded.values()) else "python"
