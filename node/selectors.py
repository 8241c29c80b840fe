"""Reads of nodes that other layers share: the entity tags of a node and of a page of nodes.

A node's version is its id and ``last_modified``: every save advances ``last_modified`` strictly
(see ``Node``), so the pair changes whenever any field does. Both come from the database, so every
instance of the service computes the same tag for the same state.
"""

from collections.abc import Iterable

from node.models import Node
from util.conditional import make_etag


def node_etag(node: Node) -> str:
    """The strong entity tag of ``node`` as loaded: it changes whenever the node changes."""
    return make_etag(("node", node.pk, node.last_modified.isoformat()))


def node_page_etag(nodes: Iterable[Node], *, count: int) -> str:
    """The entity tag of a list page: its nodes' versions, in order, and the total ``count``.

    The page's JSON is a function of exactly these (its ``next``/``previous`` links follow from
    the count and the request's URL, which the tag belongs to), so the tag changes whenever a node
    on the page changes, a node enters or leaves the page, or the number of results changes.
    """
    return make_etag(("nodes", count, *(f"{node.pk}@{node.last_modified.isoformat()}" for node in nodes)))
