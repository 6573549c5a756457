"""Build ddfast's compiled core: one extension per module of ``src/``, placed in ``ddfast._ext``.

The extensions are optional. Without a C compiler or Python headers the install still succeeds and
ddfast runs on its pure-Python twins; the build says so once on stderr. ``DDFAST_NO_EXTENSIONS=1``
skips the build on purpose.
"""

import os
import sys

from setuptools import Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

# One entry per compiled module: src/<name>.pyx -> ddfast._ext.<name>
MODULES = ["ids", "context", "propagation", "span", "sampling", "encoding"]

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def _truthy(value):
    return value.strip().lower() in ("1", "true", "yes", "on")


_warned = []


def _warn_pure(reason):
    """Say once per build that (some of) ddfast will run in pure Python, and why."""
    if _warned:
        return
    _warned.append(reason)
    sys.stderr.write(
        "\n*** ddfast: the compiled extensions were not built (%s); ddfast will run in pure Python. ***\n\n" % reason
    )


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure-Python twins instead of failing the install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers, toolchain error
            _warn_pure("%s: %s" % (type(exc).__name__, exc))

    def build_extension(self, ext):
        # Per module: a module that fails to compile leaves only that module on its pure twin.
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn_pure("%s: %s: %s" % (ext.name, type(exc).__name__, exc))


def extensions():
    if _truthy(os.environ.get("DDFAST_NO_EXTENSIONS", "")):
        _warn_pure("DDFAST_NO_EXTENSIONS is set")
        return []
    exts = [Extension("ddfast._ext.%s" % name, ["src/%s.pyx" % name]) for name in MODULES]
    try:
        from Cython.Build import cythonize

        return cythonize(exts, include_path=["src", "."], compiler_directives=COMPILER_DIRECTIVES, quiet=True)
    except Exception as exc:  # Cython missing or a compile error in the .pyx
        _warn_pure("Cython: %s: %s" % (type(exc).__name__, exc))
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
