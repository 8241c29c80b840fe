"""The node history: the record each write makes of itself, and pruning of old records.

Every service that writes a node builds its records here, in the same transaction as the write,
so a change is never recorded without happening, nor happens without being recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from node.actors import Actor
from node.models import NodeChange
from node.services.rules import RECORDED_FIELDS, Changed

logger = logging.getLogger(__name__)

# The columns of a record as ``record_row`` gives them (``node`` is the node's id).
RECORD_COLUMNS = ("node", "time", "change_index", "action", "actor", "channel", "request_id", "changes")

FieldChanges = dict[str, dict[str, Any]]


def record_row(
    *, node_id: int, time: dt.datetime, change_index: int, action: str, actor: Actor, changes: FieldChanges
) -> dict[str, Any]:
    """The values of one history record, by ``RECORD_COLUMNS``: what a ``NodeChange`` is made of."""
    return {
        "node": node_id,
        "time": time,
        "change_index": change_index,
        "action": action,
        "actor": actor.name,
        "channel": actor.channel,
        "request_id": actor.request_id,
        "changes": changes,
    }


def record(row: Mapping[str, Any]) -> NodeChange:
    """The unsaved ``NodeChange`` of a ``record_row``."""
    return NodeChange(**{("node_id" if name == "node" else name): value for name, value in row.items()})


def update_record(node: Any, *, actor: Actor, changes: FieldChanges) -> NodeChange:
    """The unsaved record of an update of ``node`` (its id, new ``last_modified`` and change index) by ``actor``."""
    return record(
        record_row(
            node_id=node.pk,
            time=node.last_modified,
            change_index=node.change_index,
            action=NodeChange.Action.UPDATE,
            actor=actor,
            changes=changes,
        )
    )


def registration_changes(hostname: str, state: Mapping[str, Any]) -> FieldChanges:
    """A registration's changes: the hostname and the followed fields of the initial state, each from nothing."""
    return {"hostname": {"old": None, "new": hostname}} | {
        name: {"old": None, "new": state[name]} for name in RECORDED_FIELDS
    }


def update_changes(changed: Changed) -> FieldChanges:
    """An update's changes: the followed fields among ``changed`` (empty when none of them changed)."""
    return {name: {"old": old, "new": new} for name, (old, new) in changed.items() if name in RECORDED_FIELDS}


def node_history_prune(*, before: dt.datetime, dry_run: bool = False) -> int:
    """Delete the history records of all nodes older than ``before``; return how many (would) go."""
    old = NodeChange.objects.filter(time__lt=before)
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    logger.info("%d node history records older than %s deleted", deleted, before.isoformat())
    return deleted
