"""Changes of a node's state (pause, resume, deactivate, reactivate): one node, or many in bulk.

Both apply ``node.services.rules`` to rows locked for the length of their transaction, so
concurrent writers apply one after the other and always see each other's result, and both
record each effective change in the node's history in that same transaction.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from node.actors import SYSTEM, Actor
from node.models import Node, NodeChange
from node.services import clock, history, storage
from node.services.rules import STATE_FIELDS, Changed, apply_changes, changed_fields, state_of, validate_changes
from node.versions import node_version

logger = logging.getLogger(__name__)

# What an update writes: the state, the modification time and the change index.
WRITTEN_FIELDS = (*STATE_FIELDS, "last_modified", "change_index")


class NodeChanged(Exception):
    """The node is no longer at any of the versions the writer expected; nothing was written.

    ``current_version`` is the node's version now, so the writer can tell what it missed.
    """

    def __init__(self, *, node_id: int, current_version: str) -> None:
        super().__init__(f"node {node_id} has changed: it is now at version {current_version}.")
        self.node_id = node_id
        self.current_version = current_version


def _change(node: Node, changes: Mapping[str, Any], *, index: int, time: dt.datetime) -> Changed:
    """Apply validated ``changes`` to ``node`` in memory as change ``index`` made at ``time``; return what changed."""
    before = state_of(node)
    after = apply_changes(before, changes, now=time)
    for name, value in after.items():
        setattr(node, name, value)
    node.last_modified = time
    node.change_index = index
    return changed_fields(before, after)


def _update_record(node: Node, changed: Changed, actor: Actor) -> NodeChange | None:
    """The history record of an update, or None when none of the followed fields changed."""
    changes = history.update_changes(changed)
    return history.update_record(node, actor=actor, changes=changes) if changes else None


def _log_change(node: Node, changed: Changed, actor: Actor) -> None:
    logger.info("node %s (%s) updated by %s: %s", node.pk, node.hostname, actor, changed or "no change")


def node_update(
    *,
    node: Node | int,
    changes: Mapping[str, Any],
    actor: Actor = SYSTEM,
    expected_versions: Collection[str] | None = None,
) -> Node:
    """Apply ``changes`` (any of ``pause_reason``, ``is_paused``, ``is_active``) to ``node`` (or its id), by ``rules``.

    Runs in one transaction that holds the registry clock and the node's row (``storage``: on
    PostgreSQL outside a transaction, pipelined in two round trips); the node is read from its
    locked row, not from the caller's copy. ``expected_versions`` makes the
    change conditional: it applies only while the node is at one of these versions (``node.versions``).
    The check runs on the locked row, so of two writers expecting the same version exactly one
    succeeds. A change of a followed field is recorded in the node's history with ``actor``.

    Returns the node as saved. Raises ``ValueError`` for changes that break a rule, ``NodeChanged``
    when the node is at none of ``expected_versions`` (nothing is written in either case), and
    ``Node.DoesNotExist`` when the node no longer exists.
    """
    changes = validate_changes(changes)
    node_id = node if isinstance(node, int) else node.pk

    def apply(update: storage.Update) -> tuple[Node, Changed]:
        locked, stamps = update.lock_for_update(node_id)
        if expected_versions is not None:
            current = node_version(locked)
            if current not in expected_versions:
                raise NodeChanged(node_id=locked.pk, current_version=current)
        changed = _change(locked, changes, index=stamps.index(0), time=stamps.time(0))
        update.write_update(locked, WRITTEN_FIELDS, _update_record(locked, changed, actor))
        return locked, changed

    done = None
    if storage.can_pipeline():
        try:
            with storage.pipelined() as update:
                done = apply(update)
        except storage.NotLocked:
            done = None
    if done is None:
        with transaction.atomic():
            done = apply(storage.Update())
    locked, changed = done
    _log_change(locked, changed, actor)
    return locked


def node_preview(*, node: Node, changes: Mapping[str, Any]) -> Node:
    """An unsaved copy of ``node`` with ``changes`` applied by ``node_update``'s rules; nothing is written.

    Lets a form show and validate the outcome of an edit before it is saved (its time and change
    index stay those of the node: only a write takes new ones). Raises ``ValueError`` like
    ``node_update``.
    """
    changes = validate_changes(changes)
    preview = copy.copy(node)
    after = apply_changes(state_of(preview), changes, now=timezone.now())
    for name, value in after.items():
        setattr(preview, name, value)
    return preview


@dataclass
class BulkUpdateResult:
    """What ``node_update_many`` did: nodes written, and how many of them had a value changed."""

    updated: int = 0
    changed: int = 0

    @property
    def unchanged(self) -> int:
        return self.updated - self.changed


def node_update_many(
    *, nodes: QuerySet[Node], changes: Mapping[str, Any], actor: Actor = SYSTEM, chunk_size: int = 2000
) -> BulkUpdateResult:
    """Apply the same ``changes`` to every node of ``nodes``, by ``node_update``'s rules.

    Rows are locked and written ``chunk_size`` at a time, each chunk in its own transaction that
    holds the registry clock, with the history records of its effective changes. Every node
    written takes its own change index and time. Nodes deleted in the meantime are skipped.
    Raises ``ValueError`` for changes that break a rule (nothing is written).
    """
    changes = validate_changes(changes)
    ids = sorted(nodes.order_by().values_list("pk", flat=True))
    result = BulkUpdateResult()
    for start in range(0, len(ids), chunk_size):
        with transaction.atomic():
            clock.advance(0)
            chunk = ids[start : start + chunk_size]
            locked = list(Node.objects.select_for_update().filter(pk__in=chunk).order_by("pk"))
            stamps = clock.advance(len(locked))
            changes_by_node = [
                (node, _change(node, changes, index=stamps.index(n), time=stamps.time(n)))
                for n, node in enumerate(locked)
            ]
            Node.objects.bulk_update(locked, WRITTEN_FIELDS, batch_size=500)
            records = [_update_record(node, changed, actor) for node, changed in changes_by_node]
            NodeChange.objects.bulk_create([record for record in records if record is not None])
        for node, changed in changes_by_node:
            _log_change(node, changed, actor)
        result.updated += len(locked)
        result.changed += sum(1 for _, changed in changes_by_node if changed)
    return result
