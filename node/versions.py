"""Versions of nodes and of list pages: opaque strings that change whenever what they describe changes.

A node's version is made of its id and ``last_modified``, which every write advances strictly
(``node.services.rules``), so the pair changes whenever any field does. Both come from the
database, so every instance of the service computes the same version for the same state. The API
sends versions as strong entity tags (they are quoted as ETags are).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from node.models import Node
from util.conditional import make_etag, make_etag_of_bytes


def node_version_at(node_id: int, last_modified: dt.datetime) -> str:
    """The version of the node ``node_id`` at ``last_modified``."""
    return make_etag(("node", node_id, last_modified.isoformat()))


def node_version(node: Node) -> str:
    """The version of ``node`` as loaded."""
    return node_version_at(node.pk, node.last_modified)


_NODE_VERSION_FIELDS = operator.itemgetter("id", "last_modified")


def node_page_version(results: Sequence[Mapping[str, Any]], *, count: int) -> str:
    """The version of a list page: a digest of its nodes' versions (id and ``last_modified``), in order, and the
    total ``count``.

    ``results`` are the page's nodes as the list writes them. The page's JSON is a function of
    exactly these nodes' states (its ``next``/``previous`` links follow from the count and the
    request's URL, which the version belongs to), and a node's id and ``last_modified`` change
    whenever its state does, so the version changes whenever a node on the page changes, a node
    enters or leaves the page, or the number of results changes.
    """
    # Two values a node, written by orjson: a seventh of the page's JSON to write and digest.
    versions = list(map(_NODE_VERSION_FIELDS, results))
    return make_etag_of_bytes(orjson.dumps([count, versions], option=orjson.OPT_UTC_Z))
