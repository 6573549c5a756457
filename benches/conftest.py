"""Shared fixtures for the benchmark suites.

Each benchmark runs once per implementation, ``cython`` (ddfast compiled), ``python`` (ddfast pure)
and ``ddtrace`` (the reference, ddtrace 4.16), in the same pytest-benchmark group, so that the saved
JSON compares them measured in one run on one machine.
"""

import importlib
import types

import pytest


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
