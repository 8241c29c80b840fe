"""GET /v6/nodes/{id}/: one node, identical to its list entry and to the serializer's bytes, with its ETag."""

from collections.abc import Callable

import pytest
from django.test import override_settings
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from node.models import Node
from node.serializers import NodeSerializer
from node.tests.helpers import body, detail_url


@pytest.mark.django_db
class TestNodeDetail:
    def test_detail_is_identical_to_the_list_entry(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        node = make_node("host.com", is_paused=True, pause_reason="maintenance", is_active=False)
        detail = api_client.get(detail_url(node))
        assert detail.status_code == 200, body(detail)
        listed = api_client.get("/v6/nodes/").json()["results"][0]
        assert detail.json() == listed
        assert listed["pause_reason"] == "maintenance"
        assert listed["deprecated"].endswith("Z")

    def test_detail_without_trailing_slash_works(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        node = make_node()
        response = api_client.get(f"/v6/nodes/{node.pk}")
        assert response.status_code == 200, body(response)
        assert response.json()["id"] == node.pk

    @pytest.mark.parametrize("path", ["/v6/nodes/999/", "/v6/nodes/abc/", "/v6/nodes/-1/", "/v6/nodes/" + "9" * 40])
    def test_unknown_or_non_numeric_id_is_404_json(self, api_client: APIClient, path: str) -> None:
        response = api_client.get(path)
        assert response.status_code == 404, body(response)
        assert response["Content-Type"] == "application/json"
        assert response.json()["detail"]

    @override_settings(PUBLIC_READ_API=False)
    def test_private_detail_needs_authentication(
        self, api_client: APIClient, user_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        assert api_client.get(detail_url(node)).status_code == 401
        assert user_client.get(detail_url(node)).status_code == 200

    @pytest.mark.parametrize("method", ["post", "put", "delete"])
    def test_other_methods_are_405_with_allow(
        self, staff_client: APIClient, api_client: APIClient, make_node: Callable[..., Node], method: str
    ) -> None:
        node = make_node()
        for client in (staff_client, api_client):
            response = getattr(client, method)(detail_url(node), {}, format="json")
            assert response.status_code == 405, body(response)
            assert response["Allow"] == "GET, PATCH, HEAD, OPTIONS"
            assert response.json()["detail"] == f'Method "{method.upper()}" not allowed.'

    def test_detail_is_byte_for_byte_the_serializer_output(
        self, api_client: APIClient, fixture_nodes: list[Node]
    ) -> None:
        for node in fixture_nodes:
            response = api_client.get(detail_url(node))
            assert response.status_code == 200, body(response)
            assert response.content == JSONRenderer().render(NodeSerializer(Node.objects.get(pk=node.pk)).data)

    # ETags and If-None-Match (304).
    def test_detail_carries_an_etag_that_stays_while_the_node_is_unchanged(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        first = api_client.get(detail_url(node))
        assert first.status_code == 200, body(first)
        assert first["ETag"].startswith('"')
        assert api_client.get(detail_url(node))["ETag"] == first["ETag"]

    def test_matching_if_none_match_is_304_with_no_body(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(detail_url(node))["ETag"]
        response = api_client.get(detail_url(node), HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304, body(response)
        assert response.content == b""
        assert response["ETag"] == etag

    def test_etag_changes_when_the_node_changes_and_a_stale_one_gets_the_full_node(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        old = api_client.get(detail_url(node))["ETag"]
        patched = staff_client.patch(detail_url(node), {"is_paused": True}, format="json")
        assert patched.status_code == 204, body(patched)
        response = api_client.get(detail_url(node), HTTP_IF_NONE_MATCH=old)
        assert response.status_code == 200, body(response)
        assert response["ETag"] not in (old, None)
        assert response["ETag"] == patched["ETag"]
        assert response.json()["is_paused"] is True
