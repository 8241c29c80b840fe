"""The node counts PostgreSQL keeps (migration 0003) stay exact whoever writes; ``kept_node_count`` reads them."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from node.models import Node
from node.selectors import kept_node_count
from node.services import node_register, node_update
from node.tests.helpers import assert_counts_are_exact, needs_kept_counts


@needs_kept_counts
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
        Node.objects.bulk_create(Node(hostname=f"bulk{i}.test", change_index=10**9 + i) for i in range(3))
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
