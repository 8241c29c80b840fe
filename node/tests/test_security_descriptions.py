"""Users see descriptions written for them: no implementation notes in OPTIONS or the browsable API, and the
browsable API is branded as this service."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body

IMPLEMENTATION_WORDS = ("orjson", "tuples", "serializ", "model instances", "SQL", "the count comes")


def paths(node: Node) -> list[str]:
    return ["/v6/nodes/", f"/v6/nodes/{node.pk}/", f"/v6/nodes/{node.pk}/history/"]


@pytest.mark.django_db
class TestUserFacingDescriptions:
    def test_options_describe_each_endpoint_for_users(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        for path in paths(make_node()):
            response = staff_client.options(path)
            assert response.status_code == 200, body(response)
            description = response.json()["description"]
            assert description, path
            assert not [word for word in IMPLEMENTATION_WORDS if word.lower() in description.lower()], description

    def test_the_browsable_api_is_branded_as_the_service_and_shows_no_implementation_notes(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        for path in paths(make_node()):
            page = body(staff_client.get(path, HTTP_ACCEPT="text/html"))
            assert "Scale node registry" in page, path
            assert "Django REST framework" not in page, path
            assert "orjson" not in page and "tuples" not in page, path

    def test_the_api_login_page_is_branded_as_the_service(self, api_client: APIClient) -> None:
        page = body(api_client.get("/api-auth/login/"))
        assert "Scale node registry" in page and "Django REST framework" not in page
