"""Every write to a node goes through here: the API, the admin and the manage.py commands alike.

This is the one place for the invariants: ``pause_reason`` is null whenever the node is not
paused, and ``deprecated`` is set exactly when it is inactive. It is also the one place that
records each change in the node's history (``NodeChange``), in the same transaction as the change.
Functions raise ``ValueError`` for input that breaks a rule, and ``Node.DoesNotExist`` for a node
that is gone.
"""

import copy
import datetime as dt
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from node.actors import SYSTEM, Actor
from node.models import HOSTNAME_MAX_LENGTH, PAUSE_REASON_MAX_LENGTH, Node, NodeChange
from node.selectors import node_etag
from util.conditional import PreconditionFailed, etag_matches
from util.db import insert_skipping_conflicts
from util.hostnames import validate_hostname

logger = logging.getLogger(__name__)

UPDATABLE_FIELDS = ("pause_reason", "is_paused", "is_active")
# The fields a history record follows; deprecated is derived from is_active and not repeated.
RECORDED_FIELDS = ("is_paused", "pause_reason", "is_active")


def _check_changes(changes: Mapping[str, Any]) -> None:
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValueError(f"cannot change {', '.join(unknown)}; changeable fields: {', '.join(UPDATABLE_FIELDS)}.")
    if not changes:
        raise ValueError(f"no change given; give at least one of {', '.join(UPDATABLE_FIELDS)}.")
    for name in ("is_paused", "is_active"):
        if name in changes and not isinstance(changes[name], bool):
            raise ValueError(f"{name} must be true or false.")
    reason = changes.get("pause_reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise ValueError("pause_reason must be a string or null.")
        if len(reason) > PAUSE_REASON_MAX_LENGTH:
            raise ValueError(f"pause_reason has at most {PAUSE_REASON_MAX_LENGTH} characters.")


def _apply_changes(node: Node, changes: Mapping[str, Any], *, now: dt.datetime) -> None:
    """Apply checked ``changes`` to ``node`` in memory, keeping the invariants (see ``node_update``)."""
    if "is_active" in changes and changes["is_active"] != node.is_active:
        node.is_active = changes["is_active"]
        node.deprecated = None if node.is_active else now
    if "is_paused" in changes:
        node.is_paused = changes["is_paused"]
    if "pause_reason" in changes:
        node.pause_reason = (changes["pause_reason"] or "").strip() or None
    if not node.is_paused:
        node.pause_reason = None


def _state(node: Node) -> dict[str, Any]:
    return {name: getattr(node, name) for name in (*UPDATABLE_FIELDS, "deprecated")}


def _change_locked(
    node: Node, changes: Mapping[str, Any], *, clock: dt.datetime | None = None
) -> dict[str, tuple[Any, Any]]:
    """Apply checked ``changes`` to a locked row in memory and stamp ``last_modified``; return what changed.

    ``clock`` is the time read once for a whole batch of nodes (see ``Node.next_modification_time``).
    """
    before = _state(node)
    now = node.next_modification_time(clock)
    _apply_changes(node, changes, now=now)
    node.last_modified = now
    after = _state(node)
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}


def _written(node: Node) -> dict[str, Any]:
    """The fields an update writes, with their values on ``node``."""
    return {**_state(node), "last_modified": node.last_modified}


def _log_change(node: Node, changed: Mapping[str, tuple[Any, Any]], actor: Actor) -> None:
    logger.info("node %s (%s) updated by %s: %s", node.pk, node.hostname, actor, changed or "no change")


def _history_record(node: Node, *, action: str, actor: Actor, fields: dict[str, dict[str, Any]]) -> NodeChange:
    """A history record of ``node``'s change at its current ``last_modified``."""
    return NodeChange(
        node_id=node.pk,
        time=node.last_modified,
        action=action,
        actor=actor.name,
        channel=actor.channel,
        request_id=actor.request_id,
        changes=fields,
    )


def _update_record(node: Node, changed: Mapping[str, tuple[Any, Any]], actor: Actor) -> NodeChange | None:
    """The record of an update, or None when none of the followed fields changed."""
    fields = {name: {"old": old, "new": new} for name, (old, new) in changed.items() if name in RECORDED_FIELDS}
    return _history_record(node, action=NodeChange.Action.UPDATE, actor=actor, fields=fields) if fields else None


