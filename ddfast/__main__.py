"""``python -m ddfast``: what this installation runs on, and one trace carried across a hop.

It makes a trace as a service would, injects it into outgoing headers in the configured styles,
extracts it back as the next service would, and prints both, so that a newcomer (or a broken
deployment) sees at once which implementation runs and what goes on the wire.
"""

import sys

import ddfast
from ddfast import HTTPPropagator
from ddfast import _impl
from ddfast import ids


def main(argv=None):
    print("ddfast %s on %s %s" % (ddfast.__version__, sys.implementation.name, sys.version.split()[0]))
    print(
        "implementation: %s (%s)"
        % (ddfast.implementation(), ", ".join("%s=%s" % kv for kv in sorted(_impl.loaded.items())))
    )
    print("styles: extract %s, inject %s" % (",".join(ddfast.config.propagation_style_extract) or "none",
                                              ",".join(ddfast.config.propagation_style_inject) or "none"))  # fmt: skip
    outgoing = ddfast.Context(
        trace_id=ids.new_trace_id(),
        span_id=ids.rand64bits(),
        sampling_priority=1,
        meta={"_dd.p.dm": "-0"},
        baggage={"user.id": "demo"},
        is_remote=False,
    )
    headers = {}
    HTTPPropagator.inject(outgoing, headers)
    print("\ninjected headers:")
    for name, value in headers.items():
        print("  %s: %s" % (name, value))
    incoming = HTTPPropagator.extract(headers)
    print("\nextracted by the next service:")
    print("  trace_id  %032x" % incoming.trace_id)
    print("  parent_id %016x" % incoming.span_id)
    print("  priority  %s, tags %s, baggage %s" % (incoming.sampling_priority, incoming.meta, incoming.baggage))
    same = (incoming.trace_id, incoming.span_id) == (outgoing.trace_id, outgoing.span_id)
    print("\nround trip: %s" % ("ok" if same else "MISMATCH"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
