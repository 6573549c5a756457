"""The ``ddfast`` command (``python -m ddfast``): look at trace headers when a trace breaks between two
services.

- ``ddfast``: what this installation runs on, and one trace carried across a hop.
- ``ddfast extract``: reads headers on stdin (a JSON object, a JSON list of pairs, or ``Name: value``
  lines as curl or a proxy log shows them) and prints the context each style decodes from them, the
  context the configured styles give together, and every propagation problem met on the way.
- ``ddfast inject``: prints the headers a context is sent with, in the configured or given styles.

- ``ddfast demo``: one request through two services on loopback, its trace printed as a tree.
- ``ddfast bench``: the per-request overhead of ddfast (compiled and pure) next to ddtrace and the
  OpenTelemetry SDK where installed, measured on this machine in about a minute.

``--json`` makes extract, inject and bench print JSON. Exit status: 0, 1 when the demo's trace broke,
2 for unusable input.
"""

import argparse
import contextlib
import json
import os
import sys

import ddfast
from ddfast import _impl
from ddfast import ids
from ddfast.propagation import ERRORS
from ddfast.propagation import HTTPPropagator
from ddfast.settings import STYLES
from ddfast.settings import config
from ddfast.tools import request_bench


class UsageError(Exception):
    """Input the command cannot use; the message says why."""


