"""POST /v6/nodes/: registering nodes by hostname, idempotently, with the records and events of a registration."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from node.models import Node, NodeChange, RegistryClock
from node.tests.helpers import LIST_URL, body, json_error


def register(client: APIClient, data: object, status: int = 200, **extra: str) -> dict:
    response = client.post(LIST_URL, data, format="json", **extra)
    assert response.status_code == status, body(response)
    return response.json()


def _nothing_registered() -> bool:
    return not Node.objects.exists() and not NodeChange.objects.exists()


@pytest.mark.django_db
class TestNodeRegister:
    def test_new_hostnames_are_created_in_the_order_given(self, registrar_client: APIClient) -> None:
        answer = register(registrar_client, {"hostnames": ["b.example.com", "a.example.com"]})
        nodes = {node.hostname: node.pk for node in Node.objects.all()}
        assert answer == {
            "created": [
                {"id": nodes["b.example.com"], "hostname": "b.example.com"},
                {"id": nodes["a.example.com"], "hostname": "a.example.com"},
            ],
            "existing": [],
        }

    def test_known_hostnames_in_any_letter_case_are_existing_with_their_stored_spelling(
        self, registrar_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        known = make_node("Gpu-1.example.com")
        answer = register(registrar_client, {"hostnames": ["new.example.com", "GPU-1.EXAMPLE.COM"]})
        new = Node.objects.get(hostname="new.example.com")
        assert answer == {
            "created": [{"id": new.pk, "hostname": "new.example.com"}],
            "existing": [{"id": known.pk, "hostname": "Gpu-1.example.com"}],
        }
        assert Node.objects.count() == 2

    def test_registering_again_creates_nothing(self, registrar_client: APIClient) -> None:
        first = register(registrar_client, {"hostnames": ["a.example.com", "b.example.com"]})
        index = RegistryClock.objects.get().change_index
        again = register(registrar_client, {"hostnames": ["a.example.com", "b.example.com"]})
        assert again == {"created": [], "existing": first["created"]}
        assert NodeChange.objects.count() == 2
        assert RegistryClock.objects.get().change_index == index

    def test_each_new_node_gets_its_change_index_and_a_record_by_the_user_through_the_api(
        self, registrar_client: APIClient
    ) -> None:
        register(registrar_client, {"hostnames": ["a.example.com", "b.example.com"]}, HTTP_X_REQUEST_ID="reg-1")
        nodes = list(Node.objects.order_by("change_index"))
        records = {record.node_id: record for record in NodeChange.objects.all()}
        assert len({node.change_index for node in nodes}) == 2
        for node in nodes:
            record = records[node.pk]
            assert (record.action, record.actor, record.channel, record.change_index) == (
                "register",
                "registrar",
                "api",
                node.change_index,
            )
            assert record.changes["hostname"] == {"old": None, "new": node.hostname}
        assert [node.is_active and not node.is_paused for node in nodes] == [True, True]

    def test_new_nodes_appear_on_the_change_feed(self, registrar_client: APIClient, api_client: APIClient) -> None:
        after = api_client.get("/v6/nodes/changes/").json()["index"]
        register(registrar_client, {"hostnames": ["a.example.com"]})
        feed = api_client.get("/v6/nodes/changes/", {"after": after}).json()
        assert [node["hostname"] for node in feed["results"]] == ["a.example.com"]

    def test_a_thousand_hostnames_are_accepted(self, registrar_client: APIClient) -> None:
        answer = register(registrar_client, {"hostnames": [f"n{i}.example.com" for i in range(1000)]})
        assert len(answer["created"]) == 1000
        assert [node["hostname"] for node in answer["created"]][:2] == ["n0.example.com", "n1.example.com"]


def register_error(client: APIClient, data: object, status: int = 400) -> str:
    return json_error(client.post(LIST_URL, data, format="json"), status)


@pytest.mark.django_db
class TestNodeRegisterRefusals:
    def test_one_bad_hostname_is_named_and_nothing_is_registered(self, registrar_client: APIClient) -> None:
        detail = register_error(registrar_client, {"hostnames": ["good.example.com", "bad_host.example.com"]})
        assert "Item 1, 'bad_host.example.com' is not a valid hostname" in detail, detail
        assert _nothing_registered()

    def test_a_too_long_hostname_is_named(self, registrar_client: APIClient) -> None:
        detail = register_error(registrar_client, {"hostnames": ["a" * 251]})
        assert detail.startswith(f"hostnames: Item 0, '{'a' * 60}': a hostname has at most 250 characters"), detail

    def test_a_hostname_given_twice_in_any_letter_case_is_named(self, registrar_client: APIClient) -> None:
        detail = register_error(registrar_client, {"hostnames": ["a.example.com", "b.example.com", "A.Example.com"]})
        assert detail == "hostnames: Item 2, 'A.Example.com', is given more than once (hostnames ignore letter case)."
        assert _nothing_registered()

    def test_a_thousand_and_one_hostnames_are_refused(self, registrar_client: APIClient) -> None:
        detail = register_error(registrar_client, {"hostnames": [f"n{i}.example.com" for i in range(1001)]})
        assert detail == "hostnames: At most 1000 hostnames at a time, got 1001; send them in batches."
        assert _nothing_registered()

    def test_no_hostname_is_refused(self, registrar_client: APIClient) -> None:
        assert register_error(registrar_client, {"hostnames": []}) == "hostnames: Give at least one hostname."

    @pytest.mark.parametrize(
        ("data", "detail"),
        [
            ([], "Invalid data. Expected a dictionary, but got list."),
            (["a.example.com"], "Invalid data. Expected a dictionary, but got list."),
            ("a.example.com", "Invalid data. Expected a dictionary, but got str."),
            (7, "Invalid data. Expected a dictionary, but got int."),
            ({}, "hostnames: This field is required."),
            ({"hostnames": "a.example.com"}, "hostnames: Expected a JSON array of hostnames (strings)."),
            ({"hostnames": {"a": 1}}, "hostnames: Expected a JSON array of hostnames (strings)."),
            ({"hostnames": ["a.example.com", 7]}, "hostnames: Item 1 is not a string: 7."),
            ({"hostnames": [None]}, "hostnames: Item 0 is not a string: null."),
            (
                {"hostnames": ["a.example.com"], "is_paused": True},
                "Unknown field(s): is_paused. Only hostnames is accepted.",
            ),
        ],
    )
    def test_bodies_of_the_wrong_shape_are_refused(
        self, registrar_client: APIClient, data: object, detail: str
    ) -> None:
        assert register_error(registrar_client, data) == detail
        assert _nothing_registered()

    def test_malformed_json_is_refused(self, registrar_client: APIClient) -> None:
        response = registrar_client.generic("POST", LIST_URL, b'{"hostnames": [', content_type="application/json")
        assert json_error(response, 400).startswith("JSON parse error")

    def test_staff_without_the_add_permission_is_refused(self, staff_client: APIClient) -> None:
        detail = register_error(staff_client, {"hostnames": ["a.example.com"]}, 403)
        assert "node.add_node" in detail
        assert _nothing_registered()

    def test_no_token_is_a_401(self, api_client: APIClient) -> None:
        response = api_client.post(LIST_URL, {"hostnames": ["a.example.com"]}, format="json")
        assert json_error(response, 401) == "Authentication credentials were not provided."
        assert response["WWW-Authenticate"] == "Token"
        assert _nothing_registered()

    def test_a_bad_token_is_a_401(self, api_client: APIClient) -> None:
        api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
        assert json_error(api_client.post(LIST_URL, {"hostnames": ["a.example.com"]}, format="json"), 401)
        assert _nothing_registered()
