"""Every error status the published schema documents is reachable, and answers with the documented JSON body.

The fuzzer rarely produces some of them (a 413, a 500), so each has a hand-written request here.
The table must name exactly the statuses the schema documents: a status added to the schema
without a request reaching it, or a request for a status the schema does not document, fails.
"""

from collections.abc import Callable
from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body

LIST = "/v6/nodes/"
DETAIL = "/v6/nodes/{id}/"
HISTORY = "/v6/nodes/{id}/history/"
TEN_MEGABYTES = 10 * 1024 * 1024


def _documented_error_statuses(client: APIClient) -> set[tuple[str, str, int]]:
    schema = client.get("/v6/schema/", HTTP_ACCEPT="application/json").json()
    return {
        (path, method, int(status))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
        if int(status) >= 400
    }


# (path, method, status) -> how to reach it, given the clients and an existing node's URL.
Reach = Callable[[dict[str, APIClient], str], object]
REACHING: dict[tuple[str, str, int], Reach] = {
    (LIST, "get", 400): lambda clients, _: clients["anonymous"].get(LIST, {"page_size": "0"}),
    (LIST, "get", 401): lambda clients, _: clients["bad_token"].get(LIST),
    (LIST, "get", 404): lambda clients, _: clients["anonymous"].get(LIST, {"page": "99"}),
    (LIST, "get", 406): lambda clients, _: clients["anonymous"].get(LIST, HTTP_ACCEPT="application/xml"),
    (LIST, "get", 500): lambda clients, _: _failing("node.views.NodeListView.filter_queryset", clients, LIST),
    (DETAIL, "get", 401): lambda clients, url: clients["bad_token"].get(url),
    (DETAIL, "get", 404): lambda clients, _: clients["anonymous"].get("/v6/nodes/424242/"),
    (DETAIL, "get", 406): lambda clients, url: clients["anonymous"].get(url, HTTP_ACCEPT="application/xml"),
    (DETAIL, "get", 500): lambda clients, url: _failing("node.views.node_rows_data", clients, url),
    (DETAIL, "patch", 400): lambda clients, url: clients["staff"].patch(url, {}, format="json"),
    (DETAIL, "patch", 401): lambda clients, url: clients["anonymous"].patch(url, {"is_paused": True}, format="json"),
    (DETAIL, "patch", 403): lambda clients, url: clients["user"].patch(url, {"is_paused": True}, format="json"),
    (DETAIL, "patch", 404): lambda clients, _: clients["staff"].patch(
        "/v6/nodes/424242/", {"is_paused": True}, format="json"
    ),
    (DETAIL, "patch", 406): lambda clients, url: clients["staff"].patch(
        url, {"is_paused": True}, format="json", HTTP_ACCEPT="application/xml"
    ),
    (DETAIL, "patch", 413): lambda clients, url: clients["staff"].generic(
        "PATCH", url, b'{"pause_reason": "' + b"x" * TEN_MEGABYTES + b'"}', content_type="application/json"
    ),
    (DETAIL, "patch", 415): lambda clients, url: clients["staff"].generic(
        "PATCH", url, b"is_paused=true", content_type="text/plain"
    ),
    (DETAIL, "patch", 500): lambda clients, url: _failing("node.views.node_update", clients, url, method="patch"),
    (HISTORY, "get", 400): lambda clients, url: clients["staff"].get(f"{url}history/", {"started": "soon"}),
    (HISTORY, "get", 401): lambda clients, url: clients["bad_token"].get(f"{url}history/"),
    (HISTORY, "get", 403): lambda clients, url: clients["user"].get(f"{url}history/"),
    (HISTORY, "get", 404): lambda clients, _: clients["staff"].get("/v6/nodes/424242/history/"),
    (HISTORY, "get", 406): lambda clients, url: clients["staff"].get(f"{url}history/", HTTP_ACCEPT="application/xml"),
    (HISTORY, "get", 500): lambda clients, url: _failing(
        "node.views.NodeHistoryView.filter_queryset", clients, f"{url}history/", reader="staff"
    ),
    (DETAIL, "patch", 412): lambda clients, url: clients["staff"].patch(
        url, {"is_paused": True}, format="json", HTTP_IF_MATCH='"not-the-current-tag"'
    ),
    (LIST, "get", 503): lambda clients, _: _failing(
        "node.views.NodeListView.filter_queryset", clients, LIST, error=OperationalError("connection refused")
    ),
    (DETAIL, "get", 503): lambda clients, url: _failing(
        "node.views.node_rows", clients, url, error=OperationalError("connection refused")
    ),
    (DETAIL, "patch", 503): lambda clients, url: _failing(
        "node.views.node_update", clients, url, method="patch", error=OperationalError("server closed the connection")
    ),
    (HISTORY, "get", 503): lambda clients, url: _failing(
        "node.views.NodeHistoryView.filter_queryset",
        clients,
        f"{url}history/",
        error=OperationalError("timeout"),
        reader="staff",
    ),
}


def _failing(
    target: str,
    clients: dict[str, APIClient],
    url: str,
    method: str = "get",
    error: Exception | None = None,
    reader: str = "anonymous",
) -> object:
    """Request ``url`` while ``target`` raises ``error`` (by default an unexpected one)."""
    with mock.patch(target, side_effect=error or RuntimeError("unexpected")):
        if method == "patch":
            return clients["staff"].patch(url, {"is_paused": True}, format="json")
        return clients[reader].get(url)


@pytest.fixture
def clients(api_client: APIClient, staff_client: APIClient, user_client: APIClient) -> dict[str, APIClient]:
    bad_token = APIClient(raise_request_exception=False)
    bad_token.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    return {"anonymous": api_client, "staff": staff_client, "user": user_client, "bad_token": bad_token}


@pytest.mark.django_db
class TestDocumentedErrorStatuses:
    def test_the_table_names_exactly_the_documented_error_statuses(self, api_client: APIClient) -> None:
        assert _documented_error_statuses(api_client) == set(REACHING)

    @pytest.mark.parametrize(("path", "method", "status"), sorted(REACHING))
    def test_documented_error_status_is_reachable_with_a_json_error_body(
        self, clients: dict[str, APIClient], make_node: Callable[..., Node], path: str, method: str, status: int
    ) -> None:
        node = make_node()
        response = REACHING[(path, method, status)](clients, f"/v6/nodes/{node.pk}/")
        assert response.status_code == status, body(response)
        assert response["Content-Type"] == "application/json"
        error = response.json()
        assert isinstance(error.get("detail"), str)
        assert error["detail"]
        assert set(error) <= {"detail", "errors"}
        for messages in error.get("errors", {}).values():
            assert all(isinstance(message, str) for message in messages)
        if status == 401:
            assert response["WWW-Authenticate"] == "Token"
        if status == 503:
            assert response["Retry-After"] == "5"
