"""Extraction from a WSGI environ (a dict with ``wsgi.version``), whose headers are looked up by their CGI
names: the same context as the same headers in a header mapping, or in the environ read key by key as any
other dict is, for every style; on both twins."""

import io

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ddfast._pure import propagation as pure

TP = "00-6553a1b20000000064fe8b2a57d3eff7-3ec6688e9cf07615-01"
TP_OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ALL = ("datadog", "tracecontext", "b3multi", "b3", "baggage")

DATADOG = {
    "x-datadog-trace-id": "7277407061855694839",
    "x-datadog-parent-id": "4523417837467891221",
    "x-datadog-sampling-priority": "1",
    "x-datadog-origin": "rum",
    "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=6553a1b200000000",
}
W3C = {"traceparent": TP, "tracestate": "dd=s:1;p:3ec6688e9cf07615;t.dm:-0,rojo=00f067aa0ba902b7"}
B3MULTI = {
    "x-b3-traceid": "6553a1b20000000064fe8b2a57d3eff7",
    "x-b3-spanid": "3ec6688e9cf07615",
    "x-b3-sampled": "1",
    "x-b3-flags": "1",
}
B3 = {"b3": "6553a1b20000000064fe8b2a57d3eff7-3ec6688e9cf07615-1"}
BAGGAGE = {"baggage": "user.id=a1b2c3,session.id=9f8e7d,region=eu-west-1"}
HEADER_SETS = {
    "datadog": DATADOG,
    "w3c": W3C,
    "default": dict(DATADOG, **W3C, **BAGGAGE),
    "all": dict(DATADOG, **W3C, **B3MULTI, **B3, **BAGGAGE),
    "b3-only": dict(B3MULTI, **B3),
    # two traces: the first style's wins, the other becomes a span link
    "conflict": dict(DATADOG, traceparent=TP_OTHER, tracestate="dd=s:2,x=y"),
    "malformed": {
        "x-datadog-trace-id": "-12",
        "x-datadog-parent-id": "abc",
        "traceparent": "00-zz-3ec6f1a2b4c5d6e7-01",
        "tracestate": "dd=s:x",
        "b3": "not-b3",
        "baggage": "=%%%",
    },
    "none": {},
}
SETTINGS = {
    "default": {},
    "all": {"extract_styles": ALL},
    "datadog": {"extract_styles": ("datadog",)},
    "tracecontext": {"extract_styles": ("tracecontext",)},
    "b3multi": {"extract_styles": ("b3multi",)},
    "b3": {"extract_styles": ("b3",)},
    "baggage": {"extract_styles": ("baggage",)},
    "w3c-first": {"extract_styles": ("tracecontext", "datadog", "baggage")},
    "extract-first": {"extract_styles": ALL, "extract_first": True},
    "restart": {"extract_styles": ALL, "behavior_extract": "restart"},
    "ignore": {"behavior_extract": "ignore"},
    "http-baggage": {"extract_styles": ALL, "http_baggage": True},
    "none": {"extract_styles": ()},
}


def cgi(name):
    """The CGI variable of HTTP header ``name`` (PEP 3333)."""
    return "HTTP_" + name.upper().replace("-", "_")


