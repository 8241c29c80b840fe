"""Registering nodes: one by one (the admin's add form) or in bulk by hostname (``seed_nodes``, the bench).

One builder makes the row of a new node and the row of its registration record; the bulk path
writes those rows with the ORM, or on PostgreSQL in one statement per table that skips hostnames
registered concurrently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction

from node.actors import SYSTEM, Actor
from node.models import HOSTNAME_MAX_LENGTH, Node, NodeChange
from node.selectors import nodes_with_hostnames
from node.services import clock, history
from node.services.hostnames import node_validate_hostname, taken_message
from node.services.rules import initial_state, validate_changes
from util.db import insert_skipping_conflicts
from util.hostnames import validate_hostname

logger = logging.getLogger(__name__)

NODE_COLUMNS = (
    "hostname",
    "pause_reason",
    "is_paused",
    "is_active",
    "deprecated",
    "created",
    "last_modified",
    "change_index",
)
_REGISTER_ATTEMPTS = 3

Row = dict[str, Any]


def _node_rows(hostnames: Sequence[str], *, states: Mapping[str, Mapping[str, Any]]) -> dict[str, Row]:
    """The row (``NODE_COLUMNS``) of each new node, with its initial state from ``states`` (validated changes).

    Takes one change index and time per node from the registry clock (the caller's transaction
    holds it from then on): each node is registered at its own time.
    """
    stamps = clock.advance(len(hostnames))
    rows = {}
    for n, hostname in enumerate(hostnames):
        time = stamps.time(n)
        rows[hostname] = {
            "hostname": hostname,
            **initial_state(states.get(hostname) or {}, now=time),
            "created": time,
            "last_modified": time,
            "change_index": stamps.index(n),
        }
    return rows


def _registration_record_row(node_id: int, row: Row, actor: Actor) -> Row:
    return history.record_row(
        node_id=node_id,
        time=row["last_modified"],
        change_index=row["change_index"],
        action=NodeChange.Action.REGISTER,
        actor=actor,
        changes=history.registration_changes(row["hostname"], row),
    )


def node_create(*, hostname: str, changes: Mapping[str, Any] | None = None, actor: Actor = SYSTEM) -> Node:
    """Register one node, optionally with an initial state given as ``node_update`` changes.

    The registration is recorded in the node's history, in the same transaction. Raises
    ``ValueError`` for a bad or taken hostname or bad changes; nothing is written then.
    """
    state = validate_changes(changes) if changes else {}
    try:
        with transaction.atomic():
            clock.advance(0)
            hostname = node_validate_hostname(hostname=hostname)
            row = _node_rows([hostname], states={hostname: state})[hostname]
            node = Node(**row)
            node.save(force_insert=True)
            history.record(_registration_record_row(node.pk, row, actor)).save()
    except IntegrityError:
        raise ValueError(taken_message(hostname)) from None
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
    ``pause_reason``, ``is_active``), applied by the rules of ``node_update``. Inserts in batches
    of ``batch_size`` rows, each batch in its own transaction with the registration records of its
    nodes; a hostname registered concurrently by someone else is skipped, not duplicated.
    ``progress``, if given, is called after each batch with the number of distinct hostnames
    handled so far.
    """
    wanted: dict[str, str] = {}
    for hostname in hostnames:
        validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
        wanted.setdefault(hostname.lower(), hostname)
    checked = {hostname: validate_changes(changes) for hostname, changes in (states or {}).items() if changes}

    insert_batch = _insert_batch_postgresql if connection.vendor == "postgresql" else _insert_batch_orm
    result = RegistrationResult()
    keys = list(wanted)
    for start in range(0, len(keys), batch_size):
        batch = [wanted[key] for key in keys[start : start + batch_size]]
        with transaction.atomic():
            created = insert_batch(batch, states=checked, actor=actor)
        result.created.extend(hostname for hostname in batch if hostname in created)
        result.existing.extend(hostname for hostname in batch if hostname not in created)
        if progress is not None:
            progress(start + len(batch))
    logger.info("%d nodes registered by %s, %d already known", len(result.created), actor, len(result.existing))
    return result


def _insert_batch_postgresql(
    hostnames: list[str], *, states: Mapping[str, Mapping[str, Any]], actor: Actor
) -> set[str]:
    """Insert the hostnames not known yet in one statement, and their registration records in a second one;
    return the hostnames inserted. Call inside a transaction.

    The clock, locked first, keeps any other writer out until the batch commits, so the hostnames
    found unknown here are still unknown when inserted; the insert skips conflicts all the same.
    """
    clock.advance(0)
    known = set(nodes_with_hostnames(hostnames).values_list("hostname_key", flat=True))
    rows = _node_rows(sorted((name for name in hostnames if name.lower() not in known), key=str.lower), states=states)
    inserted = insert_skipping_conflicts(
        model=Node,
        columns=NODE_COLUMNS,
        rows=[tuple(row[column] for column in NODE_COLUMNS) for row in rows.values()],
        returning=["id", "hostname"],
    )
    records = []
    for node_id, hostname in inserted:
        record = _registration_record_row(node_id, rows[hostname], actor)
        # The values go to the driver as they are: the JSON column takes its text.
        record["changes"] = json.dumps(record["changes"])
        records.append(tuple(record[column] for column in history.RECORD_COLUMNS))
    insert_skipping_conflicts(model=NodeChange, columns=history.RECORD_COLUMNS, rows=records, returning=["id"])
    return {hostname for _, hostname in inserted}


def _insert_batch_orm(hostnames: list[str], *, states: Mapping[str, Mapping[str, Any]], actor: Actor) -> set[str]:
    """Insert the hostnames not known yet with the ORM, and their registration records; return those inserted.

    A batch that collides with a node registered concurrently by someone else is retried, so the
    newcomer is then found known and skipped.
    """
    for attempt in range(_REGISTER_ATTEMPTS):
        try:
            with transaction.atomic():
                clock.advance(0)
                known = set(nodes_with_hostnames(hostnames).values_list("hostname_key", flat=True))
                new = [hostname for hostname in hostnames if hostname.lower() not in known]
                rows = _node_rows(new, states=states)
                nodes = Node.objects.bulk_create([Node(**row) for row in rows.values()], batch_size=len(hostnames))
                NodeChange.objects.bulk_create(
                    [history.record(_registration_record_row(node.pk, rows[node.hostname], actor)) for node in nodes]
                )
            return set(rows)
        except IntegrityError:
            if attempt == _REGISTER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
