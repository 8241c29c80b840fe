"""Reads of nodes that other layers share: the rows of the list, their exact count, and entity tags.

A node's version is its id and ``last_modified``: every save advances ``last_modified`` strictly
(see ``Node``), so the pair changes whenever any field does. Both come from the database, so every
instance of the service computes the same tag for the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from django.db import connection
from django.db.models import QuerySet

from node.models import Node
from node.serializers import NODE_FIELDS
from util.conditional import make_etag, make_etag_of_bytes

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


def node_version_etag(node_id: int, last_modified: dt.datetime) -> str:
    """The strong entity tag of the node ``node_id`` at ``last_modified``."""
    return make_etag(("node", node_id, last_modified.isoformat()))


def node_etag(node: Node) -> str:
    """The strong entity tag of ``node`` as loaded: it changes whenever the node changes."""
    return node_version_etag(node.pk, node.last_modified)


def node_page_etag(results: Sequence[Mapping[str, Any]], *, count: int) -> str:
    """The entity tag of a list page: a digest of its nodes, in order, and the total ``count``.

    ``results`` are the page's nodes as ``node_rows_data`` gives them. The page's JSON is a
    function of exactly these (its ``next``/``previous`` links follow from the count and the
    request's URL, which the tag belongs to), so the tag changes whenever a node on the page
    changes, a node enters or leaves the page, or the number of results changes. The digest is
    taken over the nodes' JSON as orjson writes it, which costs less than any per-row Python work.
    """
    return make_etag_of_bytes(orjson.dumps([count, results], option=orjson.OPT_UTC_Z))
