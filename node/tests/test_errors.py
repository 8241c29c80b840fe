from unittest import mock

import pytest
from rest_framework.test import APIClient

from node.tests.helpers import body


@pytest.mark.django_db
class TestServerErrors:
    def test_unhandled_error_in_the_api_is_a_json_500_without_traceback(self, api_client: APIClient) -> None:
        with mock.patch("node.views.NodeListView.filter_queryset", side_effect=RuntimeError("secret internals")):
            response = api_client.get("/v6/nodes/")
        assert response.status_code == 500, body(response)
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Internal server error; the failure has been logged."}
        assert b"secret internals" not in response.content
