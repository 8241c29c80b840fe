"""Registering nodes: one by one (the admin's add form) or in bulk by hostname (``seed_nodes``, the bench).

One builder makes the row of a new node and the row of its registration record, and the ORM writes
them. On PostgreSQL the bulk path instead writes a whole batch in one statement per initial state
(``_REGISTER_SQL``): the hostnames travel as one text, and the database gives each node its index
and time from the batch's one advance of the clock and writes its registration record, so no
per-node value is built in Python or parsed from the statement's text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction

from node.actors import SYSTEM, Actor
from node.hostnames import validate_hostname
from node.models import HOSTNAME_MAX_LENGTH, Node, NodeChange
from node.selectors import known_hostname_keys, nodes_with_hostnames
from node.services import clock, history
from node.services.clock import Stamps
from node.services.hostnames import node_validate_hostname, taken_message
from node.services.rules import initial_state, validate_changes

logger = logging.getLogger(__name__)

_REGISTER_ATTEMPTS = 3

Row = dict[str, Any]

# A batch's nodes of one initial state, and their registration records. The n-th hostname (from 0)
# takes index first_index + n and time first_time + n microseconds; the state's values are the same
# for all of them, except deprecated, which is each node's own time when the state sets it.
_REGISTER_SQL = """
WITH new AS (
    SELECT hostname, n - 1 AS n, %(first_time)s::timestamptz + (n - 1) * interval '1 microsecond' AS time
    FROM unnest(string_to_array(%(hostnames)s, E'\\n')) WITH ORDINALITY AS names (hostname, n)
), inserted AS (
    INSERT INTO node (hostname, pause_reason, is_paused, is_active, deprecated, created, last_modified, change_index)
    SELECT hostname, %(pause_reason)s::text, %(is_paused)s, %(is_active)s,
           CASE WHEN %(deprecated_at_registration)s THEN time END, time, time, %(first_index)s::bigint + n
    FROM new
    RETURNING id, hostname, last_modified, change_index
)
INSERT INTO node_change (node_id, time, change_index, action, actor, channel, request_id, changes)
SELECT id, last_modified, change_index, %(action)s, %(actor)s, %(channel)s, %(request_id)s,
       jsonb_set(%(changes)s::jsonb, '{hostname,new}', to_jsonb(hostname::text))
FROM inserted
"""


def _take_stamps(count: int) -> Stamps:
    """The indexes and times of ``count`` new nodes, in one advance of the clock (locked until commit)."""
    return clock.advance(count)


def _node_rows(hostnames: Sequence[str], *, states: Mapping[str, Mapping[str, Any]]) -> dict[str, Row]:
    """The row (``Node`` field values) of each new node, with its initial state from ``states`` (validated changes).

    Takes one change index and time per node from the registry clock (the caller's transaction
    holds it from then on): each node is registered at its own time.
    """
    stamps = _take_stamps(len(hostnames))
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
        created = _with_retries(lambda batch=batch: insert_batch(batch, states=checked, actor=actor))
        result.created.extend(hostname for hostname in batch if hostname in created)
        result.existing.extend(hostname for hostname in batch if hostname not in created)
        if progress is not None:
            progress(start + len(batch))
    logger.info("%d nodes registered by %s, %d already known", len(result.created), actor, len(result.existing))
    return result


@dataclass(frozen=True)
class RegisteredNode:
    """A node named in a registration's answer: its id and its hostname as stored."""

    id: int
    hostname: str


@dataclass
class NamedRegistration:
    """What ``node_register_named`` did: the nodes it created and those already known, each in the order given."""

    created: list[RegisteredNode] = field(default_factory=list)
    existing: list[RegisteredNode] = field(default_factory=list)


