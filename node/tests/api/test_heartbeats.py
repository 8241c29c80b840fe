"""POST /v6/nodes/heartbeats/: the last-seen time of nodes, and nothing else."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from node.models import Node, NodeChange, NodeLiveness, RegistryClock
from node.services import node_heartbeat
from node.tests.helpers import T0, body, json_error

HEARTBEATS_URL = "/v6/nodes/heartbeats/"


def heartbeat(client: APIClient, data: object, status: int = 200) -> dict:
    response = client.post(HEARTBEATS_URL, data, format="json")
    assert response.status_code == status, body(response)
    return response.json()


@pytest.mark.django_db
class TestNodeHeartbeats:
    def test_known_nodes_are_seen_and_unknown_hostnames_named_in_order(
        self, agent_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        a, b = make_node("a.example.com"), make_node("b.example.com")
        answer = heartbeat(
            agent_client, {"hostnames": ["zz.example.com", "A.EXAMPLE.COM", "b.example.com", "yy.example.com"]}
        )
        assert answer == {"seen": 2, "unknown": ["zz.example.com", "yy.example.com"]}
        assert set(NodeLiveness.objects.values_list("node_id", flat=True)) == {a.pk, b.pk}

    def test_a_heartbeat_sets_last_seen_to_now(self, agent_client: APIClient, make_node: Callable[..., Node]) -> None:
        node = make_node("a.example.com")
        before = timezone.now()
        heartbeat(agent_client, {"hostnames": ["a.example.com"]})
        first = NodeLiveness.objects.get(node=node).last_seen
        assert before <= first <= timezone.now()
        heartbeat(agent_client, {"hostnames": ["a.example.com"]})
        assert NodeLiveness.objects.get(node=node).last_seen > first

    def test_a_heartbeat_writes_no_record_no_change_index_and_leaves_the_node_as_it_was(
        self, agent_client: APIClient, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("a.example.com", last_modified=T0)
        before = Node.objects.values().get(pk=node.pk)
        records = NodeChange.objects.count()
        index = RegistryClock.objects.get().change_index
        for _ in range(3):
            heartbeat(agent_client, {"hostnames": ["a.example.com"]})
        assert Node.objects.values().get(pk=node.pk) == before
        assert NodeChange.objects.count() == records
        assert RegistryClock.objects.get().change_index == index
        feed = api_client.get("/v6/nodes/changes/", {"after": index}).json()
        assert feed["results"] == [], feed

    def test_all_unknown_is_seen_zero(self, agent_client: APIClient) -> None:
        assert heartbeat(agent_client, {"hostnames": ["nobody.example.com"]}) == {
            "seen": 0,
            "unknown": ["nobody.example.com"],
        }
        assert not NodeLiveness.objects.exists()

    def test_a_thousand_hostnames_are_accepted(self, agent_client: APIClient, make_node: Callable[..., Node]) -> None:
        make_node("n5.example.com")
        answer = heartbeat(agent_client, {"hostnames": [f"n{i}.example.com" for i in range(1000)]})
        assert answer["seen"] == 1
        assert len(answer["unknown"]) == 999

    def test_a_late_batch_never_moves_last_seen_back(self, make_node: Callable[..., Node]) -> None:
        node = make_node("a.example.com")
        node_heartbeat(hostnames=["a.example.com"], now=T0 + dt.timedelta(hours=1))
        node_heartbeat(hostnames=["a.example.com"], now=T0)
        assert NodeLiveness.objects.get(node=node).last_seen == T0 + dt.timedelta(hours=1)


@pytest.mark.django_db
class TestNodeHeartbeatsRefusals:
    @pytest.mark.parametrize(
        ("data", "detail"),
        [
            ([], "Invalid data. Expected a dictionary, but got list."),
            ("a.example.com", "Invalid data. Expected a dictionary, but got str."),
            ({}, "hostnames: This field is required."),
            ({"hostnames": "a.example.com"}, "hostnames: Expected a JSON array of hostnames (strings)."),
            ({"hostnames": []}, "hostnames: Give at least one hostname."),
            ({"hostnames": [1]}, "hostnames: Item 0 is not a string: 1."),
            (
                {"hostnames": ["a.example.com", "A.example.com"]},
                "hostnames: Item 1, 'A.example.com', is given more than once (hostnames ignore letter case).",
            ),
            ({"hostnames": ["a.example.com"], "at": "now"}, "Unknown field(s): at. Only hostnames is accepted."),
        ],
    )
    def test_bodies_of_the_wrong_shape_are_refused(self, agent_client: APIClient, data: object, detail: str) -> None:
        assert json_error(agent_client.post(HEARTBEATS_URL, data, format="json"), 400) == detail

    def test_a_thousand_and_one_hostnames_are_refused_and_nothing_is_seen(
        self, agent_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("n0.example.com")
        response = agent_client.post(
            HEARTBEATS_URL, {"hostnames": [f"n{i}.example.com" for i in range(1001)]}, format="json"
        )
        assert (
            json_error(response, 400) == "hostnames: At most 1000 hostnames at a time, got 1001; send them in batches."
        )
        assert not NodeLiveness.objects.exists()

    def test_a_bad_hostname_is_named_and_nothing_is_seen(
        self, agent_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("a.example.com")
        response = agent_client.post(HEARTBEATS_URL, {"hostnames": ["a.example.com", "-bad"]}, format="json")
        assert "Item 1, '-bad' is not a valid hostname" in json_error(response, 400)
        assert not NodeLiveness.objects.exists()

    def test_staff_without_the_permission_is_refused(
        self, staff_client: APIClient, registrar_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("a.example.com")
        for client in (staff_client, registrar_client):
            response = client.post(HEARTBEATS_URL, {"hostnames": ["a.example.com"]}, format="json")
            assert "node.change_nodeliveness" in json_error(response, 403)
        assert not NodeLiveness.objects.exists()

    def test_no_token_is_a_401(self, api_client: APIClient) -> None:
        response = api_client.post(HEARTBEATS_URL, {"hostnames": ["a.example.com"]}, format="json")
        assert json_error(response, 401) == "Authentication credentials were not provided."

    def test_reading_is_not_allowed(self, agent_client: APIClient) -> None:
        assert agent_client.get(HEARTBEATS_URL).status_code == 405
