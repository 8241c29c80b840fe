"""Node liveness: heartbeats, and the transitions between online and offline recorded as changes.

A heartbeat (``node_heartbeat``) only sets the time a node was last seen, in ``node_liveness``: no
history record, no change index, no event, nothing written to ``node``. So heartbeats, thousands a
second, never wake the followers of the change feed. On PostgreSQL a batch is one statement
(``_HEARTBEAT_SQL``): the hostnames travel as one text, are matched through the unique index on the
lower-case hostname, and the rows are upserted in node order (two batches naming the same nodes lock
them in the same order, so they cannot deadlock).

The transitions (``node_liveness_reap``) are changes: a node that sent no heartbeat for the TTL goes
offline, an offline node that sent one comes back online, each recorded once in the history (actor
and channel ``system``, changes ``{"state": {"old", "new"}}``) with its own change index, in the
same transaction as the state written to ``node_liveness`` and the node's new change index, so it
appears once on the change feed and the event stream. Exactly once whichever process detects it:
the reaper takes the registry clock first, so reapers run one after the other, and each marks only
rows still in the old state under the row lock (``_MARK_SQL``); the next one finds them changed.
The first heartbeat of a node (``never`` to ``online``) is not a transition: it is no change yet.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Counter

from node.actors import SYSTEM, Actor
from node.models import Node, NodeChange, NodeLiveness
from node.selectors import nodes_with_hostnames
from node.services import clock, history
from node.services.updates import node_update_many

logger = logging.getLogger(__name__)

HEARTBEATS_RECEIVED = Counter(
    "scale_nodes_heartbeats_received",
    "Heartbeats received from registered nodes (one per node per heartbeat; unknown hostnames are not counted).",
)

ONLINE = NodeLiveness.State.ONLINE.value
OFFLINE = NodeLiveness.State.OFFLINE.value

# The keys (lower-case hostnames) travel as one text split in the database; each probes the unique
# index on lower(hostname). A later heartbeat never moves last_seen back (batches may arrive out of order).
_HEARTBEAT_SQL = """
WITH seen AS MATERIALIZED (
    SELECT names.key, known.id
    FROM unnest(string_to_array(%(keys)s, E'\\n')) AS names (key)
    CROSS JOIN LATERAL (SELECT id FROM node WHERE lower(hostname) = names.key LIMIT 1) AS known
), written AS (
    INSERT INTO node_liveness (node_id, last_seen, state)
    SELECT id, %(now)s, %(online)s FROM seen ORDER BY id
    ON CONFLICT (node_id) DO UPDATE SET last_seen = GREATEST(node_liveness.last_seen, EXCLUDED.last_seen)
)
SELECT key FROM seen
"""

# The rows still in state ``old`` whose last heartbeat is before (going offline) or not before (coming
# back) the cutoff, locked in node order; rows a heartbeat holds are being refreshed and wait for the
# next pass.
_MARK_SQL = """
UPDATE node_liveness SET state = %(new)s
WHERE node_id IN (
    SELECT node_id FROM node_liveness
    WHERE state = %(old)s AND {seen}
    ORDER BY node_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING node_id
"""
_STALE = "last_seen < %(cutoff)s"
_FRESH = "last_seen >= %(cutoff)s"

_SET_CHANGE_INDEX_SQL = """
UPDATE node SET change_index = changed.change_index
FROM unnest(%s::bigint[], %s::bigint[]) AS changed (id, change_index)
WHERE node.id = changed.id
"""


@dataclass
class HeartbeatResult:
    """What a batch of heartbeats did: how many nodes were seen, and the hostnames that name no node."""

    seen: int = 0
    unknown: list[str] = field(default_factory=list)


def node_heartbeat(*, hostnames: Sequence[str], now: dt.datetime | None = None) -> HeartbeatResult:
    """Record that the nodes named by ``hostnames`` (any letter case) are alive at ``now`` (default: now).

    Sets their last-seen time and nothing else. Hostnames that name no node are returned as
    ``unknown``, in the order given; a hostname repeated counts once.
    """
    now = now or timezone.now()
    keys = list(dict.fromkeys(hostname.lower() for hostname in hostnames))
    if not keys:
        return HeartbeatResult()
    joined = "\n".join(keys)
    if connection.vendor == "postgresql" and joined.count("\n") == len(keys) - 1:
        with transaction.atomic(), connection.cursor() as cursor:
            # A heartbeat lost in a crash of the database is sent again within TTL/3: its commit need not wait
            # for the disk, which leaves the flushes to the writes that must be durable.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(_HEARTBEAT_SQL, {"keys": joined, "now": now, "online": ONLINE})
            known = {key for (key,) in cursor.fetchall()}
    else:
        known = _heartbeat_orm(keys, now=now)
    HEARTBEATS_RECEIVED.inc(len(known))
    unknown = [hostname for hostname in hostnames if hostname.lower() not in known]
    return HeartbeatResult(seen=len(known), unknown=list(dict.fromkeys(unknown)))


def _heartbeat_orm(keys: list[str], *, now: dt.datetime) -> set[str]:
    """The ORM's heartbeat (SQLite): the rows of the nodes of ``keys`` moved up to ``now`` or added; return the keys
    known."""
    ids = dict(nodes_with_hostnames(keys).values_list("hostname_key", "pk"))
    with transaction.atomic():
        NodeLiveness.objects.filter(node_id__in=ids.values(), last_seen__lt=now).update(last_seen=now)
        NodeLiveness.objects.bulk_create(
            [NodeLiveness(node_id=pk, last_seen=now, state=ONLINE) for pk in sorted(ids.values())],
            ignore_conflicts=True,
        )
    return set(ids)


@dataclass
class Transitions:
    """The nodes a reaper pass recorded as gone offline and as back online, by id."""

    offline: list[int] = field(default_factory=list)
    online: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offline) + len(self.online)


def transitions_pending(*, cutoff: dt.datetime, offline: bool = True) -> bool:
    """Whether some node's recorded state differs from what its last heartbeat says at ``cutoff``.

    A read without locks, so that a pass with nothing to record costs one scan and takes no clock.
    """
    back = NodeLiveness.objects.filter(state=OFFLINE, last_seen__gte=cutoff)
    if offline:
        back = back | NodeLiveness.objects.filter(state=ONLINE, last_seen__lt=cutoff)
    return back.exists()


def node_liveness_reap(
    *,
    ttl: dt.timedelta,
    now: dt.datetime | None = None,
    offline: bool = True,
    actor: Actor = SYSTEM,
    chunk_size: int = 1000,
) -> Transitions:
    """Record every node that went offline (no heartbeat within ``ttl`` before ``now``) or came back online.

    Each transition is written once, whichever processes run this at the same time: in one
    transaction that holds the registry clock, the node's liveness state, a history record by
    ``actor`` (``{"state": {"old", "new"}}``) and the node's new change index. Up to ``chunk_size``
    nodes of each kind per transaction, one after the other until none is left, so that the
    heartbeats of the nodes being recorded wait for a short transaction only. With ``offline``
    false only nodes coming back are recorded (a process that has not been up for the TTL itself
    cannot tell a silent node from its own absence).
    """
    now = now or timezone.now()
    cutoff = now - ttl
    done = Transitions()
    if not transitions_pending(cutoff=cutoff, offline=offline):
        return done
    while True:
        with transaction.atomic():
            clock.advance(0)
            went = _mark(old=ONLINE, new=OFFLINE, cutoff=cutoff, limit=chunk_size) if offline else []
            came = _mark(old=OFFLINE, new=ONLINE, cutoff=cutoff, limit=chunk_size)
            changed = sorted([(pk, ONLINE, OFFLINE) for pk in went] + [(pk, OFFLINE, ONLINE) for pk in came])
            if changed:
                _record(changed, actor=actor)
        done.offline += went
        done.online += came
        if len(went) < chunk_size and len(came) < chunk_size:
            break
    if done:
        logger.info("%d nodes went offline, %d came back online", len(done.offline), len(done.online))
    return done


def _mark(*, old: str, new: str, cutoff: dt.datetime, limit: int) -> list[int]:
    """Set ``new`` on up to ``limit`` nodes in state ``old`` that the cutoff moves out of it (the lowest ids); return
    their ids, sorted."""
    if connection.vendor == "postgresql":
        sql = _MARK_SQL.format(seen=_STALE if new == OFFLINE else _FRESH)
        with connection.cursor() as cursor:
            cursor.execute(sql, {"new": new, "old": old, "cutoff": cutoff, "limit": limit})
            return sorted(pk for (pk,) in cursor.fetchall())
    # SQLite: the transaction holds the database's one write lock since the clock was taken.
    rows = NodeLiveness.objects.filter(state=old)
    rows = rows.filter(last_seen__lt=cutoff) if new == OFFLINE else rows.filter(last_seen__gte=cutoff)
    ids = list(rows.order_by("node_id").values_list("node_id", flat=True)[:limit])
    NodeLiveness.objects.filter(node_id__in=ids).update(state=new)
    return ids


def _record(changed: Iterable[tuple[int, str, str]], *, actor: Actor) -> None:
    """Give each ``(node id, old state, new state)`` its change index and time, and its history record."""
    changed = list(changed)
    stamps = clock.advance(len(changed))
    ids = [pk for pk, _, _ in changed]
    indexes = [stamps.index(n) for n in range(len(changed))]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SET_CHANGE_INDEX_SQL, [ids, indexes])
    else:
        nodes = list(Node.objects.filter(pk__in=ids).only("pk", "change_index").order_by("pk"))
        for node, index in zip(nodes, indexes, strict=True):
            node.change_index = index
        Node.objects.bulk_update(nodes, ["change_index"], batch_size=500)
    NodeChange.objects.bulk_create(
        [
            history.record(
                history.record_row(
                    node_id=pk,
                    time=stamps.time(n),
                    change_index=stamps.index(n),
                    action=NodeChange.Action.UPDATE,
                    actor=actor,
                    changes=liveness_changes(old, new),
                )
            )
            for n, (pk, old, new) in enumerate(changed)
        ],
        batch_size=1000,
    )


def liveness_changes(old: str, new: str) -> history.FieldChanges:
    """A liveness transition's changes, as its history record holds them."""
    return {"state": {"old": old, "new": new}}


def node_deactivate_offline(*, offline_for: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Deactivate the active nodes recorded offline whose last heartbeat is older than ``offline_for``; return how
    many.

    By ``node_update_many``'s rules, as the system: each gets its change and history record. A node
    that comes back later stays inactive until someone reactivates it.
    """
    cutoff = (now or timezone.now()) - offline_for
    nodes = Node.objects.filter(is_active=True, liveness__state=OFFLINE, liveness__last_seen__lt=cutoff)
    if not nodes.exists():
        return 0
    result = node_update_many(nodes=nodes, changes={"is_active": False}, actor=SYSTEM)
    logger.info("%d nodes offline since before %s deactivated", result.changed, cutoff.isoformat())
    return result.changed
