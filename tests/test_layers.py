"""The layers of docs/design.md, checked on the source: settings import nothing of ddfast's; the core
(compiled and pure twin) imports only the core; the API never imports an integration or a tool; the
integrations never import a tool. Every import counts, at module level or inside a function, so that
a module's behaviour cannot depend on which other module was imported first."""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: layer -> the layers it may import (its own included)
MAY_IMPORT = {
    "settings": {"settings"},
    "core": {"core"},
    "api": {"settings", "core", "api"},
    "integrations": {"settings", "core", "api", "integrations"},
    "tools": {"settings", "core", "api", "integrations", "tools"},
}
#: small leaf modules the core shares with the API: no imports of their own from ddfast
CORE_LEAVES = ("ddfast._impl", "ddfast._version", "ddfast.encoding_errors", "ddfast.span_link")
#: leaves every layer may import: no imports of their own from ddfast
SHARED_LEAVES = ("ddfast._log",)


def layer_of(module):
    if module == "ddfast.settings":
        return "settings"
    if module.startswith(("ddfast._pure", "ddfast._ext")) or module in CORE_LEAVES:
        return "core"
    if module.startswith("ddfast.tools") or module == "ddfast.__main__":
        return "tools"
    if module.startswith("ddfast.contrib") or module == "ddfast.patching":
        return "integrations"
    return "api"


def _python_modules():
    for folder, _, files in os.walk(os.path.join(ROOT, "ddfast")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield path, rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _imports_of_python(path, module):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base == "ddfast":  # from ddfast import tracer: the submodules named
                for alias in node.names:
                    yield "ddfast." + alias.name
            else:
                yield base


_CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+(ddfast[\w.]*)\s+c?import|c?import\s+(ddfast[\w.]*))", re.M)


def _imports_of_cython(path):
    for m in _CYTHON_IMPORT.finditer(open(path, encoding="utf-8").read()):
        yield m.group(1) or m.group(2)


def _edges():
    for path, module in _python_modules():
        if module == "ddfast":  # the package's facade: ddfast.patch() and the lazy names reach every layer
            continue
        for imported in _imports_of_python(path, module):
            if imported.startswith("ddfast.") or imported == "ddfast":
                yield module, imported
    for name in sorted(os.listdir(os.path.join(ROOT, "src"))):
        if name.endswith((".pyx", ".pxi", ".pxd")):
            for imported in _imports_of_cython(os.path.join(ROOT, "src", name)):
                yield "ddfast._ext." + name.rsplit(".", 1)[0], imported


def test_every_import_goes_up_the_layers():
    wrong = sorted(
        "%s (%s) imports %s (%s)" % (module, layer_of(module), imported, layer_of(imported))
        for module, imported in _edges()
        if imported != "ddfast"
        and imported not in SHARED_LEAVES
        and layer_of(imported) not in MAY_IMPORT[layer_of(module)]
    )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", ["ddfast.tracer", "ddfast.contrib.wsgi", "ddfast._ext.span", "ddfast._pure.span"])
def test_the_checker_sees_imports(module):
    """The check is not vacuous: every module here imports something of ddfast's."""
    assert any(m == module for m, _ in _edges())


def test_leaves_import_nothing_of_ddfast():
    leaves = (set(CORE_LEAVES) - {"ddfast._impl"}) | set(SHARED_LEAVES)  # the selector imports the core
    assert [(m, i) for m, i in _edges() if m in leaves] == []
