"""Fixtures shared by the behaviour tests.

Every behaviour test takes its core module from a fixture parametrized over both implementations,
``[cython]`` and ``[python]``, so a failure names the twin that broke. Where the compiled modules are
required (``DDFAST_REQUIRE_EXTENSIONS=1``, or ``CI`` set), a missing compiled module fails the test
instead of skipping it: CI never passes on a silent fallback to pure Python.
"""

import importlib
import os
import sys

import pytest
from hypothesis import HealthCheck
from hypothesis import settings

# The twin fixtures only hand out a module, so sharing them across generated examples is safe. No
# deadline: the machines are shared and noisy, and speed is measured in benches/, not here.
# CI runs a fixed set of examples (derandomized, so a red CI is reproducible); developers' runs explore.
settings.register_profile("ddfast", suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
settings.register_profile("ddfast-ci", parent=settings.get_profile("ddfast"), derandomize=True, print_blob=True)
settings.load_profile("ddfast-ci" if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes") else "ddfast")

KINDS = ("cython", "python")

# helpers the integration tests share (tests/integration_helpers.py); only this folder is added to
# sys.path, never the checkout, so the installed package stays the one under test
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def compiled_required():
    """True where the compiled modules must be present (CI, or the Makefile's compiled test run)."""
    if os.environ.get("DDFAST_REQUIRE_EXTENSIONS", "").strip() == "0":
        return False
    return _flag("DDFAST_REQUIRE_EXTENSIONS") or _flag("CI")


def load_twin(name, kind):
    """Core module ``name`` in implementation ``kind`` ("cython" or "python")."""
    if kind == "python":
        return importlib.import_module("ddfast._pure." + name)
    try:
        return importlib.import_module("ddfast._ext." + name)
    except ImportError as exc:
        if compiled_required():
            pytest.fail("compiled module ddfast._ext.%s is required but not importable: %s" % (name, exc))
        pytest.skip("compiled module ddfast._ext.%s is not built: %s" % (name, exc))


@pytest.fixture(params=KINDS)
def kind(request):
    """The implementation under test."""
    return request.param


@pytest.fixture
def ids(kind):
    """``ddfast.ids`` core module, compiled and pure."""
    return load_twin("ids", kind)


@pytest.fixture
def require_compiled():
    """Whether this run must have the compiled modules."""
    return compiled_required()


@pytest.fixture
def prop(kind):
    """``ddfast`` propagation core module (with its ``Context`` and ``Settings``), compiled and pure."""
    return load_twin("propagation", kind)


@pytest.fixture
def ctxmod(kind):
    """``ddfast`` context core module, compiled and pure."""
    return load_twin("context", kind)


@pytest.fixture
def compiled_prop():
    """The compiled propagation module alone, for comparing it with the pure one."""
    return load_twin("propagation", "cython")


@pytest.fixture
def spanmod(kind):
    """``ddfast`` span core module (Span, start_span, the tracer's TracerState), compiled and pure."""
    return load_twin("span", kind)


@pytest.fixture
def sampling(kind):
    """``ddfast`` sampling core module (DatadogSampler, SamplingRule, RateLimiter…), compiled and pure."""
    return load_twin("sampling", kind)


@pytest.fixture
def encoding(kind):
    """``ddfast`` encoding core module (MsgpackEncoderV04/V05), compiled and pure."""
    return load_twin("encoding", kind)


@pytest.fixture
def twins():
    """``twins(name)``: core module ``name`` as ``(compiled, pure)``, for comparing the two."""
    return lambda name: (load_twin(name, "cython"), load_twin(name, "python"))


@pytest.fixture
def make_tracer(kind):
    """``make_tracer(sampler=None)``: a Tracer on the implementation under test, writing to an
    ``InMemoryWriter`` (``tracer.writer``)."""
    from ddfast.tracer import Tracer
    from ddfast.writer import InMemoryWriter

    core = (load_twin("span", kind), load_twin("sampling", kind), load_twin("propagation", kind))

    def make(sampler=None, **sampler_kwargs):
        if sampler is None:
            sampler = core[1].DatadogSampler(rules=sampler_kwargs.pop("rules", []), **sampler_kwargs)
        return Tracer(writer=InMemoryWriter(), sampler=sampler, _core=core)

    return make


@pytest.fixture
def traced(make_tracer, prop):
    """A tracer on the implementation under test with every header style configured both ways, and
    the downstream service its integrations call; patches are undone afterwards."""
    import integration_helpers

    saved = prop.active_settings()
    prop.configure(prop.Settings(extract_styles=integration_helpers.STYLES, inject_styles=integration_helpers.STYLES))
    downstream = integration_helpers.Downstream()
    tracer = make_tracer()
    tracer.downstream = downstream
    try:
        yield tracer
    finally:
        downstream.close()
        prop.configure(saved)
        for name in ("requests", "httpx", "urllib3", "aiohttp", "tornado"):
            try:
                importlib.import_module("ddfast.contrib." + name).unpatch()
            except ImportError:
                pass


@pytest.fixture
def library(kind):
    """``library(env)``: the conformance suite's test application (``tests/conformance.py``) on the
    implementation under test, configured from the ``DD_*`` variables of ``env``; undone afterwards."""
    import conformance

    core = (load_twin("span", kind), load_twin("sampling", kind), load_twin("propagation", kind))
    made = []

    def make(env=None):
        made.append(conformance.Library(core, env or {}))
        return made[-1]

    yield make
    for lib in reversed(made):
        lib.close()
