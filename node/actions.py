"""Operators' words for nodes: the actions of the admin and the ``nodes`` command, and the names of states.

Each action is a set of ``node.services`` changes; the sentences here are what an operator reads
after applying one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from node.models import Node
from node.services import BulkUpdateResult


@dataclass(frozen=True)
class NodeAction:
    """An operator's action on nodes (pause, resume, deactivate, reactivate) as ``node_update`` changes."""

    name: str
    past_tense: str
    already: str
    changes: Mapping[str, Any]
    needs_reason: bool = False

    def changes_with(self, reason: str | None = None) -> dict[str, Any]:
        """The changes of this action; a pause needs a non-blank ``reason`` (raises ``ValueError``)."""
        if not self.needs_reason:
            return dict(self.changes)
        if not (reason or "").strip():
            raise ValueError(f"{self.name} needs a reason.")
        return {**self.changes, "pause_reason": reason}

    def describe(self, result: BulkUpdateResult) -> str:
        """A sentence for the operator: how many nodes the action touched and how many were already so."""
        text = f"{self.past_tense} {result.updated} node{'s' if result.updated != 1 else ''}"
        if result.unchanged:
            text += f"; {result.unchanged} of them {'was' if result.unchanged == 1 else 'were'} already {self.already}"
        return text + "."


NODE_ACTIONS: dict[str, NodeAction] = {
    action.name: action
    for action in (
        NodeAction("pause", "Paused", "paused with that reason", {"is_paused": True}, needs_reason=True),
        NodeAction("resume", "Resumed", "running", {"is_paused": False}),
        NodeAction("deactivate", "Deactivated", "inactive", {"is_active": False}),
        NodeAction("reactivate", "Reactivated", "active", {"is_active": True}),
    )
}

# The states an operator selects nodes by, and which nodes each means.
STATE_FILTERS: dict[str, Q] = {
    "active": Q(is_active=True, is_paused=False),
    "paused": Q(is_paused=True),
    "inactive": Q(is_active=False),
}


def state_words(node: Node) -> list[str]:
    """The node's state as an operator reads it: ``active`` or ``inactive``, then ``paused`` if it is."""
    words = ["active" if node.is_active else "inactive"]
    if node.is_paused:
        words.append("paused")
    return words