def parse_headers(text):
    """Header (name, value) pairs from JSON (object or list of pairs) or ``Name: value`` lines."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            data = json.loads(stripped)
        except ValueError as e:
            raise UsageError("headers look like JSON but are not: %s" % e) from None
        pairs = data.items() if isinstance(data, dict) else data
        out = []
        for pair in pairs:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise UsageError("a JSON header list holds [name, value] pairs, not %r" % (pair,))
            name, value = pair
            if not isinstance(name, str) or not isinstance(value, (str, int)):
                raise UsageError("header names and values are strings, not %r" % (pair,))
            out.append((name, str(value)))
        return out
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line[:2] in ("> ", "< "):  # curl -v
            line = line[2:]
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            out.append((name.strip(), value.strip()))
    return out


def describe(ctx):
    """A context as plain data (None when it carries no trace)."""
    if ctx is None or not ctx.trace_id and not ctx.baggage:
        return None
    return {
        "trace_id": None if ctx.trace_id is None else "%032x" % ctx.trace_id,
        "trace_id_dec": ctx.trace_id,
        "parent_id": None if ctx.span_id is None else "%016x" % ctx.span_id,
        "parent_id_dec": ctx.span_id,
        "sampling_priority": ctx.sampling_priority,
        "origin": ctx.dd_origin,
        "meta": dict(ctx.meta),
        "baggage": dict(ctx.baggage),
        "span_links": [
            {"trace_id": "%032x" % link.trace_id, "span_id": "%016x" % link.span_id, "attributes": link.attributes}
            for link in ctx.span_links
        ],
    }


@contextlib.contextmanager
def _styles(extract=None, inject=None):
    """Other propagation styles configured for the duration of the block (None: keep the current)."""
    saved = (list(config.propagation_style_extract), list(config.propagation_style_inject))
    try:
        if extract is not None:
            config.propagation_style_extract = list(extract)
        if inject is not None:
            config.propagation_style_inject = list(inject)
        yield
    finally:
        config.propagation_style_extract, config.propagation_style_inject = saved


def _extract_with(headers, styles):
    """The context ``styles`` extract from ``headers`` and the problems counted meanwhile."""
    before = dict(ERRORS)
    with _styles(extract=styles):
        ctx = HTTPPropagator.extract(headers)
    problems = {k: v - before.get(k, 0) for k, v in ERRORS.items() if v != before.get(k, 0)}
    return describe(ctx), problems


def extract(headers):
    """What each style, then the configured styles together, decode from ``headers``."""
    report = {"headers": len(headers), "styles": {}}
    for style in STYLES:
        ctx, problems = _extract_with(headers, [style])
        report["styles"][style] = {"context": ctx, "problems": problems}
    ctx, problems = _extract_with(headers, config.propagation_style_extract)
    report["configured"] = {
        "styles": list(config.propagation_style_extract),
        "context": ctx,
        "problems": problems,
    }
    return report


def _int(text, what):
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError("%s must be a decimal or 0x-hex integer, got %r" % (what, text)) from None
    if value <= 0:
        raise UsageError("%s must be positive, got %r" % (what, text))
    return value


def _pairs(items, what):
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError("%s must be key=value, got %r" % (what, item))
        out[key] = value
    return out


def inject(args):
    """The headers the context described by ``args`` is sent with."""
    ctx = ddfast.Context(
        trace_id=_int(args.trace_id, "--trace-id") if args.trace_id else ids.new_trace_id(),
        span_id=_int(args.span_id, "--span-id") if args.span_id else ids.rand64bits(),
        sampling_priority=args.priority,
        dd_origin=args.origin,
        meta=_pairs(args.tag, "--tag"),
        baggage=_pairs(args.baggage, "--baggage"),
        is_remote=False,
    )
    styles = None
    if args.style:
        unknown = [s for s in args.style if s not in STYLES + ("none",)]
        if unknown:
            raise UsageError("unknown style(s) %s; known: %s" % (", ".join(unknown), ", ".join(STYLES)))
        styles = [s for s in args.style if s != "none"]
    headers = {}
    with _styles(inject=styles):
        HTTPPropagator.inject(ctx, headers)
    return headers


def _print_context(ctx, indent="  "):
    if ctx is None:
        print(indent + "nothing")
        return
    print(indent + "trace_id  %s (%s)" % (ctx["trace_id"], ctx["trace_id_dec"]))
    print(indent + "parent_id %s (%s)" % (ctx["parent_id"], ctx["parent_id_dec"]))
    print(indent + "priority  %s   origin %s" % (ctx["sampling_priority"], ctx["origin"]))
    if ctx["meta"]:
        print(indent + "tags      %s" % ", ".join("%s=%s" % kv for kv in sorted(ctx["meta"].items())))
    if ctx["baggage"]:
        print(indent + "baggage   %s" % ", ".join("%s=%s" % kv for kv in sorted(ctx["baggage"].items())))
    for link in ctx["span_links"]:
        print(indent + "link      trace %s span %s %s" % (link["trace_id"], link["span_id"], link["attributes"]))


def _print_extract(report):
    print("%d header(s) read" % report["headers"])
    for style, result in report["styles"].items():
        print("\n%s:" % style)
        _print_context(result["context"])
        if result["problems"]:
            print("  problems  %s" % ", ".join("%s x%d" % kv for kv in sorted(result["problems"].items())))
    configured = report["configured"]
    print("\nconfigured styles together (%s):" % (",".join(configured["styles"]) or "none"))
    _print_context(configured["context"])


def overview():
    """What this installation runs on, and one trace carried across a hop (``ddfast`` alone)."""
    print("ddfast %s on %s %s" % (ddfast.__version__, sys.implementation.name, sys.version.split()[0]))
    print(
        "implementation: %s (%s)"
        % (ddfast.implementation(), ", ".join("%s=%s" % kv for kv in sorted(_impl.loaded.items())))
    )
    if _impl.fallback_reason:
        print("compiled core not in use: %s" % _impl.fallback_reason)
    elif _impl.NO_EXTENSIONS:
        print("compiled core turned off: DDFAST_NO_EXTENSIONS is set")
    elif _impl.pure_reason:
        print("compiled core missing: %s" % _impl.pure_reason)
    if not _impl.pure_reason and _impl.shadowed_install():  # pure_reason names it already
        print("imported from %s, not %s" % (os.path.dirname(ddfast.__file__), _impl.shadowed_install()))
    print("styles: extract %s, inject %s" % (",".join(config.propagation_style_extract) or "none",
                                              ",".join(config.propagation_style_inject) or "none"))  # fmt: skip
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
    if not headers:
        print("\nno headers injected: the inject styles are none, so no trace reaches the next service")
        return 0
    print("\ninjected headers:")
    for name, value in headers.items():
        print("  %s: %s" % (name, value))
    incoming = HTTPPropagator.extract(headers)
    print("\nextracted by the next service:")
    if incoming.trace_id is None:
        print("  no trace: the extract styles read none of the headers the inject styles write")
    else:
        print("  trace_id  %032x" % incoming.trace_id)
        print("  parent_id %016x" % incoming.span_id)
        print("  priority  %s, tags %s, baggage %s" % (incoming.sampling_priority, incoming.meta, incoming.baggage))
    same = (incoming.trace_id, incoming.span_id) == (outgoing.trace_id, outgoing.span_id)
    print("\nround trip: %s" % ("ok" if same else "MISMATCH"))
    return 0 if same else 1


def demo_command():
    """``ddfast demo``: 0 when the three services' spans form one trace, else 1."""
    from ddfast.tools import demo

    spans, sent = demo.run()
    print(demo.report(spans, sent))
    return 0 if len({s.trace_id for s in spans}) == 1 and len(spans) == 6 else 1


