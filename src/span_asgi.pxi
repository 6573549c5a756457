# Spans: an ASGI integration's per-request work, compiled: the server span started and the ``send`` of a
# traced request (no coroutine per message), the span ended when the application returns or raises.
# Included by src/span.pyx (one extension module); pure twin: ddfast/_pure/span_asgi.py.

cdef str _RESPONSE_START = "http.response.start"
cdef str _HTTP_SCOPE = "http"


@cython.final
cdef class AsgiSend:
    """The ``send`` an ASGI middleware hands its application for one traced request: when the response
    starts, its status and header tags go on the request's span (``HttpTracer.status``); every message
    is passed on to the server's ``send``, whose awaitable it returns for the application to await (no
    coroutine of its own per message). ``done()`` and ``failed(exc)`` end the span when the application
    returns or raises, named after the route left in ``scope`` (the request's, when given)."""

    cdef readonly HttpTracer http
    cdef readonly Span span
    cdef readonly object send
    cdef readonly object scope

    def __init__(self, HttpTracer http not None, Span span not None, send, scope=None):
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        self.http = http
        self.span = span
        self.send = send
        self.scope = scope

    def __call__(self, message):
        if type(message) is dict and (<dict>message).get("type") == _RESPONSE_START:
            self.http.status(self.span, (<dict>message).get("status", 200), (<dict>message).get("headers", ()))
        return self.send(message)

    cpdef int done(self) except -1:
        """The application returned: the span named after the request's route (``HttpTracer.annotate``)
        and finished."""
        self.http.annotate(self.span, self.scope)
        return finish_now(self.span)

    cpdef int failed(self, exc) except -1:
        """The application raised ``exc``: recorded, with the status 500 when no response started, the span
        named after the request's route and finished."""
        if STATUS_CODE_KEY not in self.span.get_tags():
            self.http.status(self.span, 500)
        self.http.annotate(self.span, self.scope)
        return self.http.finish(self.span, exc)


@cython.final
cdef class AsgiTracing:
    """One ASGI integration's request path, made once when its middleware is (``asgi.TraceMiddleware``,
    the patched ASGI application classes): ``start(scope, send)`` is the whole per-request start in one
    call."""

    cdef readonly HttpTracer http
    cdef readonly HttpNames names

    def __init__(self, HttpTracer http not None, HttpNames names not None):
        self.http = http
        self.names = names

    cpdef AsgiSend start(self, object scope, object send):
        """The server span of an HTTP ``scope``'s request, started (``HttpTracer.asgi_start``), and the
        ``send`` to hand the application: an ``AsgiSend`` over the server's ``send``, which ends the span
        (``done`` / ``failed``). None when the request is not traced: not an HTTP scope (a dict whose
        ``type`` is ``"http"``), the tracer off, or an outer ddfast middleware traces it."""
        if type(scope) is not dict or (<dict>scope).get("type") != _HTTP_SCOPE:
            return None
        if not callable(send):
            raise TypeError("send is the server's ASGI send (a callable), not %s" % type(send).__name__)
        span = self.http.asgi_start(self.names, <dict>scope)
        if span is None:
            return None
        cdef AsgiSend traced = AsgiSend.__new__(AsgiSend)
        traced.http = self.http
        traced.span = span
        traced.send = send
        traced.scope = scope
        return traced


# -- an HTTP client's request, read in C ----------------------------------------------------------------

cdef str _url_of_parts(tuple parts):
    """The text of a URL of parts ``(scheme, userinfo, host, port, path, query, fragment)``, composed as
    RFC 3986 (5.3) does: an IPv6 host in brackets, ``userinfo@``, ``:port``; an absent query or fragment is
    None (an empty one is "")."""
    scheme, userinfo, host, port, path, query, fragment = parts
    if type(host) is str and ":" in <str>host:
        host = f"[{host}]"
    if userinfo:
        host = f"{userinfo}@{host}"
    if port is not None:
        host = f"{host}:{port}"
    if scheme and host:
        text = f"{scheme}://{host}{path}"
    else:
        text = f"{scheme + ':' if scheme else ''}{'//' + host if host else ''}{path}"
    if query is not None:
        text = f"{text}?{query}"
    if fragment is not None:
        text = f"{text}#{fragment}"
    return text


@cython.final
cdef class UrlText:
    """``str(url)`` for a client library's URL object that keeps its parsed parts as a ``parts_type``
    tuple ``(scheme, userinfo, host, port, path, query, fragment)`` in its attribute ``attr`` (httpx's
    ``URL._uri_reference``): the text made from those parts at once, as the library makes it; ``str(url)``
    for a URL that keeps no such tuple."""

    cdef readonly str attr
    cdef readonly type parts_type

    def __init__(self, str attr not None, type parts_type not None):
        if not issubclass(parts_type, tuple):
            raise TypeError("parts_type is a tuple type (a named tuple), not %s" % parts_type.__name__)
        self.attr = attr
        self.parts_type = parts_type

    cpdef str of(self, url):
        """The text of ``url``."""
        parts = getattr(url, self.attr, None)
        if type(parts) is not self.parts_type or PyTuple_GET_SIZE(parts) != 7:
            return str(url)
        return _url_of_parts(<tuple>parts)


