"""Reads of nodes that other layers share: the rows of the list, their exact count, lookups by hostname
and the history of a node."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Lower

from node.models import NODE_FIELDS, Node, NodeChange

# Built once: resolving the eight field names costs more than the rest of the query's setup. The
# base queryset is never evaluated itself, only cloned.
_NODE_ROWS = Node.objects.values_list(*NODE_FIELDS)


def node_rows() -> QuerySet:
    """All nodes as tuples of the eight ``NODE_FIELDS``, for ``node_rows_data`` to turn into results."""
    return _NODE_ROWS.all()


def kept_node_count(*, is_active: bool | None = None) -> int | None:
    """The exact number of nodes (active, inactive, or all) as PostgreSQL keeps it, in one cheap query.

    The ``node_count`` row is maintained by triggers in the same transaction as every write to
    ``node`` (migration 0003), so it is what ``COUNT(*)`` would say in the same snapshot. Returns
    None on databases that keep no count.
    """
    if connection.vendor != "postgresql":
        return None
    column = {None: "active + inactive", True: "active", False: "inactive"}[is_active]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM node_count")  # noqa: S608 (one of three fixed expressions)
        return cursor.fetchone()[0]


def node_list_count(queryset: QuerySet, *, filters: Mapping[str, Any]) -> int:
    """The exact number of rows of ``queryset``, the nodes chosen by ``NodeFilter`` with the values ``filters``.

    With no time bound the kept count answers at any table size; a ``started``/``ended`` range is
    counted with ``COUNT(*)`` over the ``last_modified`` index.
    """
    if filters.get("started") is None and filters.get("ended") is None:
        kept = kept_node_count(is_active=filters.get("is_active"))
        if kept is not None:
            return kept
    return queryset.count()


def nodes_with_hostnames(hostnames: Iterable[str]) -> QuerySet[Node]:
    """The nodes whose hostname is one of ``hostnames``, ignoring letter case, annotated with ``hostname_key``.

    ``hostname_key`` is the lower-case hostname, the key of the unique index that serves this lookup.
    """
    keys = {hostname.lower() for hostname in hostnames}
    return Node.objects.annotate(hostname_key=Lower("hostname")).filter(hostname_key__in=keys)


def node_history(node_id: int) -> QuerySet[NodeChange]:
    """The recorded changes of the node ``node_id``, newest first."""
    return NodeChange.objects.filter(node_id=node_id).order_by("-time", "-id")
