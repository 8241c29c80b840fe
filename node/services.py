"""Every write to a node goes through here: the API, the admin and the manage.py commands alike.

This is the one place for the invariants: ``pause_reason`` is null whenever the node is not
paused, and ``deprecated`` is set exactly when it is inactive. Functions raise ``ValueError`` for
input that breaks a rule, and ``Node.DoesNotExist`` for a node that is gone.
"""

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from node.models import HOSTNAME_MAX_LENGTH, PAUSE_REASON_MAX_LENGTH, Node
from node.selectors import node_etag
from util.conditional import PreconditionFailed, etag_matches
from util.hostnames import validate_hostname

logger = logging.getLogger(__name__)

UPDATABLE_FIELDS = ("pause_reason", "is_paused", "is_active")


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


def node_update(
    *, node: Node, changes: Mapping[str, Any], actor: object = None, if_match: Collection[str] | None = None
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

    ``actor`` (a user, or a description of a shell command) is logged with the change. Returns
    the node as saved. Raises ``ValueError`` for changes that break a rule, ``PreconditionFailed``
    when ``if_match`` does not hold (nothing is written in either case), ``Node.DoesNotExist``
    when the node no longer exists.
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
        before = {name: getattr(locked, name) for name in (*UPDATABLE_FIELDS, "deprecated")}

        now = locked.next_modification_time()
        _apply_changes(locked, changes, now=now)
        locked.save(modified_at=now)
    after = {name: getattr(locked, name) for name in before}
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    logger.info("node %s (%s) updated by %s: %s", locked.pk, locked.hostname, actor or "system", changed or "no change")
    return locked


@dataclass
class RegistrationResult:
    """What ``node_register`` did: the hostnames it inserted and those that already existed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def node_register(
    *,
    hostnames: Iterable[str],
    actor: object = None,
    batch_size: int = 5000,
    states: Mapping[str, Mapping[str, Any]] | None = None,
) -> RegistrationResult:
    """Register new nodes by hostname; hostnames already known (in any letter case) are skipped.

    Every hostname is validated first (RFC 1123, at most 250 characters); one bad hostname raises
    ``ValueError`` and nothing is inserted. A hostname repeated within ``hostnames`` counts once.
    ``states`` may give some hostnames an initial state as changes (``is_paused``,
    ``pause_reason``, ``is_active``), applied with the same rules as ``node_update``. Inserts in
    batches of ``batch_size`` rows, each batch in its own transaction; a batch that collides with
    a node registered concurrently by someone else is retried, so it is skipped, not duplicated.
    """
    states = states or {}
    wanted: dict[str, str] = {}
    for hostname in hostnames:
        validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
        wanted.setdefault(hostname.lower(), hostname)
    for changes in states.values():
        if changes:
            _check_changes(changes)

    result = RegistrationResult()
    keys = list(wanted)
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        for attempt in range(_REGISTER_ATTEMPTS):
            try:
                with transaction.atomic():
                    known = set(
                        Node.objects.annotate(key=Lower("hostname")).filter(key__in=batch).values_list("key", flat=True)
                    )
                    now = timezone.now()
                    new_nodes = [
                        _new_node(wanted[key], now=now, changes=states.get(wanted[key], {}))
                        for key in batch
                        if key not in known
                    ]
                    Node.objects.bulk_create(new_nodes, batch_size=batch_size)
                break
            except IntegrityError:
                if attempt == _REGISTER_ATTEMPTS - 1:
                    raise
        result.created.extend(node.hostname for node in new_nodes)
        result.existing.extend(wanted[key] for key in batch if key in known)
    logger.info(
        "%d nodes registered by %s, %d already known", len(result.created), actor or "system", len(result.existing)
    )
    return result


_REGISTER_ATTEMPTS = 3


def _new_node(hostname: str, *, now: dt.datetime, changes: Mapping[str, Any]) -> Node:
    node = Node(hostname=hostname, created=now, last_modified=now)
    _apply_changes(node, changes, now=now)
    return node
