"""node_update, node_update_many, node_rename and node_preview: the change rules applied to stored nodes."""

import datetime as dt
from unittest import mock

import pytest

from node.models import Node
from node.services import (
    node_preview,
    node_register,
    node_rename,
    node_update,
    node_update_many,
)
from node.tests.helpers import create_node


@pytest.mark.django_db
class TestNodeUpdate:
    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({}, "Give at least one of pause_reason, is_paused, is_active"),
            ({"hostname": "x"}, r"Unknown field\(s\): hostname"),
            ({"is_paused": "yes"}, "is_paused: Must be a JSON boolean"),
            ({"is_active": 0}, "is_active: Must be a JSON boolean"),
            ({"pause_reason": 3}, "pause_reason: Not a valid string"),
            ({"pause_reason": "r" * 251}, "no more than 250 characters"),
        ],
    )
    def test_bad_changes_raise_and_write_nothing(self, changes: dict, message: str) -> None:
        node = create_node(hostname="n.test")
        with pytest.raises(ValueError, match=message):
            node_update(node=node, changes=changes)
        assert Node.objects.get().last_modified == node.last_modified

    def test_update_of_a_deleted_node_raises_does_not_exist(self) -> None:
        node = create_node(hostname="gone.test")
        Node.objects.all().delete()
        with pytest.raises(Node.DoesNotExist):
            node_update(node=node, changes={"is_paused": True})

    def test_update_works_from_the_database_row_not_the_callers_copy(self) -> None:
        node = create_node(hostname="n.test")
        stale = Node.objects.get()
        node_update(node=node, changes={"is_paused": True, "pause_reason": "first"})
        updated = node_update(node=stale, changes={"is_active": False})
        assert (updated.is_paused, updated.pause_reason, updated.is_active) == (True, "first", False)


@pytest.mark.django_db
class TestNodeUpdateMany:
    def test_every_node_gets_the_rules_and_its_own_last_modified(self) -> None:
        nodes = [create_node(hostname=f"n{i}.test") for i in range(5)]
        before = {node.pk: node.last_modified for node in nodes}
        result = node_update_many(nodes=Node.objects.all(), changes={"is_active": False}, chunk_size=2)
        assert (result.updated, result.changed, result.unchanged) == (5, 5, 0)
        for node in Node.objects.all():
            assert node.last_modified > before[node.pk]
            assert node.deprecated == node.last_modified

    def test_nodes_already_in_the_state_are_written_but_not_counted_as_changed(self) -> None:
        create_node(hostname="p.test", is_paused=True, pause_reason="disk")
        create_node(hostname="r.test")
        result = node_update_many(nodes=Node.objects.all(), changes={"is_paused": False})
        assert (result.updated, result.changed) == (2, 1)
        assert not Node.objects.exclude(pause_reason=None).exists()

    def test_nodes_already_inactive_keep_their_deprecated_time(self) -> None:
        old = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        create_node(hostname="gone.test", is_active=False, deprecated=old)
        create_node(hostname="up.test")
        node_update_many(nodes=Node.objects.all(), changes={"is_active": False})
        nodes = {node.hostname: node for node in Node.objects.all()}
        assert nodes["gone.test"].deprecated == old
        assert nodes["up.test"].deprecated == nodes["up.test"].last_modified

    def test_a_system_clock_that_went_back_still_gives_each_node_its_own_later_time(self) -> None:
        node_register(hostnames=["a.test", "b.test", "c.test"])
        latest = max(Node.objects.values_list("last_modified", flat=True))
        with mock.patch("node.services.clock.timezone.now", return_value=latest - dt.timedelta(days=1)):
            node_update_many(nodes=Node.objects.all(), changes={"is_paused": True})
        times = list(Node.objects.order_by("change_index").values_list("last_modified", flat=True))
        assert times == [latest + dt.timedelta(microseconds=n) for n in (1, 2, 3)]

    def test_only_the_given_nodes_change(self) -> None:
        create_node(hostname="a.test")
        create_node(hostname="b.test")
        node_update_many(nodes=Node.objects.filter(hostname="a.test"), changes={"is_paused": True})
        assert list(Node.objects.filter(is_paused=True).values_list("hostname", flat=True)) == ["a.test"]

    def test_bad_changes_raise_and_write_nothing(self) -> None:
        node = create_node(hostname="a.test")
        with pytest.raises(ValueError, match=r"Unknown field\(s\): hostname"):
            node_update_many(nodes=Node.objects.all(), changes={"hostname": "x.test"})
        assert Node.objects.get().last_modified == node.last_modified


@pytest.mark.django_db
class TestNodeRename:
    def test_rename_changes_only_the_hostname_and_advances_last_modified(self) -> None:
        node = create_node(hostname="old.test", is_paused=True, pause_reason="disk")
        renamed = node_rename(node=node, hostname="New.test")
        assert (renamed.hostname, renamed.pause_reason) == ("New.test", "disk")
        assert renamed.last_modified > node.last_modified

    def test_rename_to_its_own_name_in_another_case_is_allowed(self) -> None:
        node = create_node(hostname="host.test")
        assert node_rename(node=node, hostname="HOST.test").hostname == "HOST.test"

    @pytest.mark.parametrize(
        ("hostname", "message"), [("Taken.TEST", "'taken.test' exists already"), ("bad_name", "not a valid hostname")]
    )
    def test_rename_refuses_a_taken_or_bad_hostname(self, hostname: str, message: str) -> None:
        create_node(hostname="taken.test")
        node = create_node(hostname="mine.test")
        with pytest.raises(ValueError, match=message):
            node_rename(node=node, hostname=hostname)
        assert Node.objects.get(pk=node.pk).hostname == "mine.test"


@pytest.mark.django_db
class TestNodePreview:
    def test_preview_shows_the_outcome_without_writing(self) -> None:
        node = create_node(hostname="p.test", is_paused=True, pause_reason="disk")
        preview = node_preview(node=node, changes={"is_paused": False})
        assert (preview.is_paused, preview.pause_reason) == (False, None)
        assert Node.objects.get().pause_reason == "disk"
        assert node.pause_reason == "disk"
