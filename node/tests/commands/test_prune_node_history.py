"""The manage.py command ``prune_node_history``: history records older than a duration are deleted."""

from collections.abc import Callable

import pytest
from django.core.management import CommandError

from node.models import Node, NodeChange
from node.services import node_update
from node.tests.helpers import make_history, run_command


@pytest.mark.django_db
class TestPruneNodeHistory:
    def run(self, *args: str) -> str:
        return run_command("prune_node_history", *args)

    def test_prune_deletes_only_records_older_than_the_duration(self, make_node: Callable[..., Node]) -> None:
        node = make_node()  # its registration record is dated 2024
        make_history(node, 3)  # in 2025
        node_update(node=node, changes={"is_paused": True})  # now
        assert self.run("--older-than", "P90D", "--dry-run").startswith("4 history records older than ")
        assert NodeChange.objects.count() == 5
        assert self.run("--older-than", "P90D").startswith("4 history records older than ")
        assert list(NodeChange.objects.values_list("changes", flat=True)) == [
            {"is_paused": {"old": False, "new": True}}
        ]

    @pytest.mark.parametrize("value", ["90", "2025-01-01T00:00:00Z", "P", "-P1D", "P1000000000Y"])
    def test_bad_duration_is_a_command_error(self, make_node: Callable[..., Node], value: str) -> None:
        node = make_node()
        make_history(node, 1)
        with pytest.raises(CommandError, match="--older-than"):
            self.run("--older-than", value)
        assert NodeChange.objects.count() == 2
