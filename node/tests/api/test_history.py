"""GET /v6/nodes/{id}/history/: a node's change records, newest first, paged and filtered by time."""

from collections.abc import Callable

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from node.models import Node, NodeChange
from node.tests.helpers import body, history_url, make_history, registration


@pytest.mark.django_db
class TestNodeHistory:
    def test_history_is_newest_first_in_the_list_envelope(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        registered = NodeChange.objects.get(node=node)
        made = make_history(node, 3)
        response = staff_client.get(history_url(node))
        assert response.status_code == 200, body(response)
        assert response.json() == {
            "count": 4,
            "next": None,
            "previous": None,
            "results": [
                *(
                    {
                        "id": record.pk,
                        "node": node.pk,
                        "time": record.time.isoformat().replace("+00:00", "Z"),
                        "action": "update",
                        "actor": "operator",
                        "channel": "api",
                        "changes": record.changes,
                        "request_id": None,
                    }
                    for record in reversed(made)
                ),
                {
                    "id": registered.pk,
                    "node": node.pk,
                    "time": "2024-01-01T00:00:00Z",
                    "action": "register",
                    "actor": "system",
                    "channel": "system",
                    "changes": registration(node.hostname)["changes"],
                    "request_id": None,
                },
            ],
        }

    def test_history_pages_with_page_and_page_size(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        made = make_history(node, 5)
        payload = staff_client.get(f"{history_url(node)}?page=2&page_size=2").json()
        assert [r["id"] for r in payload["results"]] == [made[2].pk, made[1].pk]
        assert payload["next"] == f"http://testserver{history_url(node)}?page=3&page_size=2"
        assert payload["previous"] == f"http://testserver{history_url(node)}?page_size=2"

    def test_history_filters_on_record_time_inclusively(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        made = make_history(node, 5)
        query = "started=2025-01-01T01:00:00Z&ended=2025-01-01T03:00:00Z"
        payload = staff_client.get(f"{history_url(node)}?{query}").json()
        assert [r["id"] for r in payload["results"]] == [made[3].pk, made[2].pk, made[1].pk]

    def test_history_shows_only_that_nodes_records(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node, other = make_node(), make_node()
        make_history(other, 2)
        payload = staff_client.get(history_url(node)).json()
        assert payload["count"] == 1
        assert [(record["node"], record["action"]) for record in payload["results"]] == [(node.pk, "register")]

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("started=2025-01-01T00:00:00", "started: the datetime '2025-01-01T00:00:00' has no time zone"),
            ("started=P1D&ended=P2D", "started: must be before ended"),
            ("page_size=0", "page_size: expected an integer from 1 to 1000"),
            ("page=x", "page: expected an integer >= 1"),
        ],
    )
    def test_bad_history_parameters_are_400(
        self, staff_client: APIClient, make_node: Callable[..., Node], query: str, message: str
    ) -> None:
        node = make_node()
        response = staff_client.get(f"{history_url(node)}?{query}")
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith(message)

    def test_unknown_node_is_404(self, staff_client: APIClient) -> None:
        response = staff_client.get("/v6/nodes/9999/history/")
        assert response.status_code == 404, body(response)
        assert response.json() == {"detail": "No node with id 9999."}

    def test_history_without_trailing_slash_works(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        assert staff_client.get(f"/v6/nodes/{node.pk}/history").status_code == 200

    @override_settings(PUBLIC_READ_API=True)
    def test_history_needs_a_user_with_view_nodechange_even_with_public_reads(
        self, api_client: APIClient, user_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        assert api_client.get(history_url(node)).status_code == 401
        assert user_client.get(history_url(node)).status_code == 403
        assert staff_client.get(history_url(node)).status_code == 200

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_history_is_read_only(self, staff_client: APIClient, make_node: Callable[..., Node], method: str) -> None:
        node = make_node()
        response = getattr(staff_client, method)(history_url(node), {}, format="json")
        assert response.status_code == 405, body(response)

    def test_history_costs_a_constant_number_of_queries_per_page(
        self, staff_client: APIClient, make_node: Callable[..., Node], django_assert_num_queries: Callable
    ) -> None:
        node = make_node()
        make_history(node, 300)
        for size in (1, 100, 300):
            # 3 for the page; 2 for the token with its user, and the user's and groups' permissions.
            with django_assert_num_queries(5):
                response = staff_client.get(f"{history_url(node)}?page_size={size}")
            assert response.status_code == 200, body(response)
