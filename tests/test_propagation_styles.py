"""Each propagation style, both ways, on both implementations: the wire formats of
../shared/reference/wire-formats.md, the W3C Trace Context and Baggage specs, and openzipkin/b3."""

import pytest

TID_HI = 0x6B06331600000000
LOW = 0x64FE8B2A57D3EFF7
TRACE_128 = (TID_HI << 64) | LOW
SPAN = 0x00F067AA0BA902B7


def S(prop, **kw):
    return prop.Settings(**kw)


def extract(prop, headers, **kw):
    return prop.extract(headers, S(prop, **kw))


def inject(prop, ctx, **kw):
    headers = {}
    prop.inject(ctx, headers, S(prop, **kw))
    return headers


# -- datadog ---------------------------------------------------------------------------------------


def test_datadog_extract_full(prop):
    ctx = extract(
        prop,
        {
            "x-datadog-trace-id": str(LOW),
            "x-datadog-parent-id": str(SPAN),
            "x-datadog-sampling-priority": "2",
            "x-datadog-origin": "synthetics",
            "x-datadog-tags": "_dd.p.dm=-4,_dd.p.tid=%016x,_dd.p.usr.id=baz64,other=x" % TID_HI,
        },
        extract_styles=("datadog",),
    )
    assert ctx.trace_id == TRACE_128
    assert ctx.span_id == SPAN
    assert ctx.sampling_priority == 2
    assert ctx.dd_origin == "synthetics"
    assert ctx.meta == {
        "_dd.p.dm": "-4",
        "_dd.p.tid": "%016x" % TID_HI,
        "_dd.p.usr.id": "baz64",
        "_dd.origin": "synthetics",  # where ddtrace's Context keeps the origin too
    }
    assert ctx.is_remote is True


def test_datadog_tid_ignored_when_128bit_is_off(prop):
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-tags": "_dd.p.tid=%016x" % TID_HI}
    assert extract(prop, headers, extract_styles=("datadog",), trace_id_128=False).trace_id == 5
    assert extract(prop, headers, extract_styles=("datadog",)).trace_id == (TID_HI << 64) | 5


