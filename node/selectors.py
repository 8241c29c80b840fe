"""Reads of nodes that other layers share: the rows of the list, their exact count, lookups by hostname
and the history of a node."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection
from django.db.models import Count, Max, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from node.models import NODE_FIELDS, Node, NodeChange, RegistryClock
from util.sqlcache import rows_with_params

# Built once: resolving the eight field names costs more than the rest of the query's setup. The
# base queryset is never evaluated itself, only cloned.
_NODE_ROWS = Node.objects.values_list(*NODE_FIELDS)


def node_rows() -> QuerySet:
    """All nodes as tuples of the eight ``NODE_FIELDS``, for ``node_rows_data`` to turn into results."""
    return _NODE_ROWS.all()


def kept_node_count(*, is_active: bool | None = None) -> int | None:
    """The exact number of nodes (active, inactive, or all) as PostgreSQL keeps it; None on other databases."""
    kept = kept_node_count_with_index(is_active=is_active)
    return None if kept is None else kept[0]


def kept_node_count_with_index(*, is_active: bool | None = None) -> tuple[int, int] | None:
    """The exact number of nodes (active, inactive, or all) as PostgreSQL keeps it, and the newest change index.

    One cheap query at any table size. The ``node_count`` row is maintained by triggers in the
    same transaction as every write to ``node`` (migration 0003), so it is what ``COUNT(*)`` would
    say in the same snapshot, the snapshot in which the change index is read. Returns None on
    databases that keep no count.
    """
    if connection.vendor != "postgresql":
        return None
    column = {None: "active + inactive", True: "active", False: "inactive"}[is_active]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column}, (SELECT change_index FROM registry_clock WHERE id = 1) FROM node_count"  # noqa: S608 (one of three fixed expressions)
        )
        count, index = cursor.fetchone()
    return count, index or 0


def node_list_count(queryset: QuerySet, *, filters: Mapping[str, Any]) -> tuple[int, int]:
    """The exact number of rows of ``queryset`` (the nodes chosen by ``NodeFilter`` with the values ``filters``),
    and the newest change index, read no later than the count.

    With no time bound the kept count answers at any table size; a ``started``/``ended`` range is
    counted with ``COUNT(*)`` over the ``last_modified`` index.
    """
    if filters.get("started") is None and filters.get("ended") is None:
        kept = kept_node_count_with_index(is_active=filters.get("is_active"))
        if kept is not None:
            return kept
    counted = queryset.order_by().aggregate(
        count=Count("pk"), index=Max(Subquery(RegistryClock.objects.filter(pk=1).values("change_index")))
    )
    if counted["index"] is None:
        # No row matched, so the aggregate saw no index: read it on its own.
        return 0, current_change_index()
    return counted["count"], counted["index"]


def nodes_with_hostnames(hostnames: Iterable[str]) -> QuerySet[Node]:
    """The nodes whose hostname is one of ``hostnames``, ignoring letter case, annotated with ``hostname_key``.

    ``hostname_key`` is the lower-case hostname, the key of the unique index that serves this lookup.
    """
    keys = {hostname.lower() for hostname in hostnames}
    return Node.objects.annotate(hostname_key=Lower("hostname")).filter(hostname_key__in=keys)


def node_history(node_id: int) -> QuerySet[NodeChange]:
    """The recorded changes of the node ``node_id``, newest first."""
    return NodeChange.objects.filter(node_id=node_id).order_by("-time", "-id")


def current_change_index() -> int:
    """The newest change index committed: every change up to it is visible to reads that start after this one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT change_index FROM registry_clock WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else 0


def node_exists_with_index(node_id: int) -> tuple[bool, int]:
    """Whether the node ``node_id`` exists, and the newest change index, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM node WHERE id = %s), (SELECT change_index FROM registry_clock WHERE id = 1)",
            [node_id],
        )
        exists, index = cursor.fetchone()
    return bool(exists), index or 0


def _node_row_with_index(node_id: int) -> QuerySet:
    return (
        node_rows()
        .filter(pk=node_id)
        .annotate(registry_index=RawSQL("SELECT change_index FROM registry_clock WHERE id = 1", ()))
        .values_list(*NODE_FIELDS, "registry_index")[:1]
    )


def node_row_with_index(node_id: int) -> tuple[tuple | None, int]:
    """The ``NODE_FIELDS`` values of the node ``node_id`` (None when there is none), and the newest change index.

    Both come from one statement, so the node is exactly as it was once that change committed.
    The statement is compiled once (``util.sqlcache``).
    """
    rows = rows_with_params(_node_row_with_index, key="node-detail", params=(node_id,))
    if not rows:
        return None, current_change_index()
    return rows[0][:-1], rows[0][-1] or 0


def node_changes(*, after: int, limit: int) -> list[tuple]:
    """The ``NODE_FIELDS`` values and change index of the nodes whose latest change is after ``after``, oldest first.

    At most ``limit`` nodes, served by the unique index on ``change_index``.
    """
    return list(
        Node.objects.filter(change_index__gt=after)
        .order_by("change_index")
        .values_list(*NODE_FIELDS, "change_index")[:limit]
    )
