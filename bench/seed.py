"""Seed a benchmark database with a realistic node table, through the project's own ``node_register``.

Run inside Django (``DATABASE_URL`` pointing at a ``scale_nodes_bench_*`` database). The mix: about
82% active and running, 8% paused with a reason, 10% inactive (some of them paused too). Creation
times are spread over the year before seeding and modifications between creation and seeding, with
the invariants kept (``deprecated`` set exactly on inactive nodes, reasons only on paused ones).
A marker table records what was seeded, so a later run reuses the table instead of seeding again.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Mapping
from typing import Any

from django.db import connection

SEED_VERSION = 1
PAUSE_REASONS = (
    "Disk replacement scheduled",
    "Kernel upgrade in progress",
    "Investigating high memory pressure",
    "Ventilateur défectueux, remplacement prévu",
)
_CHUNK = 100_000


def hostname(number: int) -> str:
    """The hostname of seeded node ``number`` (1-based)."""
    return f"node-{number:07d}.rack{number % 97:02d}.cluster.example.com"


def initial_state(number: int) -> Mapping[str, Any]:
    """The initial state of seeded node ``number``: the changes ``node_register`` applies to it."""
    state: dict[str, Any] = {}
    if number % 13 == 5 or number % 50 == 3:
        state = {"is_paused": True, "pause_reason": PAUSE_REASONS[number % len(PAUSE_REASONS)]}
    if number % 10 == 3:
        state["is_active"] = False
    return state


def seeded_at() -> dt.datetime | None:
    """When the table was seeded with the current ``SEED_VERSION``, or None when it was not."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_seed') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT seeded_at FROM bench_seed WHERE version = %s", [SEED_VERSION])
        row = cursor.fetchone()
    return row[0] if row else None


# Deterministic fractions in [0, 1) from the id, so two seedings of one size give the same table.
_SPREAD_SQL = """
WITH spread AS (
    SELECT id,
           ('x' || lpad(substr(md5(id::text), 1, 12), 16, '0'))::bit(64)::bigint / 281474976710656.0 AS a,
           ('x' || lpad(substr(md5(id::text), 13, 12), 16, '0'))::bit(64)::bigint / 281474976710656.0 AS b
    FROM node
), stamped AS (
    SELECT id, %(now)s - interval '365 days' * (1 - a) AS created, b FROM spread
)
UPDATE node
SET created = stamped.created,
    last_modified = stamped.created + (%(now)s - stamped.created) * stamped.b,
    deprecated = CASE WHEN node.is_active THEN NULL ELSE stamped.created + (%(now)s - stamped.created) * stamped.b END
FROM stamped
WHERE node.id = stamped.id
"""


def seed(size: int, *, log: Any = sys.stderr) -> dt.datetime:
    """Fill the empty node table with ``size`` nodes and spread their timestamps; returns the seeding time."""
    # Imported here: the benchmark's own process, which has no Django set up, imports this module
    # for ``hostname`` (bench.cases).
    from node.actors import command_actor
    from node.services import node_register

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM node")
        if cursor.fetchone()[0]:
            raise RuntimeError("the node table is not empty; recreate the benchmark database to seed it again")
    started = time.monotonic()
    for first in range(1, size + 1, _CHUNK):
        numbers = range(first, min(first + _CHUNK, size + 1))
        states = {hostname(n): state for n in numbers if (state := initial_state(n))}
        node_register(
            hostnames=[hostname(n) for n in numbers], states=states, batch_size=5000, actor=command_actor("bench seed")
        )
        print(f"  registered {numbers[-1]:,} of {size:,} nodes ({time.monotonic() - started:.0f} s)", file=log)
    now = dt.datetime.now(dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(_SPREAD_SQL, {"now": now})
        # The UPDATE left a dead copy of every row: compact the table, then set the visibility map
        # and statistics the way a long-running production table has them.
        cursor.execute("VACUUM FULL node")
        cursor.execute("VACUUM ANALYZE node")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_seed (version int PRIMARY KEY, seeded_at timestamptz)")
        cursor.execute("INSERT INTO bench_seed VALUES (%s, %s)", [SEED_VERSION, now])
    print(f"  seeded {size:,} nodes in {time.monotonic() - started:.0f} s", file=log)
    return now