def _registration_fields(hostname: str, state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A registration's record: the hostname and the initial state, each from nothing."""
    return {"hostname": {"old": None, "new": hostname}} | {
        name: {"old": None, "new": state[name]} for name in RECORDED_FIELDS
    }


def node_update(
    *, node: Node, changes: Mapping[str, Any], actor: Actor = SYSTEM, if_match: Collection[str] | None = None
) -> Node:
    """Apply ``changes`` (any of ``pause_reason``, ``is_paused``, ``is_active``) to ``node``.

    Runs in one transaction with the row locked, so concurrent writers apply one after the other
    and always see each other's result. Rules:

    - ``is_paused: false`` clears ``pause_reason``; a reason given for a node that ends up
      unpaused is not stored; an empty or blank reason is stored as null.
    - ``is_active`` true -> false sets ``deprecated`` to now, false -> true clears it; a change
      that leaves ``is_active`` as it was leaves ``deprecated`` alone.
    - Every accepted change advances ``last_modified``, even one that changes no value.

    ``if_match`` (entity tags from an ``If-Match`` header, ``["*"]`` for any) makes the change
    conditional: it is applied only if the node's current tag (``node_etag``) is one of them. The
    check runs on the locked row, so of two writers holding the same tag exactly one succeeds.

    A change of ``is_paused``, ``pause_reason`` or ``is_active`` is recorded in the node's history
    with ``actor``, in the same transaction; a call that changes none of them records nothing.
    Returns the node as saved. Raises ``ValueError`` for changes that break a rule,
    ``PreconditionFailed`` when ``if_match`` does not hold (nothing is written in either case),
    ``Node.DoesNotExist`` when the node no longer exists.
    """
    _check_changes(changes)
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        if if_match is not None:
            current = node_etag(locked)
            if not etag_matches(current, if_match, weak=False):
                raise PreconditionFailed(
                    f"node {locked.pk} has changed: If-Match does not match its current ETag {current}; "
                    "read it again and retry.",
                    etag=current,
                )
        changed = _change_locked(locked, changes)
        locked.save(modified_at=locked.last_modified)
        record = _update_record(locked, changed, actor)
        if record is not None:
            record.save()
    _log_change(locked, changed, actor)
    return locked


def node_preview(*, node: Node, changes: Mapping[str, Any]) -> Node:
    """Return an unsaved copy of ``node`` with ``changes`` applied by ``node_update``'s rules; nothing is written.

    Lets a form show and validate the outcome of an edit before it is saved. Raises ``ValueError``
    like ``node_update``.
    """
    _check_changes(changes)
    preview = copy.copy(node)
    _change_locked(preview, changes)
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

    Each node is written as ``node_update`` would write it (``last_modified`` advanced,
    ``deprecated`` stamped with that same time), but rows are locked and written ``chunk_size``
    at a time, in id order so that two bulk writers cannot deadlock. The clock is read once per
    chunk, so the nodes of a chunk share one ``last_modified`` and are written with one UPDATE
    per distinct outcome (usually one). Each node's effective change is recorded in its history,
    in the chunk's transaction. Nodes deleted in the meantime are skipped. Raises
    ``ValueError`` for changes that break a rule (nothing is written).
    """
    _check_changes(changes)
    ids = sorted(nodes.order_by().values_list("pk", flat=True))
    result = BulkUpdateResult()
    for start in range(0, len(ids), chunk_size):
        with transaction.atomic():
            chunk = ids[start : start + chunk_size]
            locked = list(Node.objects.select_for_update().filter(pk__in=chunk).order_by("pk"))
            clock = timezone.now()
            changes_by_node = [(node, _change_locked(node, changes, clock=clock)) for node in locked]
            outcomes: dict[tuple, list[int]] = {}
            for node in locked:
                outcomes.setdefault(tuple(_written(node).items()), []).append(node.pk)
            for outcome, pks in outcomes.items():
                Node.objects.filter(pk__in=pks).update(**dict(outcome))
            records = [_update_record(node, changed, actor) for node, changed in changes_by_node]
            NodeChange.objects.bulk_create([record for record in records if record is not None])
        for node, changed in changes_by_node:
            _log_change(node, changed, actor)
        result.updated += len(locked)
        result.changed += sum(1 for _, changed in changes_by_node if changed)
    return result


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


def _taken(hostname: str) -> str:
    return f"a node with the hostname {hostname!r} exists already (hostnames ignore letter case)."


def node_validate_hostname(*, hostname: str, node: Node | None = None) -> str:
    """Return ``hostname`` if it is valid (RFC 1123, at most 250 characters) and no other node has it.

    The clash check ignores letter case and ``node`` itself (for a rename). Raises ``ValueError``.
    """
    validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
    clash = Node.objects.annotate(key=Lower("hostname")).filter(key=hostname.lower())
    if node is not None and node.pk is not None:
        clash = clash.exclude(pk=node.pk)
    other = clash.values_list("hostname", flat=True).first()
    if other is not None:
        raise ValueError(_taken(other))
    return hostname


def node_rename(*, node: Node, hostname: str, actor: Actor = SYSTEM) -> Node:
    """Give ``node`` a new hostname (validated and unique, see ``node_validate_hostname``); advances ``last_modified``.

    A real change of the hostname is recorded in the node's history. Raises ``ValueError`` for a
    bad or taken hostname (nothing is written), ``Node.DoesNotExist`` when the node no longer exists.
    """
    try:
        with transaction.atomic():
            locked = Node.objects.select_for_update().get(pk=node.pk)
            old = locked.hostname
            locked.hostname = node_validate_hostname(hostname=hostname, node=locked)
            locked.save(update_fields=["hostname"])
            if locked.hostname != old:
                _history_record(
                    locked,
                    action=NodeChange.Action.UPDATE,
                    actor=actor,
                    fields={"hostname": {"old": old, "new": locked.hostname}},
                ).save()
    except IntegrityError:
        # Someone registered the same hostname between the check and the write.
        raise ValueError(_taken(hostname)) from None
    logger.info("node %s renamed from %s to %s by %s", locked.pk, old, locked.hostname, actor)
    return locked


def node_create(*, hostname: str, changes: Mapping[str, Any] | None = None, actor: Actor = SYSTEM) -> Node:
    """Register one node, optionally with an initial state given as ``node_update`` changes.

    The registration is recorded in the node's history, in the same transaction.

    Raises ``ValueError`` for a bad or taken hostname or bad changes; nothing is written then.
    """
    if changes:
        _check_changes(changes)
    try:
        with transaction.atomic():
            node = _new_node(node_validate_hostname(hostname=hostname), now=timezone.now(), changes=changes or {})
            node.save(force_insert=True)
            _history_record(
                node,
                action=NodeChange.Action.REGISTER,
                actor=actor,
                fields=_registration_fields(node.hostname, _state(node)),
            ).save()
    except IntegrityError:
        raise ValueError(_taken(hostname)) from None
    logger.info("node %s (%s) registered by %s", node.pk, node.hostname, actor)
    return node


@dataclass
class RegistrationResult:
    """What ``node_register`` did: the hostnames it inserted and those that already existed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def node_register(
    *,
    hostnames: Iterable[str],
    actor: Actor = SYSTEM,
    batch_size: int = 5000,
    states: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RegistrationResult:
    """Register new nodes by hostname; hostnames already known (in any letter case) are skipped.

    Every hostname is validated first (RFC 1123, at most 250 characters); one bad hostname raises
    ``ValueError`` and nothing is inserted. A hostname repeated within ``hostnames`` counts once.
    ``states`` may give some hostnames an initial state as changes (``is_paused``,
    ``pause_reason``, ``is_active``), applied with the same rules as ``node_update``. Inserts in
    batches of ``batch_size`` rows, each batch in its own transaction; a hostname registered
    concurrently by someone else is skipped, not duplicated. Each new node's registration is
    recorded in its history, in its batch's transaction. ``progress``, if given, is called
    after each batch with the number of distinct hostnames handled so far.
    """
    states = states or {}
    wanted: dict[str, str] = {}
    for hostname in hostnames:
        validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
        wanted.setdefault(hostname.lower(), hostname)
    for changes in states.values():
        if changes:
            _check_changes(changes)

    insert_batch = _insert_batch_postgresql if connection.vendor == "postgresql" else _insert_batch_orm
    result = RegistrationResult()
    keys = list(wanted)
    for start in range(0, len(keys), batch_size):
        batch = [wanted[key] for key in keys[start : start + batch_size]]
        with transaction.atomic():
            created = insert_batch(batch, states=states, actor=actor)
        result.created.extend(hostname for hostname in batch if hostname in created)
        result.existing.extend(hostname for hostname in batch if hostname not in created)
        if progress is not None:
            progress(start + len(batch))
    logger.info("%d nodes registered by %s, %d already known", len(result.created), actor, len(result.existing))
    return result


_REGISTER_ATTEMPTS = 3
_NODE_COLUMNS = ("hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified")


def _new_node(hostname: str, *, now: dt.datetime, changes: Mapping[str, Any]) -> Node:
    node = Node(hostname=hostname, created=now, last_modified=now)
    _apply_changes(node, changes, now=now)
    return node


_HISTORY_COLUMNS = ("node", "time", "action", "actor", "channel", "request_id", "changes")


def _insert_batch_postgresql(
    hostnames: list[str], *, states: Mapping[str, Mapping[str, Any]], actor: Actor
) -> set[str]:
    """Insert the hostnames not known yet in one statement that skips conflicts, and their history
    records in a second one; return the hostnames inserted. Call inside a transaction.

    Building a model instance per row costs more than the database's work, so nodes without an
    initial state share the row values of one default node.
    """
    now = timezone.now()
    default = _new_node("", now=now, changes={})
    rows = {}
    # One order for every writer: two registrations of overlapping names then wait for each other
    # in the unique index instead of deadlocking.
    for hostname in sorted(hostnames, key=str.lower):
        changes = states.get(hostname)
        node = _new_node(hostname, now=now, changes=changes) if changes else default
        rows[hostname] = (hostname, *(getattr(node, column) for column in _NODE_COLUMNS[1:]))
    inserted = insert_skipping_conflicts(
        model=Node, columns=_NODE_COLUMNS, rows=list(rows.values()), returning=["id", "hostname"]
    )
    state_at = {name: _NODE_COLUMNS.index(name) for name in RECORDED_FIELDS}
    history = [
        (
            node_id,
            now,
            NodeChange.Action.REGISTER.value,
            actor.name,
            actor.channel,
            actor.request_id,
            json.dumps(_registration_fields(hostname, {name: rows[hostname][at] for name, at in state_at.items()})),
        )
        for node_id, hostname in inserted
    ]
    insert_skipping_conflicts(model=NodeChange, columns=_HISTORY_COLUMNS, rows=history, returning=["id"])
    return {hostname for _, hostname in inserted}


def _insert_batch_orm(hostnames: list[str], *, states: Mapping[str, Mapping[str, Any]], actor: Actor) -> set[str]:
    """Insert the hostnames not known yet with the ORM, and their history records; return those inserted.

    A batch that collides with a node registered concurrently by someone else is retried, so the
    newcomer is then found known and skipped.
    """
    for attempt in range(_REGISTER_ATTEMPTS):
        try:
            with transaction.atomic():
                keys = [hostname.lower() for hostname in hostnames]
                known = set(
                    Node.objects.annotate(key=Lower("hostname")).filter(key__in=keys).values_list("key", flat=True)
                )
                now = timezone.now()
                new_nodes = [
                    _new_node(hostname, now=now, changes=states.get(hostname, {}))
                    for hostname in hostnames
                    if hostname.lower() not in known
                ]
                Node.objects.bulk_create(new_nodes, batch_size=len(hostnames))
                NodeChange.objects.bulk_create(
                    [
                        _history_record(
                            node,
                            action=NodeChange.Action.REGISTER,
                            actor=actor,
                            fields=_registration_fields(node.hostname, _state(node)),
                        )
                        for node in new_nodes
                    ]
                )
            return {node.hostname for node in new_nodes}
        except IntegrityError:
            if attempt == _REGISTER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def node_history_prune(*, before: dt.datetime, dry_run: bool = False) -> int:
    """Delete the history records of all nodes older than ``before``; return how many (would) go."""
    old = NodeChange.objects.filter(time__lt=before)
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    logger.info("%d node history records older than %s deleted", deleted, before.isoformat())
    return deleted
