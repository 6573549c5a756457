"""The package installs and selects its implementation as documented."""

import importlib.util
import os
import subprocess
import sys

import ddfast
from ddfast import _impl

CORE_MODULES = ("ids", "context", "propagation", "span", "sampling", "encoding")


def _run(code, **env):
    full_env = dict(os.environ, **env)
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_compiled_modules_are_the_default(require_compiled):
    built = all(importlib.util.find_spec("ddfast._ext." + name) for name in CORE_MODULES)
    if _impl.NO_EXTENSIONS:
        assert ddfast.implementation() == "python"
        return
    if require_compiled:
        assert built, "compiled modules are missing from the installed package"
    if built:
        assert ddfast.implementation() == "cython"
        assert ddfast.ids._impl.__name__ == "ddfast._ext.ids"
    else:
        assert ddfast.implementation() == "python"
        assert ddfast.ids._impl.__name__ == "ddfast._pure.ids"


def test_no_extensions_at_run_time_forces_pure():
    code = "import ddfast, ddfast.ids; print(ddfast.implementation(), ddfast.ids._impl.__name__)"
    assert _run(code, DDFAST_NO_EXTENSIONS="1") == "python ddfast._pure.ids"


def test_no_extensions_off_values_keep_the_default():
    code = "import ddfast._impl as i; print(i.NO_EXTENSIONS)"
    assert _run(code, DDFAST_NO_EXTENSIONS="0") == "False"
    assert _run(code, DDFAST_NO_EXTENSIONS="") == "False"
    assert _run(code, DDFAST_NO_EXTENSIONS="true") == "True"


def test_version_is_set():
    assert isinstance(ddfast.__version__, str) and ddfast.__version__[0].isdigit()


def test_stubs_ship_with_the_compiled_modules():
    ext_dir = os.path.dirname(importlib.import_module("ddfast._ext").__file__)
    for name in CORE_MODULES:
        assert os.path.exists(os.path.join(ext_dir, name + ".pyi"))
