"""``HostCheckedOnce``: a request works out its host once, and a refused host stays refused."""

import pytest
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.test import RequestFactory, override_settings

from serving.wsgi import HostCheckedOnceWSGIHandler
from util.hosts import HostCheckedOnceWSGIRequest


def request_for(host: str) -> HostCheckedOnceWSGIRequest:
    return HostCheckedOnceWSGIRequest(RequestFactory().get("/v6/nodes/", HTTP_HOST=host).environ)


@override_settings(ALLOWED_HOSTS=["api.example.com"])
def test_the_host_is_django_s_and_worked_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    request = request_for("api.example.com:8080")
    asked: list[str] = []
    original = HttpRequest.get_host

    def counted(self: HttpRequest) -> str:
        asked.append("asked")
        return original(self)

    monkeypatch.setattr(HttpRequest, "get_host", counted)
    assert [request.get_host() for _ in range(3)] == ["api.example.com:8080"] * 3
    assert asked == ["asked"]


@override_settings(ALLOWED_HOSTS=["api.example.com"])
def test_a_refused_host_is_refused_every_time_it_is_asked_for() -> None:
    request = request_for("evil.example")
    for _ in range(2):
        with pytest.raises(DisallowedHost):
            request.get_host()


def test_the_wsgi_handler_makes_such_requests() -> None:
    assert HostCheckedOnceWSGIHandler.request_class is HostCheckedOnceWSGIRequest


def test_the_served_asgi_handler_makes_such_requests() -> None:
    from serving.asgi import SingleThreadASGIHandler
    from util.hosts import HostCheckedOnceASGIRequest

    assert SingleThreadASGIHandler.request_class is HostCheckedOnceASGIRequest
