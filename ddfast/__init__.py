"""ddfast: a Datadog-compatible tracer core with compiled hot paths.

Every core module has a compiled twin (``src/*.pyx`` -> ``ddfast._ext``) and a pure-Python twin
(``ddfast._pure``); ``implementation()`` says which is in use.
"""

from ddfast import ids
from ddfast._impl import implementation
from ddfast.context import Context
from ddfast.propagation import HTTPPropagator
from ddfast.sampling import DatadogSampler
from ddfast.sampling import SamplingRule
from ddfast.settings import config
from ddfast.span import Span
from ddfast.span_link import SpanLink
from ddfast.tracer import Tracer
from ddfast.tracer import start_span_from_context
from ddfast.tracer import tracer
from ddfast.writer import AgentWriter
from ddfast.writer import InMemoryWriter

TYPE_CHECKING = False  # typing's, without importing typing (type checkers take it as True)
if TYPE_CHECKING:
    from ddfast.carrier import HTTPHeadersCarrier
    from ddfast.patching import patch

    __version__: str

#: names imported at their first use (``import ddfast`` stays cheap): name -> (module, attribute or None
#: for the module itself)
_LAZY = {
    "HTTPHeadersCarrier": ("ddfast.carrier", "HTTPHeadersCarrier"),
    "patch": ("ddfast.patching", "patch"),
    "__version__": ("ddfast._version", "version"),
    "carrier": ("ddfast.carrier", None),
    "patching": ("ddfast.patching", None),
}


def __getattr__(name):
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError("module 'ddfast' has no attribute %r" % name) from None
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError:
        if name != "__version__":
            raise
        value = "0.0.0"  # running from a checkout that was never built
    else:
        value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def patch_ddtrace():
    """Make an installed ddtrace run its HTTPPropagator on ddfast's core (``ddfast.ddtrace_patch``)."""
    from ddfast.ddtrace_patch import patch_ddtrace as patch

    return patch()


__all__ = [
    "AgentWriter",
    "Context",
    "DatadogSampler",
    "HTTPHeadersCarrier",
    "HTTPPropagator",
    "InMemoryWriter",
    "SamplingRule",
    "Span",
    "SpanLink",
    "Tracer",
    "__version__",
    "config",
    "ids",
    "implementation",
    "patch",
    "patch_ddtrace",
    "start_span_from_context",
    "tracer",
]