def environ_of(headers, wsgi=True):
    """The environ a WSGI server hands over for a request with ``headers``: the CGI variables and the
    ``wsgi.*`` keys first, then the headers (names made at run time, as a server makes them)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/cart",
        "QUERY_STRING": "page=2",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": "",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "HTTP_HOST": "localhost:8000",
        "HTTP_USER_AGENT": "curl/8.5.0",
        "HTTP_ACCEPT": "*/*",
    }
    if wsgi:
        environ["wsgi.version"] = (1, 0)
    for name, value in headers.items():
        environ["".join(["HTTP_", name.upper().replace("-", "_")])] = value
    return environ


def extracted(prop, carrier, **kwargs):
    return repr(prop.extract(carrier, prop.Settings(**kwargs)))


def value_type_errors(prop, carrier, **kwargs):
    """How many bad header values extracting ``carrier`` counts."""
    before = prop.ERRORS.get("header_value_type", 0)
    prop.extract(carrier, prop.Settings(**kwargs))
    return prop.ERRORS.get("header_value_type", 0) - before


# -- the same context as from a header mapping --------------------------------------------------------


def test_environ_keys_are_the_cgi_names(prop):
    assert prop.WSGI_VERSION == "wsgi.version"
    assert prop.ENVIRON_KEYS == tuple(cgi(name) for name in prop.HEADERS)
    assert prop.ENVIRON_KEYS == pure.ENVIRON_KEYS


@pytest.mark.parametrize("header_set", sorted(HEADER_SETS))
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_environ_gives_the_header_mapping_context(prop, header_set, setting):
    headers = HEADER_SETS[header_set]
    kwargs = SETTINGS[setting]
    expected = extracted(prop, headers, **kwargs)
    assert extracted(prop, environ_of(headers), **kwargs) == expected
    # the environ read key by key, as a dict without wsgi.version is: the same too
    assert extracted(prop, environ_of(headers, wsgi=False), **kwargs) == expected


def test_environ_context_is_the_callers(prop):
    """Not vacuous: the environ's headers are read (a context of the caller's trace, its baggage)."""
    ctx = prop.extract(environ_of(HEADER_SETS["default"]), prop.Settings())
    assert ctx.trace_id == 0x6553A1B20000000064FE8B2A57D3EFF7
    assert ctx.span_id == 4523417837467891221 and ctx.sampling_priority == 1 and ctx.dd_origin == "rum"
    assert ctx.baggage == {"user.id": "a1b2c3", "session.id": "9f8e7d", "region": "eu-west-1"}
    ctx = prop.extract(environ_of(B3MULTI), prop.Settings(extract_styles=("b3multi",)))
    assert ctx.span_id == 0x3EC6688E9CF07615


@pytest.mark.parametrize("ot_baggage", [False, True])
@pytest.mark.parametrize("header_set", sorted(HEADER_SETS))
def test_normalize_environ_as_a_dict(prop, header_set, ot_baggage):
    headers = dict(HEADER_SETS[header_set], **{"ot-baggage-user-id": "u1"})
    found = prop.normalize(environ_of(headers), ot_baggage)
    assert found == prop.normalize(environ_of(headers, wsgi=False), ot_baggage)
    assert {k: v for k, v in found.items() if not k.startswith("ot-baggage-")} == HEADER_SETS[header_set]


# -- value handling ---------------------------------------------------------------------------------


def test_bytes_values_decoded_as_in_a_mapping(prop):
    headers = {"x-datadog-trace-id": b"5", "x-datadog-parent-id": b"6", "x-datadog-origin": b"caf\xc3\xa9\xff"}
    as_bytes = prop.normalize(environ_of(headers))
    assert as_bytes == prop.normalize(headers)
    assert as_bytes["x-datadog-origin"] == "caf\u00e9\\xff"
    assert extracted(prop, environ_of(headers)) == extracted(prop, headers)


def test_values_of_other_types_counted_as_in_a_mapping(prop):
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": 6, "x-datadog-sampling-priority": None, "b3": 1.5}
    kwargs = {"extract_styles": ALL}
    assert value_type_errors(prop, environ_of(headers), **kwargs) == 2
    assert value_type_errors(prop, headers, **kwargs) == 2
    ctx = prop.extract(environ_of(headers), prop.Settings(**kwargs))
    assert (ctx.trace_id, ctx.span_id, ctx.sampling_priority) == (5, None, None)
    assert extracted(prop, environ_of(headers), **kwargs) == extracted(prop, headers, **kwargs)


def test_repeated_headers_as_the_server_joins_them(prop):
    """A WSGI server gives a repeated header once, its values joined with ",": the environ gives what the
    pairs it came from give (tracestate members in order; two traceparents: no valid one)."""
    pairs = [("traceparent", TP), ("tracestate", "a=1"), ("tracestate", "dd=s:2"), ("baggage", "k=v")]
    pairs.append(("baggage", "k2=v2"))
    environ = environ_of({"traceparent": TP, "tracestate": "a=1,dd=s:2", "baggage": "k=v,k2=v2"})
    assert extracted(prop, environ, extract_styles=ALL) == extracted(prop, pairs, extract_styles=ALL)
    ctx = prop.extract(environ, prop.Settings(extract_styles=ALL))
    assert ctx.meta["tracestate"] == "dd=s:2,a=1" and ctx.baggage == {"k": "v", "k2": "v2"}
    two = [("traceparent", TP), ("traceparent", TP_OTHER), ("x-datadog-trace-id", "5")]
    environ = environ_of({"traceparent": TP + "," + TP_OTHER, "x-datadog-trace-id": "5"})
    assert extracted(prop, environ, extract_styles=ALL) == extracted(prop, two, extract_styles=ALL)
    assert prop.extract(environ, prop.Settings(extract_styles=("tracecontext",))).trace_id is None


# -- what an environ is ---------------------------------------------------------------------------------


def test_in_an_environ_only_cgi_names_are_headers(prop):
    """PEP 3333 names every header ``HTTP_<NAME>``: other spellings in an environ are not request
    headers there (ddtrace's WSGI middleware reads only ``HTTP_*`` keys too)."""
    environ = environ_of({})
    environ.update({"x-datadog-trace-id": "5", "http_x_datadog_parent_id": "6", "Traceparent": TP})
    assert prop.normalize(environ) == {}
    assert prop.extract(environ, prop.Settings()) == prop.Context()
    environ["HTTP_X_DATADOG_TRACE_ID"] = "7"
    assert prop.normalize(environ) == {"x-datadog-trace-id": "7"}


def test_a_dict_without_wsgi_version_is_read_case_insensitively(prop):
    """Only an environ is read by lookups: any other dict, one of CGI names included, keeps every
    spelling of a name, its list headers joined."""
    carrier = environ_of({"x-datadog-trace-id": "5"}, wsgi=False)
    carrier.update({"http_x_datadog_parent_id": "6", "Traceparent": TP, "HTTP_TRACESTATE": "a=1", "tracestate": "b=2"})
    assert prop.normalize(carrier) == {
        "x-datadog-trace-id": "5",
        "x-datadog-parent-id": "6",
        "traceparent": TP,
        "tracestate": "a=1,b=2",
    }


def test_a_dict_subclass_is_read_key_by_key(prop):
    class Environ(dict):
        pass

    carrier = Environ(environ_of({"x-datadog-trace-id": "5"}), http_x_datadog_parent_id="6")
    assert prop.normalize(carrier) == {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6"}


def test_ot_baggage_from_an_environ(prop):
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "ot-baggage-user-id": "u1"}
    environ = environ_of(headers)
    environ.update({"HTTP_OT_BAGGAGE_Region": "eu", "http_ot_baggage_ignored": "x", "HTTP_OT_BAGGAGE_BAD": 3})
    kwargs = {"http_baggage": True}
    ctx = prop.extract(environ, prop.Settings(**kwargs))
    assert ctx.baggage == {"user_id": "u1", "region": "eu"}
    assert prop.normalize(environ, True) == dict(
        {k: v for k, v in headers.items() if not k.startswith("ot-")},
        **{"ot-baggage-user_id": "u1", "ot-baggage-region": "eu"},
    )
    assert value_type_errors(prop, environ, **kwargs) == 1
    assert value_type_errors(prop, environ) == 0  # not read unless asked for
    assert prop.extract(environ, prop.Settings()).baggage == {}
    canonical = environ_of(headers)
    assert extracted(prop, canonical, **kwargs) == extracted(prop, environ_of(headers, wsgi=False), **kwargs)


# -- the environ read by lookups against the environ read key by key, on hostile input -------------------

NAMES = list(pure.HEADERS) + ["ot-baggage-x", "ot-baggage-User", "host"]
VALUES = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789abcdef-,;=:~ ", max_size=60),
    st.sampled_from([TP, TP_OTHER, "dd=s:2;t.dm:-4", "7277407061855694839", "k=v,u=w", "", " "]),
    st.binary(max_size=30),
    st.sampled_from([None, 5, 2.5, ("x",)]),
)
SPECS = st.tuples(
    st.lists(st.sampled_from(ALL), unique=True),
    st.booleans(),
    st.sampled_from(["continue", "restart", "ignore"]),
    st.booleans(),
)


