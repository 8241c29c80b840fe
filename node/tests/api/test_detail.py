from collections.abc import Callable

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body


@pytest.mark.django_db
class TestNodeDetail:
    def test_detail_is_identical_to_the_list_entry(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        node = make_node("host.com", is_paused=True, pause_reason="maintenance", is_active=False)
        detail = api_client.get(f"/v6/nodes/{node.pk}/")
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

    @pytest.mark.parametrize("path", ["/v6/", "/v6/jobs/", "/v6", "/v6/nodes/1/extra/"])
    def test_unknown_urls_under_v6_are_404_json(self, api_client: APIClient, path: str) -> None:
        response = api_client.get(path)
        assert response.status_code == 404, body(response)
        assert response.json()["detail"].startswith("No endpoint at ")

    @override_settings(PUBLIC_READ_API=False)
    def test_private_detail_needs_authentication(
        self, api_client: APIClient, user_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        assert api_client.get(f"/v6/nodes/{node.pk}/").status_code == 401
        assert user_client.get(f"/v6/nodes/{node.pk}/").status_code == 200

    @pytest.mark.parametrize("method", ["post", "put", "delete"])
    def test_other_methods_are_405_with_allow(
        self, staff_client: APIClient, api_client: APIClient, make_node: Callable[..., Node], method: str
    ) -> None:
        node = make_node()
        for client in (staff_client, api_client):
            response = getattr(client, method)(f"/v6/nodes/{node.pk}/", {}, format="json")
            assert response.status_code == 405, body(response)
            assert response["Allow"] == "GET, PATCH, HEAD, OPTIONS"
            assert response.json()["detail"] == f'Method "{method.upper()}" not allowed.'
