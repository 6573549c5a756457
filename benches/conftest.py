"""Shared fixtures for the benchmark suites.

Each benchmark runs once per implementation, ``cython`` (ddfast compiled), ``python`` (ddfast pure)
and ``ddtrace`` (the reference, ddtrace 4.16), in the same pytest-benchmark group, so that the saved
JSON compares them measured in one run on one machine.
"""

import contextlib
import importlib
import types

import pytest

from benches import ratios
from ddfast.tools.request_bench import NullWriter  # noqa: F401  (the benches' writer that drops traces)


def twin(name, kind):
    """ddfast core module ``name`` in implementation ``kind``; skip (visibly) when not built."""
    if kind == "python":
        return importlib.import_module("ddfast._pure." + name)
    try:
        return importlib.import_module("ddfast._ext." + name)
    except ImportError as exc:
        pytest.skip("compiled ddfast._ext.%s not built: %s" % (name, exc))


@pytest.fixture(params=["cython", "python", "ddtrace"])
def impl(request):
    """Which implementation a benchmark measures."""
    return request.param


def _ddtrace_ids():
    """ddtrace's own id generator, and the codecs it applies inline when propagating."""
    from ddtrace.internal.native import generate_128bit_trace_id
    from ddtrace.internal.native import rand64bits

    def parse_hex(s, width=16, strict=False):
        return int(s, 16)

    def format_hex(n, width=16):
        return "{:0{}x}".format(n, width)

    return types.SimpleNamespace(
        rand64bits=rand64bits,
        generate_128bit_trace_id=generate_128bit_trace_id,
        parse_dec=int,
        parse_hex=parse_hex,
        format_dec=str,
        format_hex=format_hex,
    )


@pytest.fixture
def ids(impl):
    """Id functions of the implementation under measurement."""
    if impl == "ddtrace":
        return _ddtrace_ids()
    return twin("ids", impl)


class _DdfastPropagation:
    """ddfast's core propagation module behind one small interface."""

    def __init__(self, core):
        self.core = core
        # the public entry points themselves (HTTPPropagator.inject/extract), no wrapper in between
        self.inject = core.http_inject
        self.extract = core.http_extract

    def context(self, **kw):
        return self.core.Context(**kw)

    @contextlib.contextmanager
    def styles(self, extract=(), inject=()):
        self.core.configure(self.core.Settings(extract_styles=extract, inject_styles=inject))
        try:
            yield
        finally:
            self.core.configure(self.core.Settings())


class _DdtracePropagation:
    """ddtrace 4.16's HTTPPropagator, its global config set for the duration of a benchmark."""

    def __init__(self):
        from ddtrace._trace.context import Context
        from ddtrace.internal.settings._config import config
        from ddtrace.propagation.http import HTTPPropagator

        self._context = Context
        self._config = config
        self.inject = HTTPPropagator.inject
        self.extract = HTTPPropagator.extract

    def context(self, **kw):
        return self._context(**kw)

    @contextlib.contextmanager
    def styles(self, extract=(), inject=()):
        c = self._config
        saved = c._propagation_style_extract, c._propagation_style_inject
        c._propagation_style_extract, c._propagation_style_inject = list(extract), list(inject)
        try:
            yield
        finally:
            c._propagation_style_extract, c._propagation_style_inject = saved


@pytest.fixture
def propagation(impl):
    """HTTP propagation of the implementation under measurement."""
    if impl == "ddtrace":
        return _DdtracePropagation()
    return _DdfastPropagation(twin("propagation", impl))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """The saved JSON shows, per operation, how many times faster ddfast compiled is than ddtrace and
    the OpenTelemetry SDK, and than its pure twin (``benches/ratios.py``)."""
    output_json["ratios"] = ratios.ratios(output_json["benchmarks"])
