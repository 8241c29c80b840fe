import pytest

from node.models import Node
from node.services import node_register, node_update


@pytest.mark.django_db
class TestNodeUpdate:
    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({}, "no change given"),
            ({"hostname": "x"}, "cannot change hostname"),
            ({"is_paused": "yes"}, "is_paused must be true or false"),
            ({"is_active": 0}, "is_active must be true or false"),
            ({"pause_reason": 3}, "pause_reason must be a string or null"),
            ({"pause_reason": "r" * 251}, "at most 250 characters"),
        ],
    )
    def test_bad_changes_raise_and_write_nothing(self, changes: dict, message: str) -> None:
        node = Node.objects.create(hostname="n.test")
        with pytest.raises(ValueError, match=message):
            node_update(node=node, changes=changes, actor="test")
        assert Node.objects.get().last_modified == node.last_modified

    def test_update_of_a_deleted_node_raises_does_not_exist(self) -> None:
        node = Node.objects.create(hostname="gone.test")
        Node.objects.all().delete()
        with pytest.raises(Node.DoesNotExist):
            node_update(node=node, changes={"is_paused": True}, actor="test")

    def test_update_works_from_the_database_row_not_the_callers_copy(self) -> None:
        node = Node.objects.create(hostname="n.test")
        stale = Node.objects.get()
        node_update(node=node, changes={"is_paused": True, "pause_reason": "first"}, actor="test")
        updated = node_update(node=stale, changes={"is_active": False}, actor="test")
        assert (updated.is_paused, updated.pause_reason, updated.is_active) == (True, "first", False)


@pytest.mark.django_db
class TestNodeRegister:
    def test_new_hostnames_are_inserted_and_known_ones_skipped_in_any_case(self) -> None:
        Node.objects.create(hostname="Known.Test")
        result = node_register(hostnames=["a.test", "known.test", "b.test", "A.TEST"], actor="test")
        assert result.created == ["a.test", "b.test"]
        assert result.existing == ["known.test"]
        assert sorted(Node.objects.values_list("hostname", flat=True)) == ["Known.Test", "a.test", "b.test"]

    def test_one_bad_hostname_inserts_nothing(self) -> None:
        with pytest.raises(ValueError, match="not a valid hostname"):
            node_register(hostnames=["good.test", "bad_host.test"], actor="test")
        assert not Node.objects.exists()

    def test_initial_states_follow_the_update_rules(self) -> None:
        node_register(
            hostnames=["p.test", "i.test", "u.test"],
            states={
                "p.test": {"is_paused": True, "pause_reason": "disk"},
                "i.test": {"is_active": False},
                "u.test": {"pause_reason": "not paused, not stored"},
            },
            actor="test",
        )
        nodes = {node.hostname: node for node in Node.objects.all()}
        assert (nodes["p.test"].is_paused, nodes["p.test"].pause_reason) == (True, "disk")
        assert nodes["i.test"].deprecated == nodes["i.test"].created
        assert nodes["u.test"].pause_reason is None

    def test_batches_insert_everything(self) -> None:
        result = node_register(hostnames=[f"n{i}.test" for i in range(25)], batch_size=10, actor="test")
        assert len(result.created) == 25
        assert Node.objects.count() == 25
