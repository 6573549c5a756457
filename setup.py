"""Build ddfast's compiled core: one extension per module of ``src/``, placed in ``ddfast._ext``.

What the build does when it cannot compile:

- no C compiler, or no Python headers (checked by compiling a two-line probe first), or no Cython:
  the install succeeds in pure Python and says so in one line on stderr;
- a working compiler that fails on ddfast's own code: the install fails with the compiler's error and
  a line saying how to install the pure-Python twins on purpose. That is a bug to report, not a
  reason to run a slower tracer without knowing it;
- ``DDFAST_NO_EXTENSIONS=1``: pure Python on purpose, nothing compiled.

The generated C is compiled with the warnings that newer compilers (GCC 14 and later) treat as errors
made errors here too, so an older compiler rejects what a newer one would. ``DDFAST_STRICT_BUILD=1``
(CI) also makes every Cython warning an error. Cython's directives live in each ``.pyx`` file's
first line; only ``language_level`` is set here.
"""

import os
import sys
import tempfile

from setuptools import Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

# One entry per compiled module: src/<name>.pyx -> ddfast._ext.<name>
MODULES = ["ids", "context", "propagation", "span", "sampling", "encoding"]

# Safe for every module; the unsafe ones (boundscheck, wraparound, cdivision) are stated in the
# header line of each .pyx that uses them.
COMPILER_DIRECTIVES = {"language_level": 3}

# GCC 14 made these errors by default; clang rejects most of them already. Errors on every compiler.
STRICT_C_FLAGS = [
    "-Werror=int-conversion",
    "-Werror=incompatible-pointer-types",
    "-Werror=implicit-function-declaration",
    "-Werror=return-type",
]

PURE_HINT = "To install ddfast in pure Python on purpose, set DDFAST_NO_EXTENSIONS=1."


def _truthy(value):
    return value.strip().lower() in ("1", "true", "yes", "on")


_said = []


def _say_pure(reason):
    """Say once per build that ddfast will run in pure Python, and why."""
    if not _said:
        _said.append(reason)
        sys.stderr.write("\n*** ddfast: no compiled core (%s); ddfast will run in pure Python. ***\n\n" % reason)


class CompilerCheckedBuildExt(build_ext):
    """build_ext that installs pure Python only where there is nothing to compile with."""

    def run(self):
        self._compiler_works = False
        try:
            super().run()
        except Exception as exc:
            if self._compiler_works:
                sys.stderr.write(
                    "\n*** ddfast: the compiled core failed to build with a working C compiler (error above). "
                    "Please report it. %s ***\n\n" % PURE_HINT
                )
                raise
            _say_pure("no working C compiler: %s: %s" % (type(exc).__name__, exc))

    def build_extensions(self):
        problem = self._probe()
        if problem:
            _say_pure(problem)
            return
        self._compiler_works = True
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = STRICT_C_FLAGS + list(ext.extra_compile_args or [])
        super().build_extensions()

    def _probe(self):
        """Why nothing can be compiled here ("" when a C file including Python.h compiles)."""
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "probe.c")
            with open(source, "w") as f:
                f.write("#include <Python.h>\nint ddfast_probe(void) { return 0; }\n")
            try:
                self.compiler.compile([source], output_dir=tmp, include_dirs=self.include_dirs)
            except Exception as exc:
                return "no working C compiler or Python headers: %s: %s" % (type(exc).__name__, exc)
        return ""


def extensions():
    if _truthy(os.environ.get("DDFAST_NO_EXTENSIONS", "")):
        _say_pure("DDFAST_NO_EXTENSIONS is set")
        return []
    try:
        from Cython.Build import cythonize
        from Cython.Compiler import Options
    except ImportError as exc:  # only without build isolation: Cython is a build requirement
        _say_pure("Cython is not installed: %s" % exc)
        return []
    if _truthy(os.environ.get("DDFAST_STRICT_BUILD", "")):
        Options.warning_errors = True
    exts = [Extension("ddfast._ext.%s" % name, ["src/%s.pyx" % name]) for name in MODULES]
    try:
        return cythonize(exts, include_path=["src", "."], compiler_directives=COMPILER_DIRECTIVES, quiet=True)
    except Exception:
        sys.stderr.write("\n*** ddfast: Cython failed on ddfast's sources (error above). %s ***\n\n" % PURE_HINT)
        raise


setup(ext_modules=extensions(), cmdclass={"build_ext": CompilerCheckedBuildExt})