def spec_settings(prop, spec):
    styles, first, behavior, http_baggage = spec
    return prop.Settings(styles, styles, first, behavior, 512, True, 64, 8192, ("*",), http_baggage)


@settings(max_examples=300)
@given(headers=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=10), spec=SPECS)
def test_lookups_agree_with_the_key_by_key_read(prop, headers, spec):
    s = spec_settings(prop, spec)
    before = prop.ERRORS.get("header_value_type", 0)
    ours = repr(prop.extract(environ_of(headers), s))
    counted = prop.ERRORS.get("header_value_type", 0) - before
    before = prop.ERRORS.get("header_value_type", 0)
    scanned = repr(prop.extract(environ_of(headers, wsgi=False), s))
    assert ours == scanned
    assert counted == prop.ERRORS.get("header_value_type", 0) - before
    assert prop.normalize(environ_of(headers), spec[3]) == prop.normalize(environ_of(headers, wsgi=False), spec[3])


@settings(max_examples=200)
@given(headers=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=10), spec=SPECS)
def test_twins_agree_on_environs(compiled_prop, headers, spec):
    ours = compiled_prop.extract(environ_of(headers), spec_settings(compiled_prop, spec))
    theirs = pure.extract(environ_of(headers), spec_settings(pure, spec))
    assert repr(ours) == repr(theirs)


class Colliding:
    """A key with the hash of ``name`` that raises when compared with it."""

    def __init__(self, name):
        self.hash = hash(name)

    def __hash__(self):
        return self.hash

    def __eq__(self, other):
        raise RuntimeError("not comparable")


def test_keys_that_fail_to_compare_are_no_headers(prop):
    headers = {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6"}
    environ = environ_of(headers)
    environ[Colliding("HTTP_TRACEPARENT")] = TP
    ctx = prop.extract(environ, prop.Settings(extract_styles=ALL))
    assert (ctx.trace_id, ctx.span_id) == (5, 6)
    carrier = environ_of(headers, wsgi=False)
    carrier[Colliding("wsgi.version")] = (1, 0)  # not an environ then: read key by key
    carrier["http_b3"] = "1"
    assert prop.normalize(carrier) == dict(headers, b3="1")


def test_an_environ_is_a_dict_with_the_key(prop):
    assert prop.normalize({"wsgi.version": None, "HTTP_B3": "1", "b3": "0"}) == {"b3": "1"}
