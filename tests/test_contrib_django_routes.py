"""``ddfast.contrib.django``: Django traced without code changes, its spans named after the URL pattern
that matched (``http.route``), one ``GET 404`` resource for what matched nothing; on both
implementations."""

import sys

import pytest
from integration_helpers import wsgi_get

pytest.importorskip("django")

from ddfast.contrib import django as dd_django  # noqa: E402


@pytest.fixture
def django_app(make_tracer):
    """A Django WSGI application with ``users/<int:id>/``, traced by ``patch()``; (app, tracer)."""
    import integration_helpers
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse
    from django.urls import clear_url_caches
    from django.urls import path

    def user(request, id):
        return HttpResponse("user %d" % id)

    integration_helpers.django_urls(user)  # Django configured once per process, as the other tests do
    sys.modules["ddfast_test_django_urls"].urlpatterns = [path("users/<int:id>/", user)]
    clear_url_caches()
    tracer = make_tracer()
    assert dd_django.patch(tracer=tracer, service="web") is True
    try:
        yield WSGIHandler(), tracer
    finally:
        dd_django.unpatch()


def _get(app, path, headers=None):
    return str(wsgi_get(app, path, headers))


def test_the_span_is_named_after_the_url_pattern(django_app):
    app, tracer = django_app
    assert _get(app, "/users/42/", {"x-datadog-trace-id": "5", "x-datadog-parent-id": "6"}).startswith("200")
    assert _get(app, "/users/7/").startswith("200")
    first, second = tracer.writer.pop()
    for span, url in ((first, "/users/42/"), (second, "/users/7/")):
        # ddtrace's: the pattern as Django writes it, without a leading slash
        assert span.resource == "GET users/<int:id>/" and span.get_tag("http.route") == "users/<int:id>/"
        assert span.name == "django.request" and span.get_tag("component") == "django"
        assert span.get_tag("http.url").endswith(url) and span.service == "web"
    assert (first.trace_id, first.parent_id) == (5, 6)


def test_an_unmatched_url_has_one_resource(django_app):
    app, tracer = django_app
    assert _get(app, "/nothing/here").startswith("404")
    (span,) = tracer.writer.pop()
    assert span.resource == "GET 404" and span.get_tag("http.route") is None
    assert span.get_tag("http.status_code") == "404" and not span.error


def test_patch_twice_is_refused_and_unpatch_restores(django_app):
    from django.core.handlers.wsgi import WSGIHandler

    app, tracer = django_app
    assert dd_django.patch(tracer=tracer) is False
    dd_django.unpatch()
    plain = WSGIHandler()
    assert _get(plain, "/users/1/").startswith("200")
    assert tracer.writer.pop() == []
    assert dd_django.patch(tracer=tracer) is True  # the fixture unpatches again
