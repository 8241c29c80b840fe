"""What every endpoint under /v6/ shares: JSON 404s for unknown URLs, the Host check, JSON 500s."""

from unittest import mock

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from node.tests.helpers import LIST_URL, body, json_error
from util.hosts import DISALLOWED_HOST_DETAIL


@pytest.mark.django_db
class TestEveryEndpoint:
    @pytest.mark.parametrize("path", ["/v6/jobs/", "/v6/nodes/1/extra/", "/v6//"])
    def test_unknown_urls_under_v6_are_404_json(self, api_client: APIClient, path: str) -> None:
        response = api_client.get(path)
        assert response.status_code == 404, body(response)
        assert response.json()["detail"].startswith("No endpoint at ")

    @pytest.mark.parametrize("path", ["/v6/nodes/%00/", "/v6/nodes/%FF/", "/v6/nodes/1%00/", "/v6/%ED%A0%80"])
    def test_nul_bytes_and_invalid_utf8_in_the_path_are_a_json_404(self, api_client: APIClient, path: str) -> None:
        assert json_error(api_client.get(path), 404).startswith("No endpoint at ")

    def test_patch_to_an_unknown_url_with_a_session_cookie_is_a_json_404_not_a_csrf_page(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.cookies["sessionid"] = "a" * 32
        response = client.patch("/v6/nodes/null,null/", b"{}", content_type="application/json")
        assert json_error(response, 404).startswith("No endpoint at ")

    @pytest.mark.parametrize("host", ["evil.example", "a" * 300, "bad host", "127.0.0.1@evil.example"])
    def test_unknown_host_header_is_a_json_400_under_v6(self, api_client: APIClient, host: str) -> None:
        for path in (LIST_URL, "/v6/unknown/"):
            detail = json_error(api_client.get(path, HTTP_HOST=host), 400)
            assert detail == DISALLOWED_HOST_DETAIL

    @pytest.mark.parametrize("debug", [False, True])
    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v6/nodes/", "/v6/schema/"])
    def test_unknown_host_header_is_a_json_400_for_the_api_and_the_probes_in_debug_too(
        self, api_client: APIClient, path: str, debug: bool
    ) -> None:
        with override_settings(DEBUG=debug):
            response = api_client.get(path, HTTP_HOST="evil.example")
        assert json_error(response, 400) == DISALLOWED_HOST_DETAIL

    def test_unknown_host_header_outside_v6_keeps_django_page(self, api_client: APIClient) -> None:
        response = api_client.get("/admin/", HTTP_HOST="evil.example")
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")

    def test_unhandled_error_in_the_api_is_a_json_500_without_traceback(self, api_client: APIClient) -> None:
        with mock.patch("node.views.NodeListView.filter_queryset", side_effect=RuntimeError("secret internals")):
            response = api_client.get("/v6/nodes/")
        assert response.status_code == 500, body(response)
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Internal server error; the failure has been logged."}
        assert b"secret internals" not in response.content