cpdef object listed_header(list items, bytes name):
    """The value, as text (latin-1), of the first header named ``name`` (lower-case bytes) in ``items``, a
    list of ``(name, lower-case name, value)`` bytes as httpx's ``Headers`` keeps them; None when absent."""
    for item in items:
        _, key, value = item
        if key == name:
            return (<bytes>value).decode("latin-1") if type(value) is bytes else value.decode("latin-1")
    return None


# -- an async HTTP client's exchange, awaited without a coroutine of its own ----------------------------

from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF


cdef extern from "Python.h":
    int PyIter_Send(object iter, object arg, PyObject **presult) except -1
    bint PyCoro_CheckExact(object o)
    ctypedef void *_sendfunc "sendfunc"
    ctypedef struct _AsyncSlots "PyAsyncMethods":
        _sendfunc am_send
    ctypedef struct _AsyncType "PyTypeObject":
        _AsyncSlots *tp_as_async

cdef enum:
    _NOT_STARTED, _RUNNING, _DONE


@cython.final
cdef class AsyncExchange:
    """One request of an async HTTP client, traced, awaited in place of the client's own send coroutine
    (``coroutine``, made by the caller) and without a coroutine of its own, as that coroutine would be
    awaited: ``start(request)`` (the integration's: the client span, or None when not traced) runs when it
    is first awaited; when the send returns, the response's ``status_code`` and ``headers`` go on the span
    and it ends (``HttpTracer.finish``); an exception thrown in or raised (a cancellation too) ends it,
    recorded, as does closing it mid-way. A ``collections.abc.Coroutine``: ``asyncio.create_task`` takes
    it."""

    cdef readonly HttpTracer http
    cdef readonly object start
    cdef readonly object request
    cdef object inner
    cdef readonly Span span
    cdef int state

    def __init__(self, HttpTracer http not None, start, request, coroutine):
        if not callable(start):
            raise TypeError("start is the integration's start of a request (a callable), not %s"
                            % type(start).__name__)  # fmt: skip
        if not PyCoro_CheckExact(coroutine):
            raise TypeError("AsyncExchange awaits the client's send coroutine, not %s" % type(coroutine).__name__)
        self.http = http
        self.start = start
        self.request = request
        self.inner = coroutine

    def __await__(self):
        return self

    def __next__(self):
        return self._step(None)

    def send(self, value):
        return self._step(value)

    def throw(self, *args):
        if self.state != _RUNNING:  # not started (nothing traced yet) or over: as the send's coroutine does
            self.state = _DONE
            return self.inner.throw(*args)
        try:
            return self.inner.throw(*args)
        except StopIteration as e:
            return self._returned(e.value)
        except BaseException as e:
            self._failed(e)
            raise

    def close(self):
        if self.state != _RUNNING:
            self.state = _DONE
            self.inner.close()
            return
        self.state = _DONE
        try:
            self.inner.close()
            raise GeneratorExit
        except GeneratorExit as e:
            self._failed(e)
        except BaseException as e:
            self._failed(e)
            raise

    def __del__(self):
        if self.state == _RUNNING:  # dropped while suspended: ended as a coroutine is, closed
            self.close()

    cdef object _step(self, value):
        """``send(value)`` called from Python: what the send yields, or StopIteration with its response."""
        cdef PyObject *result = NULL
        cdef int status = self._send(value, &result)
        out = <object>result
        Py_DECREF(out)  # the new reference ``_send`` gave, now held by ``out``
        if status == 1:
            return out
        raise StopIteration(out)

    cdef int _send(self, value, PyObject **presult) except -1:
        """One step of the exchange: 1 (PYGEN_NEXT) and what the send yields in ``presult``, or 0
        (PYGEN_RETURN) and its response, a new reference either way; the span started at the first step
        and ended at the last."""
        cdef PyObject *result = NULL
        cdef int status
        if self.state != _RUNNING:
            if self.state == _DONE:
                raise RuntimeError("cannot reuse already awaited coroutine")
            self.state = _RUNNING
            span = self.start(self.request)
            self.span = span if type(span) is Span else None
        try:
            status = PyIter_Send(self.inner, value, &result)
        except BaseException as e:
            self._failed(e)
            raise
        if status == 1:  # PYGEN_NEXT: the send suspends
            presult[0] = result
            return 1
        response = <object>result
        Py_DECREF(response)
        self.state = _DONE
        if self.span is not None:
            self.http.finish(self.span, None, response.status_code, response.headers, True)
        Py_INCREF(response)
        presult[0] = <PyObject *>response
        return 0

    cdef object _returned(self, response):
        self.state = _DONE
        if self.span is not None:
            self.http.finish(self.span, None, response.status_code, response.headers, True)
        raise StopIteration(response)

    cdef int _failed(self, exc) except -1:
        self.state = _DONE
        if self.span is not None:
            self.http.finish(self.span, exc)
        return 0


cdef int _exchange_send(PyObject *exchange, PyObject *value, PyObject **presult) except -1:
    """``AsyncExchange``'s ``am_send`` slot: what ``await`` and asyncio's tasks step it with (``PyIter_Send``),
    a response handed back as the return value, not raised as StopIteration."""
    return (<AsyncExchange>exchange)._send(<object>value, presult)


if (<_AsyncType *>AsyncExchange).tp_as_async != NULL:
    (<_AsyncType *>AsyncExchange).tp_as_async.am_send = <_sendfunc>_exchange_send

import _collections_abc

_collections_abc.Coroutine.register(AsyncExchange)
