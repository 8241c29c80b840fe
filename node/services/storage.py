"""How one node's update reaches the database: the fewest round trips each database allows.

Both steps keep the order every writer follows (the registry clock first, then the node's row):

- ``lock_for_update``: take a stamp from the clock and lock the node's row. On PostgreSQL this is
  one statement: the clock's UPDATE runs in a WITH clause, and the row lock (``FOR UPDATE``) is
  taken on the join's output, so after the clock; the locked row is the latest committed version.
- ``write_update``: write the row and its history record; on PostgreSQL one statement.

Elsewhere (SQLite, whose writers are serialised by its own database lock) the ORM does each part.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from node.models import NODE_FIELDS, Node, NodeChange
from node.services import clock
from node.services.clock import Stamps

_NODE_COLUMNS = (*NODE_FIELDS, "change_index")
_SELECTED = ", ".join(f"node.{column}" for column in _NODE_COLUMNS)
# The clock's own advance by one, and the node locked, in one round trip.
_LOCK_SQL = (
    f"WITH stamp AS ({clock.ADVANCE_SQL}) "  # noqa: S608 (column names from the model)
    f"SELECT stamp.change_index, stamp.time_us, {_SELECTED} "
    "FROM stamp JOIN node ON node.id = %s FOR UPDATE OF node"
)


def _lock_statement(node_id: int) -> tuple[str, list]:
    now_us = clock.now_us()
    return _LOCK_SQL, [1, now_us, now_us, 1, node_id]


def _locked_node(row: tuple) -> tuple[Node, Stamps]:
    node = Node(**dict(zip(_NODE_COLUMNS, row[2:], strict=True)))
    node._state.adding = False
    return node, Stamps(first_index=row[0], first_time=clock.to_time(row[1]), count=1)


def _write_statement(node: Node, fields: tuple[str, ...], record: NodeChange | None) -> tuple[str, list]:
    meta = Node._meta
    assignments = ", ".join(f"{connection.ops.quote_name(meta.get_field(name).column)} = %s" for name in fields)
    params = [getattr(node, name) for name in fields]
    update = f"UPDATE node SET {assignments} WHERE id = %s"  # noqa: S608 (column names from the model)
    if record is None:
        return update, [*params, node.pk]
    sql = (
        f"WITH updated AS ({update}) "  # noqa: S608 (fixed text)
        "INSERT INTO node_change (node_id, time, change_index, action, actor, channel, request_id, changes) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    record_params = [
        record.node_id,
        record.time,
        record.change_index,
        record.action,
        record.actor,
        record.channel,
        record.request_id,
        json.dumps(record.changes),
    ]
    return sql, [*params, node.pk, *record_params]


class Update:
    """One node's update inside a transaction of its own: lock it (with a stamp), then write it."""

    def lock_for_update(self, node_id: int) -> tuple[Node, Stamps]:
        """The node ``node_id`` locked for the transaction, and one stamp from the clock, taken first.

        Raises ``Node.DoesNotExist`` when there is no such node.
        """
        if connection.vendor == "postgresql":
            sql, params = _lock_statement(node_id)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            if row is not None:
                return _locked_node(row)
            # No such node, or no clock row yet: the portable path tells the two apart.
        stamps = clock.advance(1)
        return Node.objects.select_for_update().get(pk=node_id), stamps

    def write_update(self, node: Node, fields: tuple[str, ...], record: NodeChange | None) -> None:
        """Write ``fields`` of ``node`` and, if any, its history ``record``."""
        if connection.vendor != "postgresql":
            node.save(update_fields=fields)
            if record is not None:
                record.save()
            return
        sql, params = _write_statement(node, fields, record)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


class PipelinedUpdate(Update):
    """The same update on PostgreSQL outside any transaction, in two round trips instead of four.

    ``BEGIN`` travels with the locking statement and ``COMMIT`` with the writing one, as one
    message each; anything that fails in between rolls the transaction back. The transaction is
    the same as ``transaction.atomic()`` would open (the connection's default isolation), only
    without the separate round trips of its BEGIN and COMMIT.
    """

    def __init__(self) -> None:
        self.open = False

    def lock_for_update(self, node_id: int) -> tuple[Node, Stamps]:
        sql, params = _lock_statement(node_id)
        with connection.cursor() as cursor:
            self.open = True
            cursor.execute("BEGIN; " + sql, params)
            row = cursor.fetchone()
        if row is None:
            raise NotLocked
        return _locked_node(row)

    def write_update(self, node: Node, fields: tuple[str, ...], record: NodeChange | None) -> None:
        sql, params = _write_statement(node, fields, record)
        with connection.cursor() as cursor:
            cursor.execute(sql + "; COMMIT", params)
        self.open = False

    def rollback(self) -> None:
        if self.open:
            self.open = False
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")


class NotLocked(Exception):
    """The pipelined lock found no row: no such node, or no clock row yet (the portable path tells which)."""


def can_pipeline() -> bool:
    """Whether an update can be pipelined here: on PostgreSQL, outside any transaction."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


@contextmanager
def pipelined() -> Iterator[PipelinedUpdate]:
    """A ``PipelinedUpdate``, rolled back unless its ``write_update`` committed it.

    Raises ``NotLocked`` (nothing written) when there was no row to lock: the caller then runs the
    update on the portable path, in ``transaction.atomic()``, which raises the right error.
    """
    update = PipelinedUpdate()
    try:
        yield update
    finally:
        update.rollback()
