"""Reads of nodes: the rows of the list, and their exact count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from node.models import Node
from node.serializers import NODE_FIELDS

# Built once: resolving the eight field names costs more than the rest of the query's setup. The
# base queryset is never evaluated itself, only cloned.
_NODE_ROWS = Node.objects.values_list(*NODE_FIELDS)


def node_rows() -> QuerySet:
    """All nodes as tuples of the eight ``NODE_FIELDS``, for ``node_rows_data`` to turn into results."""
    return _NODE_ROWS.all()


def kept_node_count(*, is_active: bool | None = None) -> int | None:
    """The exact number of nodes (active, inactive, or all) as PostgreSQL keeps it, in one cheap query.

    The ``node_count`` row is maintained by triggers in the same transaction as every write to
    ``node`` (migration 0002), so it is what ``COUNT(*)`` would say in the same snapshot. Returns
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