def bench(args):
    """``ddfast bench``: per-request medians for each header set, and how many times slower than
    ddfast compiled each other tracer is."""
    if not args.seconds > 0:
        raise UsageError("--seconds must be positive")

    def progress(header_set, impl, result):
        if not args.json:
            print("  %-9s %-8s %s" % (header_set, impl, _us(result)), file=sys.stderr, flush=True)

    if not args.json:
        print("measuring for about %.0f s (medians; other programs running skew it)..." % args.seconds,
              file=sys.stderr)  # fmt: skip
    results = request_bench.compare(args.headers, seconds=args.seconds, progress=progress)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    impls = request_bench.IMPLEMENTATIONS
    print("\nper request (extract, 2 spans, sampling, inject, encode), median us; (x) = times ddfast compiled")
    print("%-10s" % "headers" + "".join("%20s" % impl for impl in impls))
    for header_set, row in results.items():
        base = row.get("cython")
        cells = []
        for impl in impls:
            value = row[impl]
            if isinstance(value, str):
                cells.append("%20s" % "n/a")
            elif isinstance(base, float):
                cells.append("%20s" % ("%.2f (%.1fx)" % (value * 1e6, value / base)))
            else:
                cells.append("%20s" % ("%.2f" % (value * 1e6)))
        print("%-10s" % header_set + "".join(cells))
    skipped = sorted({"%s: %s" % (i, v) for row in results.values() for i, v in row.items() if isinstance(v, str)})
    for line in skipped:
        print("  " + line)
    return 0


def _us(result):
    return result if isinstance(result, str) else "%.2f us" % (result * 1e6)


def _parser():
    parser = argparse.ArgumentParser(prog="ddfast", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    ex = commands.add_parser("extract", help="decode trace headers read on stdin, style by style")
    ex.add_argument("--json", action="store_true", help="print JSON")
    inj = commands.add_parser("inject", help="print the headers a trace context is sent with")
    inj.add_argument("--trace-id", help="decimal or 0x-hex, up to 128 bits (default: a new one)")
    inj.add_argument("--span-id", help="decimal or 0x-hex (default: a new one)")
    inj.add_argument("--priority", type=int, choices=(-1, 0, 1, 2), default=1)
    inj.add_argument("--origin")
    inj.add_argument("--tag", action="append", metavar="KEY=VALUE", help="a propagated tag (_dd.p.*), repeatable")
    inj.add_argument("--baggage", action="append", metavar="KEY=VALUE", help="a baggage item, repeatable")
    inj.add_argument("--style", action="append", help="a style to inject (default: the configured ones), repeatable")
    inj.add_argument("--json", action="store_true", help="print JSON")
    commands.add_parser("demo", help="trace one request through two services on loopback and print the trace")
    b = commands.add_parser("bench", help="per-request overhead: ddfast vs ddtrace vs OpenTelemetry, on this machine")
    b.add_argument("--seconds", type=float, default=60.0, help="time to spend in all (default: 60)")
    b.add_argument("--headers", action="append", choices=list(request_bench.HEADER_SETS),
                   help="a header set to measure, repeatable (default: all)")  # fmt: skip
    b.add_argument("--json", action="store_true", help="print JSON (seconds per request)")
    return parser


def _why_no_headers(args):
    styles = [s for s in args.style if s != "none"] if args.style else config.propagation_style_inject
    if not styles:
        return "style none writes no header" if args.style else "the configured inject styles are none"
    return "the %s style(s) write nothing for this context" % ",".join(styles)


def main(argv=None, stdin=None):
    try:
        code = _main(argv, stdin)
        sys.stdout.flush()  # here, not at exit: a reader that left is met inside this try
        return code
    except BrokenPipeError:  # the reader left (``ddfast | head``): stop quietly
        try:
            # the interpreter flushes stdout at exit: send what is left nowhere instead of failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (captured)
            pass
        return 1


def _main(argv, stdin):
    args = _parser().parse_args(argv)
    try:
        if args.command == "extract":
            report = extract(parse_headers((stdin or sys.stdin).read()))
            if args.json:
                print(json.dumps(report, indent=2, sort_keys=True))
            else:
                _print_extract(report)
            return 0
        if args.command == "inject":
            headers = inject(args)
            if args.json:
                print(json.dumps(headers, indent=2))
            else:
                for name, value in headers.items():
                    print("%s: %s" % (name, value))
                if not headers:
                    print("ddfast: no headers: %s" % _why_no_headers(args), file=sys.stderr)
            return 0
        if args.command == "demo":
            return demo_command()
        if args.command == "bench":
            return bench(args)
        return overview()
    except UsageError as e:
        print("ddfast: %s" % e, file=sys.stderr)
        return 2
