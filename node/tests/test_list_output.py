"""The optimised list and detail write the contract's bytes: those of ``NodeSerializer`` rendered by DRF."""

import datetime as dt
from collections.abc import Callable

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from node.models import Node
from node.serializers import NodeSerializer
from node.tests.helpers import body
from util import pagination

URL = "/v6/nodes/"
UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def fixture_nodes(make_node: Callable[..., Node]) -> list[Node]:
    """Nodes in every state, with text and times that test the edges of the JSON encoding."""
    return [
        make_node("alpha.example.com", created=T0, last_modified=T0 + dt.timedelta(hours=1)),
        make_node(
            "Bravo.example.com",
            is_paused=True,
            pause_reason='Ventilateur défectueux "rack 7" \\ 温度\u2028next line\u2029',
            created=T0 + dt.timedelta(microseconds=1),
            last_modified=T0 + dt.timedelta(hours=2, microseconds=120),
        ),
        make_node(
            "charlie.example.com",
            is_active=False,
            deprecated=T0 + dt.timedelta(days=2, microseconds=999_999),
            created=T0 - dt.timedelta(days=400),
            last_modified=T0 + dt.timedelta(days=2, microseconds=999_999),
        ),
        make_node(
            "delta.example.com",
            is_paused=True,
            pause_reason="emoji 🚧 and tab\t",
            is_active=False,
            deprecated=T0,
            created=T0 - dt.timedelta(seconds=1),
            last_modified=T0 + dt.timedelta(hours=2, microseconds=120),
        ),
    ]


def contract_bytes(*, nodes: list[Node], count: int, next_url: str | None, previous_url: str | None) -> bytes:
    """The response the contract describes, written by DRF's own serializer and renderer."""
    return JSONRenderer().render(
        {"count": count, "next": next_url, "previous": previous_url, "results": NodeSerializer(nodes, many=True).data}
    )


def get_bytes(client: APIClient, query: str = "") -> bytes:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, body(response)
    assert response["Content-Type"] == "application/json"
    return response.content


@pytest.mark.django_db
class TestNodeListOutput:
    def test_list_is_byte_for_byte_the_contract_for_a_fixed_fixture(
        self, api_client: APIClient, fixture_nodes: list[Node]
    ) -> None:
        ordered = sorted(Node.objects.all(), key=lambda node: (node.last_modified, node.id))
        assert get_bytes(api_client) == contract_bytes(nodes=ordered, count=4, next_url=None, previous_url=None)

    def test_escapes_and_times_are_written_as_drf_writes_them(
        self, api_client: APIClient, fixture_nodes: list[Node]
    ) -> None:
        content = get_bytes(api_client, "order=hostname&page_size=1&page=2")
        assert b'"pause_reason":"Ventilateur d\xc3\xa9fectueux \\"rack 7\\" \\\\ ' in content
        assert b"\\u2028next line\\u2029" in content
        assert b'"created":"2025-03-01T08:30:00.000001Z"' in content
        alpha = get_bytes(api_client, "order=hostname&page_size=1")
        assert b'"created":"2025-03-01T08:30:00Z"' in alpha

    @pytest.mark.parametrize(
        ("query", "chosen", "key", "rows"),
        [
            ("order=hostname&page_size=2&page=2", lambda n: True, lambda n: (n.hostname.lower(), n.id), slice(2, 4)),
            ("is_active=false", lambda n: not n.is_active, lambda n: (n.last_modified, n.id), slice(0, 100)),
            ("order=-created&page_size=3", lambda n: True, lambda n: (-n.created.timestamp(), n.id), slice(0, 3)),
            (
                "started=2025-03-01T10:30:00.000120Z&order=-id",
                lambda n: n.last_modified >= T0 + dt.timedelta(hours=2, microseconds=120),
                lambda n: -n.id,
                slice(0, 100),
            ),
        ],
    )
    def test_filtered_ordered_pages_are_byte_for_byte_the_contract(
        self,
        api_client: APIClient,
        fixture_nodes: list[Node],
        query: str,
        chosen: Callable[[Node], bool],
        key: Callable,
        rows: slice,
    ) -> None:
        matching = sorted((node for node in Node.objects.all() if chosen(node)), key=key)
        links = api_client.get(f"{URL}?{query}").json()
        assert get_bytes(api_client, query) == contract_bytes(
            nodes=matching[rows], count=len(matching), next_url=links["next"], previous_url=links["previous"]
        )

    def test_deep_pages_read_by_deferred_join_are_the_rows_of_a_plain_offset(
        self, api_client: APIClient, make_node: Callable[..., Node], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for number in range(9):
            make_node(f"n{number}.test", last_modified=T0 + dt.timedelta(minutes=number % 3))
        plain = [get_bytes(api_client, f"page={page}&page_size=2&order=-last_modified") for page in (1, 2, 3, 4, 5)]
        monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 1)
        deferred = [get_bytes(api_client, f"page={page}&page_size=2&order=-last_modified") for page in (1, 2, 3, 4, 5)]
        assert deferred == plain

    def test_deep_pages_still_take_two_queries(
        self,
        api_client: APIClient,
        make_node: Callable[..., Node],
        monkeypatch: pytest.MonkeyPatch,
        django_assert_num_queries: Callable,
    ) -> None:
        for _ in range(5):
            make_node()
        monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 1)
        with django_assert_num_queries(2):
            get_bytes(api_client, "page=3&page_size=2")

    def test_detail_is_byte_for_byte_the_serializer_output(
        self, api_client: APIClient, fixture_nodes: list[Node]
    ) -> None:
        for node in fixture_nodes:
            response = api_client.get(f"{URL}{node.pk}/")
            assert response.status_code == 200, body(response)
            assert response.content == JSONRenderer().render(NodeSerializer(Node.objects.get(pk=node.pk)).data)
