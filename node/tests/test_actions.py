"""The operator actions (pause, resume, deactivate, reactivate): their changes and their wording."""

import pytest

from node.actions import NODE_ACTIONS
from node.services import BulkUpdateResult


class TestNodeActions:
    def test_pause_needs_a_non_blank_reason(self) -> None:
        with pytest.raises(ValueError, match="pause needs a reason"):
            NODE_ACTIONS["pause"].changes_with("  ")
        assert NODE_ACTIONS["pause"].changes_with("disk") == {"is_paused": True, "pause_reason": "disk"}

    @pytest.mark.parametrize(
        ("name", "changes"),
        [("resume", {"is_paused": False}), ("deactivate", {"is_active": False}), ("reactivate", {"is_active": True})],
    )
    def test_other_actions_ignore_a_reason(self, name: str, changes: dict) -> None:
        assert NODE_ACTIONS[name].changes_with("ignored") == changes

    @pytest.mark.parametrize(
        ("updated", "changed", "text"),
        [
            (1, 1, "Deactivated 1 node."),
            (3, 3, "Deactivated 3 nodes."),
            (3, 2, "Deactivated 3 nodes; 1 of them was already inactive."),
            (3, 0, "Deactivated 3 nodes; 3 of them were already inactive."),
        ],
    )
    def test_the_description_counts_nodes_touched_and_those_already_so(
        self, updated: int, changed: int, text: str
    ) -> None:
        assert NODE_ACTIONS["deactivate"].describe(BulkUpdateResult(updated=updated, changed=changed)) == text
