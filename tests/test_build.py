"""The package installs and selects its implementation as documented."""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import ddfast
from ddfast import _impl

CORE_MODULES = _impl.CORE_MODULES


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


# -- all compiled or all pure, at run time ----------------------------------------------------------

PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import ddfast
    import ddfast.context, ddfast.encoding, ddfast.ids, ddfast.propagation, ddfast.sampling, ddfast.span
    from ddfast import _impl
    from ddfast.tools.cli import overview
    overview()
print(json.dumps({
    "file": ddfast.__file__,
    "implementation": ddfast.implementation(),
    "loaded": _impl.loaded,
    "modules": sorted({type(ddfast.Context()).__module__, ddfast.ids._impl.__name__, ddfast.Span.__module__}),
    "reason": _impl.fallback_reason,
    "warnings": [(w.category.__name__, str(w.message)) for w in caught],
}))
"""


def _installed_copy(tmp_path, change, **env_vars):
    """A copy of the installed ddfast package under ``tmp_path`` with ``change(ext_dir)`` applied to
    its compiled modules' folder, and the probe's report of what that copy runs on (with ``env_vars``)."""
    package = os.path.dirname(ddfast.__file__)
    copy = tmp_path / "site" / "ddfast"
    shutil.copytree(package, str(copy), ignore=shutil.ignore_patterns("__pycache__"))
    change(copy / "_ext")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    env.pop("DDFAST_NO_EXTENSIONS", None)
    env.update(env_vars)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["file"].startswith(str(tmp_path)), "the probe did not run the copy"
    report["overview"] = "\n".join(lines[:-1])
    return report


def _compiled_files(ext_dir, name=None):
    pattern = "%s.*.so" % (name or "*")
    return [path for path in ext_dir.glob(pattern)] + [path for path in ext_dir.glob(pattern[:-3] + ".pyd")]


@pytest.fixture
def compiled_installed(require_compiled):
    if not all(importlib.util.find_spec("ddfast._ext." + name) for name in CORE_MODULES):
        if require_compiled:
            pytest.fail("compiled modules are missing from the installed package")
        pytest.skip("the compiled core is not installed")


@pytest.mark.parametrize("broken", ["sampling", "encoding"])
def test_a_damaged_compiled_module_makes_every_module_pure_and_says_so(compiled_installed, tmp_path, broken):
    def damage(ext_dir):
        (path,) = _compiled_files(ext_dir, broken)
        path.write_bytes(b"not a shared object")

    report = _installed_copy(tmp_path, damage)
    assert report["implementation"] == "python"
    assert set(report["loaded"]) == set(CORE_MODULES) and set(report["loaded"].values()) == {"python"}
    assert report["modules"] == ["ddfast._pure.context", "ddfast._pure.ids", "ddfast._pure.span"]
    assert report["reason"].startswith("ddfast._ext.%s: ImportError" % broken)
    (warning,) = report["warnings"]  # once, however many modules load
    assert warning[0] == "CompiledCoreUnavailable" and report["reason"] in warning[1]
    assert "compiled core not in use: " + report["reason"] in report["overview"]


def test_a_missing_compiled_module_makes_every_module_pure_and_says_so(compiled_installed, tmp_path):
    report = _installed_copy(tmp_path, lambda ext_dir: _compiled_files(ext_dir, "propagation")[0].unlink())
    assert report["implementation"] == "python" and set(report["loaded"].values()) == {"python"}
    assert report["reason"].startswith("ddfast._ext.propagation: ModuleNotFoundError")
    assert len(report["warnings"]) == 1


def _remove_all(ext_dir):
    for path in _compiled_files(ext_dir):
        path.unlink()


def test_a_pure_install_runs_pure_and_says_so_once(compiled_installed, tmp_path):
    """pip shows what the build says only with -v: the import says it, and ``python -m ddfast``."""
    report = _installed_copy(tmp_path, _remove_all)
    assert report["implementation"] == "python" and set(report["loaded"].values()) == {"python"}
    assert report["reason"] == ""
    (warning,) = report["warnings"]
    assert warning[0] == "CompiledCoreUnavailable" and "compiled core is missing" in warning[1]
    assert "DDFAST_NO_EXTENSIONS=1" in warning[1]
    assert "compiled core missing: " in report["overview"]


def test_a_pure_install_asked_for_runs_pure_without_a_warning(compiled_installed, tmp_path):
    report = _installed_copy(tmp_path, _remove_all, DDFAST_NO_EXTENSIONS="1")
    assert report["implementation"] == "python" and report["warnings"] == []
    assert "compiled core turned off: DDFAST_NO_EXTENSIONS is set" in report["overview"]


def test_a_source_tree_that_shadows_the_installed_package_is_named(compiled_installed, tmp_path):
    """``python -m ddfast`` in a checkout runs its uncompiled ``ddfast/``, not the installed package: it
    says so, where the user looks."""
    package = os.path.dirname(ddfast.__file__)
    checkout = tmp_path / "checkout"
    shutil.copytree(package, str(checkout / "ddfast"), ignore=shutil.ignore_patterns("__pycache__"))
    _remove_all(checkout / "ddfast" / "_ext")
    env = {k: v for k, v in os.environ.items() if k not in ("DDFAST_NO_EXTENSIONS", "PYTHONPATH")}
    out = subprocess.run(
        [sys.executable, "-m", "ddfast"], env=env, cwd=str(checkout), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    said = "ddfast was imported from %s, which shadows the installed package at %s" % (checkout / "ddfast", package)
    assert "compiled core missing: " + said in out.stdout
    assert out.stderr.count("CompiledCoreUnavailable") == 1 and said in out.stderr


def test_the_intact_compiled_core_runs_compiled_without_a_warning(compiled_installed, tmp_path):
    report = _installed_copy(tmp_path, lambda ext_dir: None)
    assert report["implementation"] == "cython" and set(report["loaded"].values()) == {"cython"}
    assert report["modules"] == ["ddfast._ext.context", "ddfast._ext.ids", "ddfast._ext.span"]
    assert report["reason"] == "" and report["warnings"] == []


def test_no_extensions_is_reported_by_the_command():
    code = "from ddfast.tools.cli import overview; overview()"
    assert "compiled core turned off: DDFAST_NO_EXTENSIONS is set" in _run(code, DDFAST_NO_EXTENSIONS="1")


# -- what the build does without a compiler, and with one that fails ----------------------------------

CHECKOUT = pathlib.Path(__file__).resolve().parents[1]


def _build_in_copy(tmp_path, **env):
    """``setup.py build_ext --inplace`` in a copy of the checkout's build files, with ``env``.

    Generated C files already in the checkout are copied with their times, so Cython does not
    translate again what it already translated."""
    if not (CHECKOUT / "setup.py").exists():
        pytest.skip("needs the source checkout beside the tests")
    pytest.importorskip("Cython")
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy2(str(CHECKOUT / name), str(work / name))
    shutil.copytree(str(CHECKOUT / "src"), str(work / "src"))
    shutil.copytree(
        str(CHECKOUT / "ddfast"), str(work / "ddfast"), ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    full_env = {k: v for k, v in os.environ.items() if k not in ("DDFAST_NO_EXTENSIONS", "DDFAST_STRICT_BUILD")}
    full_env.update(SETUPTOOLS_SCM_PRETEND_VERSION="0.0.0", **env)
    out = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=str(work),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out, _compiled_files(work / "ddfast" / "_ext")


def test_without_a_working_compiler_the_build_installs_pure_and_says_so_once(tmp_path):
    out, built = _build_in_copy(tmp_path, CC="false")
    assert out.returncode == 0, out.stderr
    assert built == []
    assert out.stderr.count("ddfast will run in pure Python") == 1
    assert "no working C compiler or Python headers" in out.stderr


def test_a_compiler_that_fails_on_ddfast_fails_the_build_and_says_how_to_go_pure(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler here")
    # a compiler that works (the probe passes) but rejects one of ddfast's generated files
    wrapper = tmp_path / "cc-failing-on-ids"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in */ids.c|ids.c)\n'
        '  echo "ids.c:1:1: error: simulated failure" >&2; exit 1;;\n'
        "esac; done\n"
        'exec %s "$@"\n' % cc
    )
    wrapper.chmod(0o755)
    out, built = _build_in_copy(tmp_path, CC=str(wrapper))
    assert out.returncode != 0
    assert "ids.c:1:1: error: simulated failure" in out.stderr
    assert "set DDFAST_NO_EXTENSIONS=1" in out.stderr
    assert "ddfast will run in pure Python" not in out.stderr


def test_no_extensions_at_build_time_builds_nothing(tmp_path):
    out, built = _build_in_copy(tmp_path, DDFAST_NO_EXTENSIONS="1")
    assert out.returncode == 0, out.stderr
    assert built == [] and out.stderr.count("DDFAST_NO_EXTENSIONS is set") == 1


def test_supported_versions_are_stated_alike_everywhere():
    """requires-python, the classifiers, the release wheels and the README name the same CPythons."""
    import re
    import tomllib

    if not (CHECKOUT / "pyproject.toml").exists():
        pytest.skip("needs the source checkout beside the tests")
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())
    lowest = project["project"]["requires-python"]
    assert lowest.startswith(">=3.")
    minors = sorted(
        int(c.rsplit(".", 1)[1])
        for c in project["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert minors[0] == int(lowest[len(">=3.") :]) and minors == list(range(minors[0], minors[-1] + 1))
    wheels = project["tool"]["cibuildwheel"]["build"].split()
    # and the free-threaded builds of each minor that has one (3.13t on)
    assert wheels == ["cp3%d-*" % minor for minor in minors] + ["cp3%dt-*" % minor for minor in minors if minor >= 13]
    readme = (CHECKOUT / "README.md").read_text()
    section = readme.split("## Supported Pythons", 1)[1].split("\n## ", 1)[0]
    assert "CPython %s" % ", ".join("3.%d" % m for m in minors[:-1]) + " and 3.%d" % minors[-1] in section
    assert "3.%d-3.%d" % (minors[0], minors[-1]) in section
    for minor in minors:  # each has its row saying where it is tested
        assert re.search(r"^\| 3\.%d \|" % minor, section, re.M), minor
    assert sys.version_info >= (3, minors[0])


# -- the stubs type checkers read say what both twins have ----------------------------------------------


def _stub_names(name):
    """``{name: members}`` of ``ddfast/_ext/<name>.pyi``: its functions, values and public classes (with
    the members they inherit from classes of the stub); type aliases left out (no run-time name)."""
    import ast

    ext_dir = os.path.dirname(importlib.import_module("ddfast._ext").__file__)
    tree = ast.parse(pathlib.Path(ext_dir, name + ".pyi").read_text())
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def members(node):
        own = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        own |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                own |= members(classes[base.id])
        return own

    names = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names[node.name] = set()
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            names[node.name] = members(node)
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = set()
        elif isinstance(node, ast.Assign) and not isinstance(node.value, ast.Subscript):
            names.update((target.id, set()) for target in node.targets)
    return names


@pytest.mark.parametrize("name", CORE_MODULES)
def test_stubs_match_both_twins(compiled_installed, name):
    stub = _stub_names(name)
    for kind in ("_ext", "_pure"):
        module = importlib.import_module("ddfast.%s.%s" % (kind, name))
        missing = [n for n in stub if not hasattr(module, n)]
        missing += ["%s.%s" % (c, m) for c, ms in stub.items() for m in ms if not hasattr(getattr(module, c), m)]
        assert not missing, "in the stub of %s but not in ddfast.%s.%s" % (name, kind, name)
    compiled = importlib.import_module("ddfast._ext." + name)
    public = {
        n for n, v in vars(compiled).items()
        if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == compiled.__name__
    }  # fmt: skip
    assert not sorted(public - set(stub)), "compiled names the stub of %s does not declare" % name
