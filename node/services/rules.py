"""The rules of a node's state, as pure functions: what a change may say, and what it does.

This module is the one statement of the invariants; everything else refers here:

- ``pause_reason`` is null whenever the node is not paused. ``is_paused: false`` clears it, a
  reason given for a node that ends up unpaused is not stored, and an empty or blank reason is
  stored as null.
- ``deprecated`` is set exactly when the node is inactive: ``is_active`` true -> false sets it to
  the time of the change, false -> true clears it; a change that leaves ``is_active`` as it was
  leaves ``deprecated`` alone.
- Every accepted change takes a new change index and time from the registry clock
  (``node.services.clock``), even one that changes no value: ``last_modified`` advances strictly,
  and no two changes share a time. A new node's ``last_modified`` is its ``created``.

``NODE_CHANGES`` declares what a change may contain (the PATCH body, and what the admin and the
commands hand in): validating, its messages and its schema all come from that one declaration.
Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from node.models import PAUSE_REASON_MAX_LENGTH
from util.closed import BooleanField, ClosedObject, TextField

NODE_CHANGES = ClosedObject(
    fields=(
        TextField(
            "pause_reason",
            max_length=PAUSE_REASON_MAX_LENGTH,
            description=(
                "The reason this node is paused if is_paused is true. If is_paused is false, this field will be set "
                "to null. This should provide a brief description for user display. A blank reason is stored as "
                "null; NUL characters and lone surrogates are refused."
            ),
        ),
        BooleanField(
            "is_paused",
            description=(
                "True if the node is paused and will not accept new jobs for execution. Remaining tasks for a "
                "previously executing job will complete. False also clears pause_reason."
            ),
        ),
        BooleanField(
            "is_active",
            description=(
                "True if the node is active and Scale should use it for scheduling jobs. Changing it to false "
                "sets deprecated to now; changing it to true clears deprecated."
            ),
        ),
    ),
    min_fields=1,
)

UPDATABLE_FIELDS = NODE_CHANGES.names
# The fields a history record follows; deprecated is derived from is_active and not repeated.
RECORDED_FIELDS = ("is_paused", "pause_reason", "is_active")
# The state a change can alter: the updatable fields and what follows from them.
STATE_FIELDS = (*UPDATABLE_FIELDS, "deprecated")

Changed = dict[str, tuple[Any, Any]]


def validate_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` checked against ``NODE_CHANGES``: the cleaned values of the fields given.

    Raises ``util.closed.InvalidObject`` (a ``ValueError``) naming each field that is wrong.
    """
    return NODE_CHANGES.validate(changes)


def state_of(node: Any) -> dict[str, Any]:
    """The state fields of ``node`` (any object with them as attributes)."""
    return {name: getattr(node, name) for name in STATE_FIELDS}


def apply_changes(state: Mapping[str, Any], changes: Mapping[str, Any], *, now: dt.datetime) -> dict[str, Any]:
    """The state that validated ``changes`` made at ``now`` give ``state``, by the invariants above."""
    new = dict(state)
    if "is_active" in changes and changes["is_active"] != state["is_active"]:
        new["is_active"] = changes["is_active"]
        new["deprecated"] = None if new["is_active"] else now
    if "is_paused" in changes:
        new["is_paused"] = changes["is_paused"]
    if "pause_reason" in changes:
        new["pause_reason"] = (changes["pause_reason"] or "").strip() or None
    if not new["is_paused"]:
        new["pause_reason"] = None
    return new


def initial_state(changes: Mapping[str, Any], *, now: dt.datetime) -> dict[str, Any]:
    """The state of a node registered at ``now`` with validated ``changes`` as its initial state."""
    registered = {"pause_reason": None, "is_paused": False, "is_active": True, "deprecated": None}
    return apply_changes(registered, changes, now=now)


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> Changed:
    """Each field whose value differs between two states, with its old and new value."""
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}
