"""What a test run on a free-threaded CPython (3.13t, 3.14t) leaves out, and why: the one list that the
matrix's ft leg and the release configuration (cibuildwheel's free-threaded wheels) both read.

Some test dependencies have no free-threaded build (neither a wheel for it nor a source build that
works there): they are not installed, and the tests that need them are left out by name.

    python .ci/freethreaded.py requirements   the test extras of pyproject.toml less those dependencies
                                              (install them with pip's --prefer-binary: a package whose
                                              newest release is compiled without a free-threaded wheel,
                                              as hypothesis, comes as its newest pure-Python release)
    python .ci/freethreaded.py pytest-args [CHECKOUT]
                                              --deselect/--ignore arguments for the tests that need them
    python .ci/freethreaded.py why            what is left out and why, for the log
"""

import pathlib
import re
import sys
import tomllib

# dependency -> why it cannot be installed on a free-threaded CPython
SKIP_DEPS = {
    "ddtrace": "compiled (C, C++, Rust) with no free-threaded wheel; the behaviour reference of the differential tests",
    "gevent": "compiled with no free-threaded wheel, and greenlet does not support free threading",
}

# test file or node id -> the dependency it needs
LEFT_OUT = {}


def requirements():
    project = tomllib.loads((pathlib.Path(__file__).parent.parent / "pyproject.toml").read_text())
    for req in project["project"]["optional-dependencies"]["test"]:
        if re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower() not in SKIP_DEPS:
            yield req


def pytest_args(root=""):
    """``--ignore`` takes a path (under ``root``, the checkout, when the tests run from elsewhere);
    ``--deselect`` a node id, relative to the checkout wherever they run."""
    for target in LEFT_OUT:
        if "::" in target:
            yield "--deselect=" + target
        else:
            yield "--ignore=" + (str(pathlib.Path(root, target)) if root else target)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "requirements":
        print("\n".join(requirements()))
    elif what == "pytest-args":
        print(" ".join(pytest_args(*sys.argv[2:3])))
    elif what == "why":
        for name, reason in SKIP_DEPS.items():
            print("== not installed: %s (%s)" % (name, reason))
        for target, name in LEFT_OUT.items():
            print("== left out: %s (needs %s)" % (target, name))
    else:
        sys.exit("usage: freethreaded.py requirements|pytest-args [CHECKOUT]|why")
