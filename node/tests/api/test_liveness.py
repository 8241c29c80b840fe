"""GET /v6/nodes/liveness/ and /v6/nodes/{id}/liveness/: each node's state from its last heartbeat, under the TTL."""

import datetime as dt
import time
from collections.abc import Callable

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from node.models import Node
from node.services import node_heartbeat
from node.tests.helpers import body, json_error

LIVENESS_URL = "/v6/nodes/liveness/"


def liveness_url(node: Node) -> str:
    return f"/v6/nodes/{node.pk}/liveness/"


def page(client: APIClient, query: dict | None = None) -> dict:
    response = client.get(LIVENESS_URL, query or {})
    assert response.status_code == 200, body(response)
    return response.json()


def states(payload: dict) -> dict[str, str]:
    return {entry["hostname"]: entry["state"] for entry in payload["results"]}


@pytest.fixture
def three_nodes(make_node: Callable[..., Node]) -> list[Node]:
    """One node never seen, one seen now, one last seen an hour ago (past the 30 s TTL)."""
    nodes = [make_node("never.test"), make_node("online.test"), make_node("offline.test")]
    node_heartbeat(hostnames=["offline.test"], now=timezone.now() - dt.timedelta(hours=1))
    node_heartbeat(hostnames=["online.test"])
    return nodes


@pytest.mark.django_db
class TestNodeLivenessList:
    def test_each_node_has_its_state_and_last_seen_ordered_by_id(
        self, api_client: APIClient, three_nodes: list[Node]
    ) -> None:
        payload = page(api_client)
        assert payload["count"] == 3
        assert [entry["id"] for entry in payload["results"]] == [node.pk for node in three_nodes]
        assert states(payload) == {"never.test": "never", "online.test": "online", "offline.test": "offline"}
        never, online, offline = payload["results"]
        assert never["last_seen"] is None
        assert online["last_seen"].endswith("Z")
        assert set(online) == {"id", "hostname", "state", "last_seen"}
        assert offline["last_seen"] < online["last_seen"]

    @pytest.mark.parametrize("state", ["online", "offline", "never"])
    def test_state_filter_selects_the_nodes_in_that_state(
        self, api_client: APIClient, three_nodes: list[Node], state: str
    ) -> None:
        assert states(page(api_client, {"state": state})) == {f"{state}.test": state}

    def test_hostname_filter_ignores_letter_case_and_repeats(
        self, api_client: APIClient, three_nodes: list[Node]
    ) -> None:
        response = api_client.get(f"{LIVENESS_URL}?hostname=ONLINE.test&hostname=never.TEST")
        assert response.status_code == 200, body(response)
        assert states(response.json()) == {"never.test": "never", "online.test": "online"}

    def test_id_filter(self, api_client: APIClient, three_nodes: list[Node]) -> None:
        assert states(page(api_client, {"id": three_nodes[2].pk})) == {"offline.test": "offline"}

    def test_an_unknown_state_is_refused(self, api_client: APIClient, three_nodes: list[Node]) -> None:
        detail = json_error(api_client.get(LIVENESS_URL, {"state": "asleep"}), 400)
        assert detail == "state: Select a valid choice. asleep is not one of the available choices."

    def test_a_bad_id_is_refused(self, api_client: APIClient) -> None:
        assert json_error(api_client.get(LIVENESS_URL, {"id": "x"}), 400).startswith("id:")

    def test_pages_like_the_list(self, api_client: APIClient, three_nodes: list[Node]) -> None:
        payload = page(api_client, {"page_size": 2, "page": 2})
        assert payload["count"] == 3
        assert [entry["hostname"] for entry in payload["results"]] == ["offline.test"]

    def test_reads_need_credentials_when_reads_are_private(self, api_client: APIClient) -> None:
        with override_settings(PUBLIC_READ_API=False):
            json_error(api_client.get(LIVENESS_URL), 401)


@pytest.mark.django_db
class TestNodeLivenessDetail:
    def test_one_node(self, api_client: APIClient, three_nodes: list[Node]) -> None:
        response = api_client.get(liveness_url(three_nodes[1]))
        assert response.status_code == 200, body(response)
        assert response.json()["state"] == "online"
        assert response.json()["id"] == three_nodes[1].pk
        assert response.json()["last_seen"].endswith("Z")

    def test_a_node_never_seen(self, api_client: APIClient, three_nodes: list[Node]) -> None:
        answer = api_client.get(liveness_url(three_nodes[0])).json()
        assert answer == {"id": three_nodes[0].pk, "hostname": "never.test", "state": "never", "last_seen": None}

    def test_an_unknown_node_is_a_404(self, api_client: APIClient) -> None:
        assert json_error(api_client.get("/v6/nodes/424242/liveness/"), 404) == "No Node matches the given query."


@pytest.mark.django_db
class TestHeartbeatTtl:
    @override_settings(NODE_HEARTBEAT_TTL=1)
    def test_a_node_is_online_for_the_ttl_after_its_heartbeat_then_offline(
        self, agent_client: APIClient, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("short.test")
        response = agent_client.post("/v6/nodes/heartbeats/", {"hostnames": ["short.test"]}, format="json")
        assert response.status_code == 200, body(response)
        assert api_client.get(liveness_url(node)).json()["state"] == "online"
        time.sleep(1.1)
        assert api_client.get(liveness_url(node)).json()["state"] == "offline"
        agent_client.post("/v6/nodes/heartbeats/", {"hostnames": ["short.test"]}, format="json")
        assert api_client.get(liveness_url(node)).json()["state"] == "online"

    @override_settings(NODE_HEARTBEAT_TTL=60)
    def test_a_longer_ttl_keeps_an_older_heartbeat_online(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("long.test")
        node_heartbeat(hostnames=["long.test"], now=timezone.now() - dt.timedelta(seconds=45))
        assert api_client.get(liveness_url(node)).json()["state"] == "online"