def node_register_named(*, hostnames: Sequence[str], actor: Actor) -> NamedRegistration:
    """Register ``hostnames`` in one transaction, as ``node_register`` does, and name every node by id.

    For a client that registers a batch (the API): the answer tells, in the order given, which nodes
    are new and which were known already (in any letter case; named then by their stored hostname).
    Raises ``ValueError`` for a bad hostname; nothing is registered then.
    """
    result = node_register(hostnames=hostnames, actor=actor, batch_size=max(len(hostnames), 1))
    created = {hostname.lower() for hostname in result.created}
    stored = {
        key: RegisteredNode(id=pk, hostname=hostname)
        for key, pk, hostname in nodes_with_hostnames(hostnames).values_list("hostname_key", "pk", "hostname")
    }
    named = NamedRegistration()
    for hostname in hostnames:
        key = hostname.lower()
        (named.created if key in created else named.existing).append(stored[key])
    return named


def _with_retries(insert: Callable[[], set[str]]) -> set[str]:
    """Run ``insert`` (a batch) in a transaction of its own, again when a node registered concurrently collides.

    Every writer of the services takes the clock first, so the hostnames a batch found unknown stay
    unknown; only a writer that bypasses the clock (a manual insert) can collide. The batch is then
    rolled back, clock advance included, and run again, and finds the newcomer known.
    """
    for attempt in range(_REGISTER_ATTEMPTS):
        try:
            with transaction.atomic():
                return insert()
        except IntegrityError:
            if attempt == _REGISTER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _insert_batch_postgresql(
    hostnames: list[str], *, states: Mapping[str, Mapping[str, Any]], actor: Actor
) -> set[str]:
    """Insert the hostnames not known yet, with their registration records; return them. Call inside a transaction.

    The clock, locked first, keeps every other writer of the services out until the batch commits.
    One advance hands the batch's nodes their indexes and times, in the order of their lower-case
    hostnames within each initial state; ``_REGISTER_SQL`` writes the nodes of each state.
    """
    clock.advance(0)
    known = known_hostname_keys(hostnames)
    new = sorted((name for name in hostnames if name.lower() not in known), key=str.lower)
    by_state: dict[tuple[tuple[str, Any], ...], list[str]] = {}
    if states:
        for hostname in new:
            by_state.setdefault(tuple(sorted((states.get(hostname) or {}).items())), []).append(hostname)
    elif new:
        by_state[()] = new
    stamps = _take_stamps(len(new))
    first = 0
    with connection.cursor() as cursor:
        for changes, names in by_state.items():
            cursor.execute(
                _REGISTER_SQL, _register_params(names, changes=dict(changes), stamps=stamps, first=first, actor=actor)
            )
            first += len(names)
    return set(new)


def _register_params(
    hostnames: list[str], *, changes: Mapping[str, Any], stamps: Stamps, first: int, actor: Actor
) -> dict[str, Any]:
    """The parameters of ``_REGISTER_SQL`` for ``hostnames`` taking the stamps from the ``first``-th on.

    The state and the record come from the same rules as a node registered alone: ``initial_state``
    at the first node's time tells whether ``deprecated`` is the registration time, and
    ``registration_changes`` gives the record, whose hostname the database fills in per node.
    """
    time = stamps.time(first)
    state = initial_state(changes, now=time)
    return {
        # Validated hostnames hold no line break, which splits them apart again in the database.
        "hostnames": "\n".join(hostnames),
        "first_index": stamps.index(first),
        "first_time": time,
        "pause_reason": state["pause_reason"],
        "is_paused": state["is_paused"],
        "is_active": state["is_active"],
        "deprecated_at_registration": state["deprecated"] == time,
        "action": NodeChange.Action.REGISTER.value,
        "actor": actor.name,
        "channel": actor.channel,
        "request_id": actor.request_id,
        "changes": json.dumps(history.registration_changes("", state)),
    }


def _insert_batch_orm(hostnames: list[str], *, states: Mapping[str, Mapping[str, Any]], actor: Actor) -> set[str]:
    """Insert the hostnames not known yet with the ORM, and their registration records; return those inserted.

    Call inside a transaction.
    """
    clock.advance(0)
    known = known_hostname_keys(hostnames)
    new = [hostname for hostname in hostnames if hostname.lower() not in known]
    rows = _node_rows(new, states=states)
    nodes = Node.objects.bulk_create([Node(**row) for row in rows.values()], batch_size=len(hostnames))
    NodeChange.objects.bulk_create(
        [history.record(_registration_record_row(node.pk, rows[node.hostname], actor)) for node in nodes]
    )
    return set(rows)
