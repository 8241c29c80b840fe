"""The node counts PostgreSQL keeps (migration 0003) stay exact whoever writes, and the list uses them."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from node.models import Node
from node.selectors import kept_node_count
from node.services import node_register, node_update
from node.tests.helpers import body

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the counts are kept by PostgreSQL triggers; SQLite counts rows"
)


def assert_counts_are_exact() -> None:
    active = Node.objects.filter(is_active=True).count()
    inactive = Node.objects.filter(is_active=False).count()
    assert (kept_node_count(), kept_node_count(is_active=True), kept_node_count(is_active=False)) == (
        active + inactive,
        active,
        inactive,
    )


@pytest.mark.django_db
class TestKeptNodeCount:
    def test_registration_counts_new_nodes_by_activity(self) -> None:
        node_register(hostnames=[f"n{i}.test" for i in range(7)], states={"n1.test": {"is_active": False}})
        assert_counts_are_exact()
        assert kept_node_count(is_active=False) == 1

    def test_activity_changes_move_a_node_between_counts_and_pauses_do_not(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        make_node()
        node = node_update(node=node, changes={"is_active": False})
        assert_counts_are_exact()
        node = node_update(node=node, changes={"is_paused": True, "pause_reason": "disk"})
        node_update(node=node, changes={"is_active": True})
        assert_counts_are_exact()
        assert kept_node_count(is_active=True) == 2

    def test_bulk_statements_outside_the_services_are_counted_too(self, make_node: Callable[..., Node]) -> None:
        for _ in range(5):
            make_node()
        Node.objects.bulk_create(Node(hostname=f"bulk{i}.test") for i in range(3))
        assert_counts_are_exact()
        Node.objects.filter(hostname__startswith="bulk").update(is_active=False, deprecated=timezone.now())
        assert_counts_are_exact()
        Node.objects.filter(hostname="bulk0.test").delete()
        assert_counts_are_exact()
        with connection.cursor() as cursor:
            # The history references the nodes; deferred foreign-key checks must run before a TRUNCATE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE node CASCADE")
        assert (kept_node_count(), kept_node_count(is_active=True), kept_node_count(is_active=False)) == (0, 0, 0)

    @pytest.mark.parametrize("query", ["", "is_active=true", "is_active=false", "page=2&page_size=1"])
    def test_the_list_count_is_the_kept_count(
        self, api_client: APIClient, make_node: Callable[..., Node], query: str
    ) -> None:
        for number in range(4):
            make_node(is_active=number != 2)
        response = api_client.get(f"/v6/nodes/?{query}")
        assert response.status_code == 200, body(response)
        is_active = {"is_active=true": True, "is_active=false": False}.get(query)
        assert response.json()["count"] == kept_node_count(is_active=is_active)
        assert (
            response.json()["count"]
            == Node.objects.filter(**({} if is_active is None else {"is_active": is_active})).count()
        )


@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_activity_changes() -> None:
    node_register(hostnames=[f"race{i}.test" for i in range(6)])
    nodes = list(Node.objects.all())
    errors: list[BaseException] = []

    def flip(node: Node) -> None:
        try:
            for round_number in range(6):
                node_update(node=node, changes={"is_active": round_number % 2 == 1})
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=flip, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert_counts_are_exact()
