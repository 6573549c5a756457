"""Write the hand-made seeds of tests/fuzz/corpus/ (``python tests/fuzz/make_seeds.py``): inputs that reach
each path worth fuzzing from. Inputs the fuzzers found are added beside them under their own names."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fuzz_encoding  # noqa: E402

TP = "traceparent:00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TP0 = "traceparent:00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
DD = "x-datadog-trace-id:12345\nx-datadog-parent-id:67890\nx-datadog-sampling-priority:1"

PROPAGATION = {
    "datadog": "d d\n" + DD + "\nx-datadog-origin:rum\nx-datadog-tags:_dd.p.dm=-4,_dd.p.usr.id=baz64",
    "datadog_tid": "d dt\n" + DD + "\nx-datadog-tags:_dd.p.tid=640cfd8d00000000,_dd.p.dm=-3",
    "datadog_long_tags": "d d s\n"
    + DD
    + "\nx-datadog-tags:"
    + ",".join("_dd.p.k%d=%s" % (i, "v" * 20) for i in range(30)),
    "datadog_tags_hostile": "d dt\n" + DD + "\nx-datadog-tags:_dd.p.a=b=c,,_dd.p.=x,_dd.p.x y=1, _dd.p.dm=-4 ,x",
    "tracecontext": "t t\n" + TP + "\ntracestate:dd=s:2;o:rum;p:0123456789abcdef;t.dm:-4;t.usr.id:baz64~~,congo=t61",
    "tracecontext_flag_overrides": "t dt\n" + TP0 + "\ntracestate:dd=s:2;t.dm:-4;t.tid:0af7651916cd43dd",
    "tracestate_w3c_invalid_keys": "t t\n" + TP + "\ntracestate:a=1,FOO=1,@foo=1,foo@=1,0foo=1,foo=bar=baz,foo=,b=2",
    "tracestate_no_equals_long": "t t\n" + TP + "\ntracestate:" + "x" * 300,
    "tracestate_no_equals_long_then_dd": "t t\n" + TP + "\ntracestate:" + "x" * 300 + ",dd=s:1",
    "tracestate_dd_member_long": "t t\n" + TP + "\ntracestate:dd=s:2;o:synthetics;t.dm:-4;t.x:" + "y" * 260,
    "tracestate_dd_member_257": "t t\n" + TP + "\ntracestate:dd=s:1;t.x:" + "y" * 250,
    "tracestate_dd_repeated": "t t\n" + TP + "\ntracestate:dd=s:1;o:a,x=1,dd=s:2;o:b,y=2,dd=s:-1",
    "tracestate_many_members": "t t\n" + TP + "\ntracestate:" + ",".join("m%d=%d" % (i, i) for i in range(40)),
    "tracestate_many_oversized": "t t\n"
    + TP
    + "\ntracestate:"
    + ",".join(("k%d=" % i) + "v" * (130 if i % 3 else 5) for i in range(36)),
    "tracestate_multi_tenant": "t t\n"
    + TP
    + "\ntracestate:"
    + "t1@sys=1,0t@s=2,"
    + "t" * 241
    + "@s=3,"
    + "t" * 242
    + "@s=4,t@"
    + "s" * 14
    + "=5,t@"
    + "s" * 15
    + "=6",
    "tracestate_key_256": "t t\n" + TP + "\ntracestate:" + "k" * 256 + "=1," + "k" * 257 + "=2",
    "tracestate_value_edges": "t t\n" + TP + "\ntracestate:a= 1,b=1 ,c=~,d=!,e=" + "v" * 256 + ",f=" + "v" * 257,
    "tracestate_padding": "t t\n" + TP + "\ntracestate: a=1 , , \t,b=2\t,dd=s:1 ",
    "tracestate_ot": "t t\n" + TP + "\ntracestate:ot=th:8;rv:0123456789abcd,ot=,ot=a=b,x=1",
    "tracestate_non_ascii": "t t\n" + TP + "\ntracestate:a=1,b=\u00e9,dd=s:1",
    "tracestate_repeated_headers": "t t p\n" + TP + "\ntracestate:a=1,FOO=2\ntracestate:dd=s:1\nTRACESTATE:b=3",
    "tracestate_origin_long": "t t\n" + TP + "\ntracestate:dd=s:1;o:" + "o" * 200,
    "tracestate_bad_dd_items": "t t\n" + TP + "\ntracestate:dd=s:x;p:XYZ,dd=s;o:,dd=:",
    "upstream_meta_invalid": "t t\n" + TP + "\n@tracestate:FOO=1,x,a=1,dd=s:1;t.x:" + "z" * 250,
    "upstream_meta_ot_only": "t t l\n@tracestate: ot=x , ot=,ot=a=b",
    "upstream_meta_dm_long": "t t\n@_dd.p.dm:" + "-" * 260 + "\n@tracestate:a=1",
    "upstream_meta_dd_only_long": "t t l\n@tracestate:dd=" + "q" * 250 + "\n@_dd.parent_id:0123456789abcdef",
    "b3": "m mb\nx-b3-traceid:80f198ee56343ba864fe8b2a57d3eff7\nx-b3-spanid:e457b5a2e4d86bd1\nx-b3-sampled:1",
    "b3_single": "b bm\nb3:80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d-05e3ac9a4f6e3b90",
    "baggage": "dg dg h\n" + DD + "\nbaggage:user.id=amazing,k=%E9,=x,a=b=c, sp ace = v ",
    "all_styles_conflict": "dtmbg dtmbg\n" + DD + "\n" + TP + "\ntracestate:dd=s:1;p:0000000000000001,x=1"
    "\nb3:1-2-1\nbaggage:a=b",
    "restart": "dtg dtg r\n" + DD + "\n" + TP + "\nbaggage:a=1",
    "ignore_first": "td td fi\n" + TP + "\n" + DD,
    "wsgi_names": "d t\nHTTP_X_DATADOG_TRACE_ID:5\nHTTP_X_DATADOG_PARENT_ID:6\nHTTP_TRACESTATE:a=1",
    "traceparent_later_version": "t t\ntraceparent:cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff-xyz",
}


def _span(name, **kw):
    span = {"name": name, "service": "svc", "resource": "GET /", "span_type": "web", "span_id": 1, "parent_id": None,
            "calls": [], "start": 1_700_000_000_000_000_000, "duration": 1_000}  # fmt: skip
    span.update(kw)
    return span


ENCODING = {
    "one_span": ("v0.4", (0, 0), [(5, [_span("web")])]),
    "one_span_v05": ("v0.5", (0, 0), [(5, [_span("web")])]),
    "ids_128": ("v0.5", (0, 0), [(2**128 - 1, [_span("a", span_id=2**64 - 1, parent_id=2**63)])]),
    "tags_and_metrics": (
        "v0.4",
        (0, 0),
        [
            (
                7,
                [
                    _span(
                        "x",
                        calls=[
                            ("set_tag", ("k", "v")),
                            ("set_tag", ("_dd.origin", "rum")),
                            ("set_metric", ("m", 2**64 - 1)),
                            ("set_metric", ("n", float("nan"))),
                            ("set_metric", ("b", True)),
                            ("set_tag", ("list", ["a", "b"])),
                        ],
                    )
                ],
            )
        ],
    ),  # fmt: skip
    "tags_edges_v05": (
        "v0.5",
        (0, 0),
        [
            (
                7,
                [
                    _span(
                        "x",
                        service=None,
                        resource=None,
                        span_type=None,
                        calls=[
                            ("set_tag", ("env", "prod")),
                            ("set_metric", ("i", -(2**63) - 1)),
                            ("set_metric", ("f", 1e300)),
                            ("set_tag", ("version", None)),
                            ("error", (1,)),
                        ],
                    )
                ],
            )
        ],
    ),  # fmt: skip
    "links": (
        "v0.4",
        (0, 0),
        [
            (
                9,
                [
                    _span(
                        "l",
                        calls=[
                            ("set_link", (2**127, 3, "dd=s:1;t.dm:-0", 1, {"a": "b", "c": ["x"]})),
                            ("set_link", (0, 0, None, None, {})),
                            ("set_link", (5, 6, None, 2**40, {"k": 1.5})),
                        ],
                    )
                ],
            )
        ],
    ),  # fmt: skip
    "surrogates": ("v0.5", (0, 0), [(3, [_span("s\udcff", calls=[("set_tag", ("k\udc80", "v\udcfe"))])])]),
    "many_traces_small_buffer": (
        "v0.4",
        (4, 2),
        [(i + 1, [_span("t%d" % i, calls=[("set_tag", ("k", "x" * 60))]) for _ in range(3)]) for i in range(3)],
    ),
    "item_too_large": ("v0.5", (3, 1), [(1, [_span("big", calls=[("set_tag", ("k", "x" * 250))]) for _ in range(4)])]),
}


def main():
    for name, text in PROPAGATION.items():
        with open(os.path.join(HERE, "corpus", "propagation", name), "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))
    for name, (version, limits, traces) in ENCODING.items():
        with open(os.path.join(HERE, "corpus", "encoding", name), "wb") as f:
            f.write(fuzz_encoding.encode_seed(version, limits, traces))


if __name__ == "__main__":
    main()
