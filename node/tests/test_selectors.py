"""The node counts PostgreSQL keeps (migration 0003) stay exact whoever writes; ``kept_node_count`` reads them."""

import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from node.live import follow
from node.models import NODE_FIELDS, Node
from node.selectors import NodeEvent, current_change_index, kept_node_count, node_events, node_rows
from node.services import node_register, node_update, node_update_many
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


def _row(node: Node) -> tuple:
    """The node's ``NODE_FIELDS`` values as stored now."""
    return node_rows().get(pk=node.pk)


def _all_events(*, after: int, limit: int) -> list[NodeEvent]:
    """Every event after ``after``, read page by page by the follow loop of ``nodes watch``, up to now."""
    events, position = [], after
    for page in follow(after, until=time.monotonic(), page_size=limit):
        assert page.head >= position
        events += page.events
        position = page.head
    return events


@pytest.mark.django_db
class TestNodeEvents:
    def test_ten_changes_of_one_node_are_ten_events_each_with_the_node_right_after_it(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        start = current_change_index()
        seen = []
        for n in range(10):
            node = node_update(node=node, changes={"is_paused": n % 2 == 0, "pause_reason": f"step {n}"})
            seen.append((node.change_index, _row(node)))
        events = node_events(after=start, limit=500)
        assert [(event.index, event.node) for event in events.events] == seen
        assert events.head == current_change_index()
        assert not events.more
        assert events.events[0].record.changes == {
            "is_paused": {"old": False, "new": True},
            "pause_reason": {"old": None, "new": "step 0"},
        }

    @pytest.mark.parametrize("limit", [1, 2, 3, 500])
    def test_interleaved_changes_read_a_page_at_a_time_come_in_order_with_their_deprecated_times(
        self, make_node: Callable[..., Node], limit: int
    ) -> None:
        first, second = make_node(), make_node()
        first = node_update(node=first, changes={"is_active": False})
        start = current_change_index()
        seen = []
        steps = [
            (second, {"is_paused": True, "pause_reason": "disk"}),
            (first, {"is_paused": True, "pause_reason": "while inactive"}),
            (first, {"is_active": True}),
            (second, {"is_active": False}),
            (first, {"is_active": False}),
            (second, {"is_active": True}),
            (first, {"is_active": True}),
        ]
        for node, changes in steps:
            node = node_update(node=node, changes=changes)
            seen.append((node.change_index, _row(node)))
        events = _all_events(after=start, limit=limit)
        assert [(event.index, event.node) for event in events] == seen
        # Inactive after the pause, with the time of its deactivation before the position.
        assert events[1].node[NODE_FIELDS.index("deprecated")] == first.deprecated

    def test_a_write_that_changes_nothing_is_an_event_without_a_record_while_it_is_the_latest(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = node_update(node=make_node(), changes={"is_paused": True, "pause_reason": "disk"})
        start = current_change_index()
        node = node_update(node=node, changes={"is_paused": True, "pause_reason": "disk"})
        events = node_events(after=start, limit=500).events
        assert [(event.index, event.node, event.record) for event in events] == [(node.change_index, _row(node), None)]

    def test_a_bulk_change_is_one_event_per_node(self, make_node: Callable[..., Node]) -> None:
        nodes = [make_node() for _ in range(5)]
        start = current_change_index()
        node_update_many(nodes=Node.objects.filter(pk__in=[n.pk for n in nodes]), changes={"is_active": False})
        events = _all_events(after=start, limit=2)
        assert [event.index for event in events] == list(range(start + 1, start + 6))
        assert [event.node for event in events] == [_row(node) for node in sorted(nodes, key=lambda n: n.pk)]
