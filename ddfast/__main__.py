"""``python -m ddfast``: what this installation runs on, and a sample of what it makes."""

import sys

import ddfast
from ddfast import _impl
from ddfast import ids


def main(argv=None):
    print("ddfast %s on %s (%s)" % (ddfast.__version__, sys.implementation.name, sys.version.split()[0]))
    print("implementation: %s" % ddfast.implementation())
    for name, kind in sorted(_impl.loaded.items()):
        print("  %-12s %s" % (name, kind))
    trace_id = ids.new_trace_id()
    print("new trace id:  %s (x-datadog-trace-id: %s)" % (ids.format_hex(trace_id, 32), trace_id & (2**64 - 1)))
    print("new span id:   %s" % ids.format_hex(ids.rand64bits()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
