"""ddfast: a Datadog-compatible tracer core with compiled hot paths.

Every core module has a compiled twin (``src/*.pyx`` -> ``ddfast._ext``) and a pure-Python twin
(``ddfast._pure``); ``implementation()`` says which is in use.
"""

from ddfast import ids
from ddfast._impl import implementation
from ddfast.carrier import HTTPHeadersCarrier
from ddfast.context import Context
from ddfast.patching import patch
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


def patch_ddtrace():
    """Make an installed ddtrace run its HTTPPropagator on ddfast's core (``ddfast.ddtrace_patch``)."""
    from ddfast.ddtrace_patch import patch_ddtrace as patch

    return patch()


try:
    from ddfast._version import version as __version__
except ImportError:  # running from a checkout that was never built
    __version__ = "0.0.0"

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
