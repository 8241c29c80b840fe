"""Query parameters no endpoint reads are refused, over real HTTP: a 400 naming each one and what the endpoint
accepts, so a typo never passes for an applied filter. Also the hints for ``order`` joined by commas and
for an ``Authorization`` header in another scheme than ``Token``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator

from accounts.tokens import create_api_token
from node.models import Node
from node.views import NodeChangesView, NodeDetailView, NodeEventsView, NodeHistoryView, NodeListView
from serving.docs import SchemaView
from util.query import CACHE_BUSTER

TIMEOUT_SECONDS = 30


def _get(url: str, *, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310 (live server)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def server(live_server: Any, make_node: Callable[..., Node]) -> dict[str, Any]:
    """The live test server with one node, and a staff token (every endpoint readable)."""
    node = make_node("param-1.example.com")
    user = get_user_model().objects.create_user(username="params-op", is_staff=True, is_superuser=True)
    token = create_api_token(user=user, expires_in=None)[1]
    return {"url": live_server.url, "node": node, "auth": {"Authorization": f"Token {token}"}}


# Each endpoint, with a request it answers with 200, and the parameters it accepts beyond `format` and `_`.
ENDPOINTS = {
    "list": ("/v6/nodes/?page=1&page_size=10", NodeListView),
    "detail": ("/v6/nodes/{id}/", NodeDetailView),
    "history": ("/v6/nodes/{id}/history/?page_size=5", NodeHistoryView),
    "changes": ("/v6/nodes/changes/?after=0", NodeChangesView),
    "events": ("/v6/nodes/events/?after=0", NodeEventsView),
    "schema": ("/v6/schema/?format=json", SchemaView),
}


@pytest.mark.django_db(transaction=True)
class TestUnknownQueryParameters:
    @pytest.mark.parametrize("endpoint", ENDPOINTS)
    def test_an_unknown_parameter_is_a_400_naming_it_and_listing_the_accepted_ones(
        self, server: dict[str, Any], endpoint: str
    ) -> None:
        path, view = ENDPOINTS[endpoint]
        url = server["url"] + path.format(id=server["node"].pk)
        status, body = _get(f"{url}{'&' if '?' in url else '?'}colour=blue", headers=server["auth"])
        assert status == 400, body
        accepted = sorted(view().accepted_query_params())
        assert body["errors"] == {"colour": [f"unknown query parameter; this endpoint accepts: {', '.join(accepted)}."]}
        assert body["detail"].startswith("colour: unknown query parameter"), body

    def test_paused_is_refused_with_a_hint_to_is_paused_instead_of_listing_every_node(
        self, server: dict[str, Any]
    ) -> None:
        status, body = _get(f"{server['url']}/v6/nodes/?paused=true", headers=server["auth"])
        assert status == 400, body
        assert "paused: unknown query parameter (did you mean is_paused?)" in body["detail"], body

    def test_every_unknown_parameter_is_named(self, server: dict[str, Any]) -> None:
        status, body = _get(f"{server['url']}/v6/nodes/changes/?after=0&x=1&y=2", headers=server["auth"])
        assert status == 400, body
        assert sorted(body["errors"]) == ["x", "y"], body

    def test_the_requests_of_scales_ui_and_of_browsers_pass(self, server: dict[str, Any]) -> None:
        base = server["url"]
        queries = [
            "/v6/nodes/?page=1&page_size=25&started=2015-01-01T00:00:00Z&ended=PT0S&order=host_name&order=-created"
            "&is_active=true",
            "/v6/nodes/?format=json&_=1733300000000",
            "/v6/nodes/?format=api",
            f"/v6/nodes/{server['node'].pk}/?format=json&_=1",
            f"/v6/nodes/{server['node'].pk}/history/?started=P1D&page=1&page_size=10&format=json",
            "/v6/nodes/changes/?after=0&page_size=10&wait=0&format=json",
            "/v6/schema/?format=json&lang=en",
        ]
        for query in queries:
            status, body = _get(base + query, headers=server["auth"])
            assert status == 200, (query, body)

    def test_the_event_stream_does_not_take_format(self, server: dict[str, Any]) -> None:
        status, body = _get(f"{server['url']}/v6/nodes/events/?format=json", headers=server["auth"])
        assert status == 400, body
        assert body["errors"] == {"format": ["unknown query parameter; this endpoint accepts: _, after."]}

    def test_a_head_request_is_checked_too(self, server: dict[str, Any]) -> None:
        status, _ = _get(f"{server['url']}/v6/nodes/events/?colour=1", headers=server["auth"], method="HEAD")
        assert status == 400


def test_each_endpoint_accepts_exactly_the_query_parameters_its_schema_documents() -> None:
    """What the schema documents and what a request may send are the same, so no parameter escapes either."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        "/v6/nodes/": ("get", NodeListView),
        "/v6/nodes/{id}/": ("get", NodeDetailView),
        "/v6/nodes/{id}/history/": ("get", NodeHistoryView),
        "/v6/nodes/changes/": ("get", NodeChangesView),
        "/v6/nodes/events/": ("get", NodeEventsView),
    }
    for path, (method, view) in operations.items():
        documented = {
            parameter["name"]
            for parameter in schema["paths"][path][method].get("parameters", [])
            if parameter["in"] == "query"
        }
        accepted = view().accepted_query_params() - {"format", CACHE_BUSTER}
        assert documented == accepted, path


@pytest.mark.django_db(transaction=True)
class TestOrderHint:
    def test_order_fields_joined_by_a_comma_get_a_hint_to_repeat_order(self, server: dict[str, Any]) -> None:
        status, body = _get(f"{server['url']}/v6/nodes/?order=created,-hostname", headers=server["auth"])
        assert status == 400, body
        assert body["detail"].startswith("order: unknown field 'created,-hostname'"), body
        assert "repeat the parameter (order=created&order=-hostname)" in body["detail"], body


@pytest.mark.django_db(transaction=True)
class TestAuthorizationScheme:
    @pytest.mark.parametrize("scheme", ["Bearer", "Basic", "token-ish"])
    def test_another_scheme_is_a_401_saying_which_one_is_expected(self, server: dict[str, Any], scheme: str) -> None:
        token = server["auth"]["Authorization"].split()[1]
        status, body = _get(
            f"{server['url']}/v6/nodes/{server['node'].pk}/history/", headers={"Authorization": f"{scheme} {token}"}
        )
        assert status == 401, body
        assert body["detail"] == (
            f"The Authorization header uses the scheme '{scheme}', which this service does not accept: "
            "send 'Authorization: Token <token>'."
        )

    def test_no_header_still_says_credentials_were_not_provided(self, server: dict[str, Any]) -> None:
        status, body = _get(f"{server['url']}/v6/nodes/{server['node'].pk}/history/")
        assert status == 401, body
        assert body["detail"] == "Authentication credentials were not provided."
