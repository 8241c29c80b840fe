"""node_register and node_create: new nodes, their hostnames and initial states."""

import pytest

from node.models import Node
from node.services import (
    node_create,
    node_register,
)
from node.tests.helpers import create_node


@pytest.mark.django_db
class TestNodeRegister:
    def test_new_hostnames_are_inserted_and_known_ones_skipped_in_any_case(self) -> None:
        create_node(hostname="Known.Test")
        result = node_register(hostnames=["a.test", "known.test", "b.test", "A.TEST"])
        assert result.created == ["a.test", "b.test"]
        assert result.existing == ["known.test"]
        assert sorted(Node.objects.values_list("hostname", flat=True)) == ["Known.Test", "a.test", "b.test"]

    def test_one_bad_hostname_inserts_nothing(self) -> None:
        with pytest.raises(ValueError, match="not a valid hostname"):
            node_register(hostnames=["good.test", "bad_host.test"])
        assert not Node.objects.exists()

    def test_initial_states_follow_the_update_rules(self) -> None:
        node_register(
            hostnames=["p.test", "i.test", "u.test"],
            states={
                "p.test": {"is_paused": True, "pause_reason": "disk"},
                "i.test": {"is_active": False},
                "u.test": {"pause_reason": "not paused, not stored"},
            },
        )
        nodes = {node.hostname: node for node in Node.objects.all()}
        assert (nodes["p.test"].is_paused, nodes["p.test"].pause_reason) == (True, "disk")
        assert nodes["i.test"].deprecated == nodes["i.test"].created
        assert nodes["u.test"].pause_reason is None

    def test_batches_insert_everything(self) -> None:
        result = node_register(hostnames=[f"n{i}.test" for i in range(25)], batch_size=10)
        assert len(result.created) == 25
        assert Node.objects.count() == 25


@pytest.mark.django_db
class TestNodeRegisterProgress:
    def test_progress_is_reported_after_each_batch_with_distinct_hostnames_done(self) -> None:
        seen: list[int] = []
        names = [f"n{i}.test" for i in range(25)] + ["N0.TEST"]
        node_register(hostnames=names, batch_size=10, progress=seen.append)
        assert seen == [10, 20, 25]

    def test_a_batch_mixing_new_and_known_hostnames_reports_each_in_input_order(self) -> None:
        create_node(hostname="B.test")
        result = node_register(hostnames=["c.test", "b.TEST", "a.test"], batch_size=2)
        assert (result.created, result.existing) == (["c.test", "a.test"], ["b.TEST"])


@pytest.mark.django_db
class TestNodeCreate:
    def test_create_applies_the_initial_state_by_the_update_rules(self) -> None:
        node = node_create(hostname="new.test", changes={"is_active": False, "pause_reason": "dropped"})
        assert (node.is_active, node.pause_reason, node.deprecated) == (False, None, node.created)
        assert node.last_modified == node.created

    def test_create_refuses_a_known_hostname_in_any_case(self) -> None:
        create_node(hostname="known.test")
        with pytest.raises(ValueError, match="exists already"):
            node_create(hostname="KNOWN.test")
        assert Node.objects.count() == 1