@pytest.mark.parametrize("tid", ["6B06331600000000", "6b0633160000000", "6b063316000000000", "0000000000000000", "zz"])
def test_datadog_malformed_tid_is_recorded(prop, tid):
    ctx = extract(
        prop,
        {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-tags": "_dd.p.tid=" + tid},
        extract_styles=("datadog",),
    )
    assert ctx.trace_id == 5
    assert ctx.meta == {"_dd.propagation_error": "malformed_tid " + tid}


@pytest.mark.parametrize(
    "tags,error",
    [("x" * 513, "extract_max_size"), ("_dd.p.a", "decoding_error"), ("=1", "decoding_error"),
     ("_dd.p.a=1,,b=2", "decoding_error"), ("_dd.p a=1", "decoding_error"), ("_dd.p.a=\u00e9", "decoding_error"),
     ("_dd.p.dm=4", "decoding_error"), ("_dd.p.dm=-256", "decoding_error")],
)  # fmt: skip
def test_datadog_bad_tags_are_recorded(prop, tags, error):
    ctx = extract(prop, {"x-datadog-trace-id": "5", "x-datadog-tags": tags}, extract_styles=("datadog",))
    assert ctx.trace_id == 5
    assert ctx.meta.get("_dd.propagation_error") == error
    assert not [k for k in ctx.meta if k.startswith("_dd.p.")]


def test_datadog_tags_filter_and_trailing_comma(prop):
    ctx = extract(
        prop,
        {"x-datadog-trace-id": "5", "x-datadog-tags": "_dd.p.a= x y ,_dd.p.upstream_services=z,b=c,_dd.p.dm=-255,"},
        extract_styles=("datadog",),
    )
    assert ctx.meta == {"_dd.p.a": "x y", "_dd.p.dm": "-255"}


@pytest.mark.parametrize(
    "headers",
    [
        {"x-datadog-trace-id": "0"},
        {"x-datadog-trace-id": "-5"},
        {"x-datadog-trace-id": "+5"},
        {"x-datadog-trace-id": " 5"},
        {"x-datadog-trace-id": "18446744073709551616"},
        {"x-datadog-trace-id": "abc"},
        {"x-datadog-trace-id": ""},
        {"x-datadog-trace-id": "5", "x-datadog-parent-id": "x"},
        {"x-datadog-trace-id": "5", "x-datadog-parent-id": "-1"},
        {"x-datadog-trace-id": "5", "x-datadog-sampling-priority": "one"},
        {"x-datadog-trace-id": "5", "x-datadog-sampling-priority": "1.0"},
    ],
)
def test_datadog_invalid_ids_yield_nothing(prop, headers):
    ctx = extract(prop, headers, extract_styles=("datadog",))
    assert ctx.trace_id is None and ctx.span_id is None and ctx.sampling_priority is None


def test_datadog_zero_parent_and_bad_origin(prop):
    ctx = extract(
        prop,
        {"x-datadog-trace-id": "5", "x-datadog-parent-id": "0", "x-datadog-origin": "r\u00fcm"},
        extract_styles=("datadog",),
    )
    assert (ctx.trace_id, ctx.span_id, ctx.dd_origin) == (5, None, None)


def test_datadog_inject_128bit(prop):
    ctx = prop.Context(trace_id=TRACE_128, span_id=SPAN, sampling_priority=1, dd_origin="rum", meta={"_dd.p.dm": "-3"})
    headers = inject(prop, ctx, inject_styles=("datadog",))
    assert headers == {
        "x-datadog-trace-id": str(LOW),
        "x-datadog-parent-id": str(SPAN),
        "x-datadog-sampling-priority": "1",
        "x-datadog-origin": "rum",
        "x-datadog-tags": "_dd.p.dm=-3,_dd.p.tid=%016x" % TID_HI,
    }
    assert ctx.meta["_dd.p.tid"] == "%016x" % TID_HI


def test_datadog_inject_tag_limits(prop):
    meta = {"_dd.p.a": "x" * 20, "_dd.p.b": "y"}
    ctx = prop.Context(trace_id=5, span_id=6, meta=dict(meta))
    assert "x-datadog-tags" not in inject(prop, ctx, inject_styles=("datadog",), tags_max_length=20)
    assert ctx.meta["_dd.propagation_error"] == "inject_max_size"
    ctx = prop.Context(trace_id=5, span_id=6, meta=dict(meta))
    assert "x-datadog-tags" not in inject(prop, ctx, inject_styles=("datadog",), tags_max_length=0)
    assert ctx.meta["_dd.propagation_error"] == "disabled"
    ctx = prop.Context(trace_id=5, span_id=6, meta={"_dd.p.a": "x,y"})
    assert "x-datadog-tags" not in inject(prop, ctx, inject_styles=("datadog",))
    assert ctx.meta["_dd.propagation_error"] == "encoding_error"
    ctx = prop.Context(trace_id=5, span_id=6, meta={"_dd.p.a": 5})
    assert "x-datadog-tags" not in inject(prop, ctx, inject_styles=("datadog",))
    assert ctx.meta["_dd.propagation_error"] == "encoding_error"


@pytest.mark.parametrize("is_remote", [False, True])
@pytest.mark.parametrize("extra", [0, 3, 31, 32, 33, 40])
@pytest.mark.parametrize("tid", [None, "wrong", "%016x" % TID_HI])
def test_inject_reads_meta_in_order(prop, extra, tid, is_remote):
    """Tags go out in meta's order in both headers, up to and past the count one inject pass holds; a
    _dd.p.tid that is wrong is replaced where it stands, a missing one is added last."""
    meta = {"_dd.p.dm": "-4", "other": "x"}
    if tid is not None:
        meta["_dd.p.tid"] = tid
    for i in range(extra):
        meta["_dd.p.n%d" % i] = "v%d" % i
    meta["_dd.p.usr.id"] = "u"
    ctx = prop.Context(trace_id=TRACE_128, span_id=SPAN, sampling_priority=1, meta=dict(meta), is_remote=is_remote)
    headers = inject(prop, ctx, inject_styles=("datadog", "tracecontext"), tags_max_length=2048)
    order = [k for k in meta if k.startswith("_dd.p.")] + ([] if tid is not None else ["_dd.p.tid"])
    assert list(ctx.meta) == list(meta) + ([] if tid is not None else ["_dd.p.tid"])
    assert ctx.meta["_dd.p.tid"] == "%016x" % TID_HI
    assert headers["x-datadog-tags"] == ",".join("%s=%s" % (k, ctx.meta[k]) for k in order)
    member = headers["tracestate"][3:] if is_remote else headers["tracestate"].split(";", 1)[1]
    items = ["s:1", "t.dm:-4", "t.usr.id:u"]
    for k in order:
        if k not in ("_dd.p.dm", "_dd.p.usr.id") and len(";".join(items + ["t.%s:%s" % (k[6:], ctx.meta[k])])) <= 234:
            items.append("t.%s:%s" % (k[6:], ctx.meta[k]))
    assert member == ";".join(items)


def test_datadog_tags_follow_each_context_and_limit(prop):
    """The same tag objects injected again, between other contexts' tags and under other limits, give
    each time the text (or the error) of that context and that limit."""
    shared_key, shared_value = "_dd.p.usr.id", "u" * 12
    a = {"_dd.p.dm": "-4", shared_key: shared_value}
    b = {"_dd.p.dm": "-4", shared_key: "v"}
    expected_a = "_dd.p.dm=-4,_dd.p.usr.id=" + shared_value
    for _ in range(3):
        for meta, expected in ((a, expected_a), (b, "_dd.p.dm=-4,_dd.p.usr.id=v"), (a, expected_a)):
            ctx = prop.Context(trace_id=5, span_id=6, meta=dict(meta))
            assert inject(prop, ctx, inject_styles=("datadog",))["x-datadog-tags"] == expected
        ctx = prop.Context(trace_id=5, span_id=6, meta=dict(a))
        assert "x-datadog-tags" not in inject(prop, ctx, inject_styles=("datadog",), tags_max_length=20)
        assert ctx.meta["_dd.propagation_error"] == "inject_max_size"
        ctx = prop.Context(trace_id=5, span_id=6, meta={"_dd.p.dm": "-4"})
        assert inject(prop, ctx, inject_styles=("datadog",))["x-datadog-tags"] == "_dd.p.dm=-4"
        ctx = prop.Context(trace_id=5, span_id=6, meta={"other": "x"})
        assert "x-datadog-tags" not in inject(prop, ctx, inject_styles=("datadog",))


def test_inject_str_subclass_keys_are_tags(prop):
    class Key(str):
        pass

    meta = {Key("_dd.p.x"): "y", Key("_dd.p.dm"): "-3", Key("tracestate"): "a=1"}
    ctx = prop.Context(trace_id=5, span_id=6, sampling_priority=1, meta=meta, is_remote=False)
    headers = inject(prop, ctx, inject_styles=("datadog", "tracecontext"))
    assert headers["x-datadog-tags"] == "_dd.p.x=y,_dd.p.dm=-3"
    assert headers["tracestate"] == "dd=p:%016x;s:1;t.dm:-3;t.x:y,a=1" % 6


def test_datadog_round_trip(prop):
    ctx = prop.Context(trace_id=TRACE_128, span_id=SPAN, sampling_priority=-1, dd_origin="synthetics")
    back = extract(prop, inject(prop, ctx, inject_styles=("datadog",)), extract_styles=("datadog",))
    assert (back.trace_id, back.span_id, back.sampling_priority, back.dd_origin) == (TRACE_128, SPAN, -1, "synthetics")


# ids next to every boundary of CPython's int digits (15 and 30 bits) and of the 64-bit halves: the
# compiled core reads and builds ints digit by digit
BOUNDARY_IDS = sorted(
    {v for k in range(1, 129) for v in ((1 << k) - 1, 1 << k, (1 << k) + 1) if 0 < v < 1 << 128}
    | {(1 << 128) - 1, (0xFFFFFFFF << 96) | 1, 0x8000000000000000_0000000000000001}
    # decimal digit counts (the datadog ids are written 8 digits at a time) and the hex digits 9 / a
    | {10**k + d for k in range(39) for d in (-1, 0, 1) if 0 < 10**k + d < 1 << 128}
    | {int(c * 32, 16) for c in "0123456789abcdef" if c != "0"}
    | {int(("9a" * 16)[i:] + ("a9" * 16)[:i], 16) for i in range(32)}
)


@pytest.mark.parametrize("style", ["datadog", "tracecontext", "b3"])
def test_ids_round_trip_at_digit_boundaries(prop, style):
    for trace_id in BOUNDARY_IDS:
        span_id = trace_id & 0xFFFFFFFFFFFFFFFF or 1
        ctx = prop.Context(trace_id=trace_id, span_id=span_id, sampling_priority=1)
        headers = inject(prop, ctx, inject_styles=(style,))
        if style == "tracecontext":
            assert headers["traceparent"] == "00-%032x-%016x-01" % (trace_id, span_id)
        elif style == "datadog":
            assert headers["x-datadog-trace-id"] == str(trace_id & 0xFFFFFFFFFFFFFFFF)
            assert headers["x-datadog-parent-id"] == str(span_id)
        back = extract(prop, headers, extract_styles=(style,))
        expected = trace_id if style != "datadog" or trace_id & 0xFFFFFFFFFFFFFFFF else None
        assert (back.trace_id, back.span_id) == ((expected, span_id) if expected else (None, None)), hex(trace_id)


# -- b3 --------------------------------------------------------------------------------------------


def test_b3multi_both_ways(prop):
    ctx = prop.Context(trace_id=TRACE_128, span_id=SPAN, sampling_priority=2)
    headers = inject(prop, ctx, inject_styles=("b3multi",))
    assert headers == {"x-b3-traceid": "%032x" % TRACE_128, "x-b3-spanid": "%016x" % SPAN, "x-b3-flags": "1"}
    back = extract(prop, headers, extract_styles=("b3multi",))
    assert (back.trace_id, back.span_id, back.sampling_priority) == (TRACE_128, SPAN, 2)
    headers = inject(prop, prop.Context(trace_id=5, span_id=6, sampling_priority=0), inject_styles=("b3multi",))
    assert headers == {"x-b3-traceid": "0000000000000005", "x-b3-spanid": "0000000000000006", "x-b3-sampled": "0"}


@pytest.mark.parametrize(
    "value,expected",
    [
        ("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
         (0x80F198EE56343BA864FE8B2A57D3EFF7, 0xE457B5A2E4D86BD1, 1)),
        ("64fe8b2a57d3eff7-e457b5a2e4d86bd1-d", (0x64FE8B2A57D3EFF7, 0xE457B5A2E4D86BD1, 2)),
        ("64FE8B2A57D3EFF7-E457B5A2E4D86BD1", (0x64FE8B2A57D3EFF7, 0xE457B5A2E4D86BD1, None)),
        ("0", (None, None, 0)),
        ("1", (None, None, 1)),
        ("d", (None, None, 2)),
    ],
)  # fmt: skip
def test_b3_single_extract(prop, value, expected):
    ctx = extract(prop, {"b3": value}, extract_styles=("b3",))
    assert (ctx.trace_id, ctx.span_id, ctx.sampling_priority) == expected


@pytest.mark.parametrize(
    "value", ["xyz-e457b5a2e4d86bd1-1", "64fe8b2a57d3eff7-", "-", "1" * 33 + "-1-1", "a-" + "1" * 17]
)
def test_b3_single_invalid(prop, value):
    ctx = extract(prop, {"b3": value}, extract_styles=("b3",))
    assert ctx.trace_id is None and ctx.span_id is None and ctx.sampling_priority is None


def test_b3_single_inject(prop):
    assert inject(prop, prop.Context(trace_id=TRACE_128, span_id=SPAN, sampling_priority=1), inject_styles=("b3",)) == {
        "b3": "%032x-%016x-1" % (TRACE_128, SPAN)
    }
    assert inject(prop, prop.Context(trace_id=5, span_id=6), inject_styles=("b3",)) == {"b3": "%016x-%016x" % (5, 6)}
    assert inject(prop, prop.Context(trace_id=5, span_id=6, sampling_priority=-1), inject_styles=("b3",)) == {
        "b3": "%016x-%016x-0" % (5, 6)
    }


# -- tracecontext ----------------------------------------------------------------------------------

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_traceparent_extract(prop):
    ctx = extract(prop, {"traceparent": TP}, extract_styles=("tracecontext",))
    assert ctx.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert ctx.span_id == 0xB7AD6B7169203331
    assert ctx.sampling_priority == 1
    assert ctx.meta == {"traceparent": TP}


@pytest.mark.parametrize(
    "tp",
    [
        TP.upper(),
        "ff" + TP[2:],
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        TP + "-extra",
        TP[:-1],
        TP.replace("-", "_"),
        "0" + TP,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
        "",
    ],
)
def test_traceparent_invalid(prop, tp):
    ctx = extract(prop, {"traceparent": tp, "tracestate": "dd=s:2"}, extract_styles=("tracecontext",))
    assert ctx.trace_id is None and ctx.span_id is None


def test_traceparent_future_version_and_whitespace(prop):
    ctx = extract(prop, {"traceparent": " 01" + TP[2:] + "-what-ever \t"}, extract_styles=("tracecontext",))
    assert ctx.trace_id == 0x0AF7651916CD43DD8448EB211C80319C


@pytest.mark.parametrize(
    "flags,state,priority",
    [("01", "dd=s:2", 2), ("01", "dd=s:-1", 1), ("00", "dd=s:2", 0), ("00", "dd=s:-1", -1), ("01", "", 1),
     ("00", "dd=o:rum", None), ("01", "dd=s:x", 1), ("03", "dd=s:1", 1)],
)  # fmt: skip
def test_tracestate_priority_reconciliation(prop, flags, state, priority):
    headers = {"traceparent": TP[:-2] + flags, "tracestate": state}
    assert extract(prop, headers, extract_styles=("tracecontext",)).sampling_priority == priority


def test_tracestate_dd_member(prop):
    ctx = extract(
        prop,
        {"traceparent": TP, "tracestate": "foo=1, dd=s:2;o:rum~1;t.dm:-4;t.usr.id:baz64~~;p:00f067aa0ba902b7 ,bar=2"},
        extract_styles=("tracecontext",),
    )
    assert ctx.dd_origin == "rum=1"
    assert ctx.meta == {
        "traceparent": TP,
        "tracestate": "dd=s:2;o:rum~1;t.dm:-4;t.usr.id:baz64~~;p:00f067aa0ba902b7,foo=1,bar=2",
        "_dd.p.dm": "-4",
        "_dd.p.usr.id": "baz64==",
        "_dd.parent_id": "00f067aa0ba902b7",
        "_dd.origin": "rum=1",
    }


def test_tracestate_non_hex_p_is_kept_recorded_and_reinject_never_raises(prop):
    # kept as sent (the conformance suite reads it on the span), counted, and never sent on
    before = dict(prop.ERRORS)
    ctx = extract(prop, {"traceparent": TP, "tracestate": "dd=p:XYZ;s:1"}, extract_styles=("tracecontext",))
    assert ctx.meta["_dd.parent_id"] == "XYZ"
    assert prop.ERRORS.get("tracestate_p", 0) == before.get("tracestate_p", 0) + 1
    headers = inject(prop, ctx, inject_styles=("tracecontext",))
    assert headers["tracestate"] == "dd=s:1"


def test_tracestate_limits(prop):
    members = ",".join("k%d=v" % i for i in range(40))
    ctx = extract(prop, {"traceparent": TP, "tracestate": members + ",dd=s:1"}, extract_styles=("tracecontext",))
    kept = ctx.meta["tracestate"].split(",")
    assert kept[0] == "dd=s:1" and len(kept) == 32 and kept[1:] == ["k%d=v" % i for i in range(31)]
    ctx = extract(prop, {"traceparent": TP, "tracestate": "a=" + "x" * 600}, extract_styles=("tracecontext",))
    assert ctx.meta["tracestate"] == ""
    ctx = extract(prop, {"traceparent": TP, "tracestate": "a=1,b=\u00e9"}, extract_styles=("tracecontext",))
    assert "tracestate" not in ctx.meta and ctx.sampling_priority == 1


def test_tracecontext_inject_local_span(prop):
    ctx = prop.Context(
        trace_id=TRACE_128, span_id=SPAN, sampling_priority=2, dd_origin="syn;th=x", is_remote=False,
        meta={"_dd.p.dm": "-4", "_dd.p.x y": "a,b~c", "tracestate": "foo=bar,dd=s:1;o:old,baz=1"},
    )  # fmt: skip
    headers = inject(prop, ctx, inject_styles=("tracecontext",))
    assert headers == {
        "traceparent": "00-%032x-%016x-01" % (TRACE_128, SPAN),
        "tracestate": "dd=p:%016x;s:2;o:syn_th~x;t.dm:-4;t.x_y:a_b_c,foo=bar,baz=1" % SPAN,
    }


def test_tracecontext_inject_keeps_upstream_trace_id_and_flags(prop):
    upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
    ctx = prop.Context(trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=5, sampling_priority=0,
                       meta={"traceparent": upstream})  # fmt: skip
    assert inject(prop, ctx, inject_styles=("tracecontext",))["traceparent"] == (
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000005-02"
    )


def test_tracecontext_dd_member_stays_under_256(prop):
    meta = {"_dd.p.a": "1", "_dd.p.long": "x" * 300, "_dd.p.b": "2"}
    ctx = prop.Context(trace_id=7, span_id=5, sampling_priority=1, meta=meta, is_remote=False)
    state = inject(prop, ctx, inject_styles=("tracecontext",))["tracestate"]
    assert state == "dd=p:0000000000000005;s:1;t.a:1;t.b:2"


# -- baggage ---------------------------------------------------------------------------------------


def test_baggage_both_ways(prop):
    ctx = prop.Context(trace_id=5, span_id=6, baggage={"user.id": "Amélie", "k,=": "v 1;%", "n": 3})
    headers = inject(prop, ctx, inject_styles=("baggage",))
    assert headers == {"baggage": "user.id=Am%C3%A9lie,k%2C%3D=v%201%3B%25,n=3"}
    back = extract(prop, headers, extract_styles=("baggage",))
    assert back.baggage == {"user.id": "Amélie", "k,=": "v 1;%", "n": "3"}
    assert back.meta == {"baggage.user.id": "Amélie"}


def test_baggage_without_ids_is_still_injected(prop):
    assert inject(prop, prop.Context(baggage={"a": "b"})) == {"baggage": "a=b"}


@pytest.mark.parametrize("value", ["a", "a=1,b", "=1", "a=", "a=1, =2"])
def test_baggage_malformed_is_dropped_whole(prop, value):
    assert extract(prop, {"baggage": value}, extract_styles=("baggage",)).baggage == {}


def test_baggage_limits(prop):
    many = ",".join("k%d=v" % i for i in range(70))
    assert len(extract(prop, {"baggage": many}, extract_styles=("baggage",)).baggage) == 64
    assert len(extract(prop, {"baggage": many}, extract_styles=("baggage",), baggage_max_items=3).baggage) == 3
    big = "a=" + "x" * 10 + ",b=" + "y" * 10
    assert extract(prop, {"baggage": big}, extract_styles=("baggage",), baggage_max_bytes=15).baggage == {"a": "x" * 10}
    ctx = prop.Context(baggage={"k%d" % i: "v" for i in range(70)})
    assert inject(prop, ctx, inject_styles=("baggage",))["baggage"].count(",") == 63
    ctx = prop.Context(baggage={"a": "x" * 10, "b": "y" * 10})
    assert inject(prop, ctx, inject_styles=("baggage",), baggage_max_bytes=15) == {"baggage": "a=" + "x" * 10}


def test_baggage_tag_keys(prop):
    headers = {"baggage": "user.id=u,session.id=s,other=o"}
    assert extract(prop, headers, extract_styles=("baggage",)).meta == {
        "baggage.user.id": "u",
        "baggage.session.id": "s",
    }
    assert extract(prop, headers, extract_styles=("baggage",), baggage_tag_keys=("*",)).meta == {
        "baggage.user.id": "u", "baggage.session.id": "s", "baggage.other": "o",
    }  # fmt: skip
    assert extract(prop, headers, extract_styles=("baggage",), baggage_tag_keys=()).meta == {}


def test_ot_baggage_headers(prop):
    ctx = extract(prop, {"x-datadog-trace-id": "5", "OT-Baggage-Color": "red"}, http_baggage=True)
    assert ctx.baggage == {"color": "red"}
    headers = inject(prop, prop.Context(trace_id=5, span_id=6, baggage={"color": "red"}), http_baggage=True,
                     inject_styles=("datadog",))  # fmt: skip
    assert headers["ot-baggage-color"] == "red"


# -- none ------------------------------------------------------------------------------------------


def test_none_style(prop):
    full = {"x-datadog-trace-id": "5", "traceparent": TP, "baggage": "a=b"}
    assert extract(prop, full, extract_styles=("none",)) == prop.Context()
    assert inject(prop, prop.Context(trace_id=5, span_id=6, baggage={"a": "b"}), inject_styles=("none",)) == {}


def test_tracestate_ot_member_as_ddtrace_keeps_it(prop):
    # OpenTelemetry's member: empty entries dropped, entries kept while the value stays within 256 chars
    ctx = prop.Context(trace_id=7, span_id=5, sampling_priority=1, meta={"tracestate": "ot=p:8;;r:" + "x" * 300})
    assert inject(prop, ctx, inject_styles=("tracecontext",))["tracestate"] == "dd=s:1,ot=p:8"
    ctx = prop.Context(trace_id=7, span_id=5, meta={"tracestate": "ot=;;"})
    assert inject(prop, ctx, inject_styles=("tracecontext",))["tracestate"] == ""
    extracted = extract(prop, {"traceparent": TP, "tracestate": "a=1, ot=;;"}, extract_styles=("tracecontext",))
    assert extracted.meta["tracestate"] == "a=1"
    extracted = extract(prop, {"traceparent": TP, "tracestate": "ot="}, extract_styles=("tracecontext",))
    assert not extracted.meta.get("tracestate")  # an empty value breaks W3C's grammar: nothing is left


@pytest.mark.parametrize(
    "priority,flag", [(None, ""), (-1, "-0"), (0, "-0"), (1, "-1"), (2, "-d"), (7, "-d"), (float("nan"), "")]
)
@pytest.mark.parametrize("trace_id", [5, 2**64 - 1, 2**64, TRACE_128])
def test_b3_inject_every_priority_and_id_width(prop, priority, flag, trace_id):
    ctx = prop.Context(trace_id=trace_id, span_id=SPAN, sampling_priority=priority)
    width = 32 if trace_id >= 2**64 else 16
    trace_hex = "%0*x" % (width, trace_id)
    assert inject(prop, ctx, inject_styles=("b3",)) == {"b3": "%s-%016x%s" % (trace_hex, SPAN, flag)}
    multi = inject(prop, ctx, inject_styles=("b3multi",))
    assert multi["x-b3-traceid"] == trace_hex and multi["x-b3-spanid"] == "%016x" % SPAN


def test_b3_of_another_trace_becomes_a_link_and_of_the_same_trace_adds_nothing(prop):
    headers = {
        "x-datadog-trace-id": "5",
        "x-datadog-parent-id": "6",
        "x-b3-traceid": "%016x" % 5,
        "x-b3-spanid": "%016x" % 99,
        "b3": "%016x-%016x-1" % (7, 8),
    }
    ctx = extract(prop, headers, extract_styles=("datadog", "b3multi", "b3"))
    assert (ctx.trace_id, ctx.span_id) == (5, 6)
    assert [(link.trace_id, link.span_id) for link in ctx.span_links] == [(7, 8)]
    assert ctx.span_links[0].attributes["context_headers"] == "b3"


def test_origin_is_kept_in_meta_as_ddtrace_keeps_it(prop):
    ctx = prop.Context(trace_id=5, span_id=6, dd_origin="synthetics")
    assert ctx.meta["_dd.origin"] == "synthetics"
    ctx.dd_origin = "rum"
    assert ctx.meta["_dd.origin"] == "rum"
    ctx.dd_origin = None
    assert "_dd.origin" not in ctx.meta
    ctx.dd_origin = "bad\norigin"  # not printable: dropped, as ddtrace drops it
    assert ctx.dd_origin is None and "_dd.origin" not in ctx.meta
    # and read from meta when only meta has it, as ddtrace's Context reads it
    assert prop.Context(trace_id=5, meta={"_dd.origin": "lambda"}).dd_origin == "lambda"
    extracted = extract(prop, {"x-datadog-trace-id": "5", "x-datadog-origin": "rum"}, extract_styles=("datadog",))
    assert extracted.meta["_dd.origin"] == "rum" and extracted.dd_origin == "rum"


@pytest.mark.parametrize("flags,kept", [("ff", "03"), ("09", "01"), ("fe", "02"), ("02", "02"), ("00", "00")])
def test_only_the_w3c_flags_are_kept_extracted_reinjected_and_on_child_spans(prop, make_tracer, flags, kept):
    # sampled (bit 0) and random trace id (bit 1, W3C level 2) are defined; any other bit is dropped
    tp = TP[:-2] + flags
    ctx = extract(prop, {"traceparent": tp}, extract_styles=("tracecontext",))
    assert ctx.meta["traceparent"] == TP[:-2] + kept
    assert inject(prop, ctx, inject_styles=("tracecontext",))["traceparent"] == TP[:-2] + kept
    tracer = make_tracer()
    with tracer.start_span("child", child_of=ctx) as child:
        out = inject(prop, child.context, inject_styles=("tracecontext",))
    assert out["traceparent"] == "00-%s-%016x-%s" % (TP[3:35], child.span_id, kept)


def test_a_later_traceparent_version_is_read_as_00(prop):
    ctx = extract(prop, {"traceparent": "cc" + TP[2:] + "-future-fields"}, extract_styles=("tracecontext",))
    assert ctx.trace_id == 0x0AF7651916CD43DD8448EB211C80319C and ctx.meta["traceparent"] == TP
