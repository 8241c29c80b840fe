"""On PostgreSQL outside a transaction, node_update runs pipelined: BEGIN with the lock, COMMIT with the write."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from node.models import Node, NodeChange
from node.services import NodeChanged, node_create, node_update

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the pipelined update is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def test_an_update_takes_two_round_trips_and_is_committed_with_its_record() -> None:
    node = node_create(hostname="pipelined.test")
    with CaptureQueriesContext(connection) as queries:
        updated = node_update(node=node.pk, changes={"is_paused": True, "pause_reason": "disk"})
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 2, statements
    assert statements[0].startswith("BEGIN; WITH stamp AS (UPDATE registry_clock")
    assert statements[1].endswith("; COMMIT")
    assert not connection.in_atomic_block
    stored = Node.objects.get(pk=node.pk)
    assert (stored.is_paused, stored.pause_reason, stored.change_index) == (True, "disk", updated.change_index)
    assert NodeChange.objects.filter(node=node, change_index=updated.change_index).count() == 1


def test_a_failed_precondition_rolls_back_and_leaves_the_connection_usable() -> None:
    node = node_create(hostname="refused.test")
    with pytest.raises(NodeChanged):
        node_update(node=node.pk, changes={"is_active": False}, expected_versions=['"not-the-version"'])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert connection.connection.info.transaction_status == 0  # idle: no transaction left open
    assert Node.objects.get(pk=node.pk).is_active is True
    # The clock's index was not taken either: the next write gets the next one.
    before = Node.objects.get(pk=node.pk).change_index
    assert node_update(node=node.pk, changes={"is_active": False}).change_index == before + 1


def test_an_unknown_node_raises_does_not_exist_and_writes_nothing() -> None:
    node_create(hostname="known.test")
    changes = NodeChange.objects.count()
    with pytest.raises(Node.DoesNotExist):
        node_update(node=987654, changes={"is_paused": True})
    assert NodeChange.objects.count() == changes
    assert connection.connection.info.transaction_status == 0
