"""A node change as a Server-Sent Event: ``id: <change index>``, ``event: node`` and ``data: <the node's JSON>``.

The data is the bytes of a list entry, the node as it was right after that change. Every committed
change is one event, in index order: a node changed several times between two reads appears once per
change, each with its own id (unlike ``GET /v6/nodes/changes/``, which shows each node once, in its
latest state). Ids are not consecutive: indexes are shared by all nodes, and a write that changed no
value (it only moved ``last_modified``) is delivered only while it is the node's latest change, as it
leaves no history record. ``event_data`` is the one place that turns a change into an event's JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from node.selectors import NodeEvent
from node.serializers import node_rows_data
from util.renderers import OrjsonRenderer

EVENT_NAME = "node"

_renderer = OrjsonRenderer()


def event_data(event: NodeEvent, node: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of ``event``'s ``data:``, given ``node``, its node's fields as a list entry shows them.

    The node as it was right after the change; what an event says beyond the node (its record's
    action, say) is added here, from ``event.record``: a liveness transition adds the node's new ``state``.
    """
    return with_liveness_state(node, event.record.changes if event.record is not None else None)


def encode_events(events: Sequence[NodeEvent]) -> list[tuple[int, bytes]]:
    """The Server-Sent Events of ``events``, as ``(change index, bytes)``."""
    nodes = node_rows_data(event.node for event in events)
    return [
        (
            event.index,
            b"id: %d\nevent: %s\ndata: %s\n\n"
            % (event.index, EVENT_NAME.encode(), _renderer.render(event_data(event, node))),
        )
        for event, node in zip(events, nodes, strict=True)
    ]


def with_liveness_state(node: dict, changes: Mapping | None) -> dict:
    """The data of a change's event: the node, plus ``state`` (online, offline) when the change's recorded
    ``changes`` are a liveness transition (``{"state": {"old", "new"}}``)."""
    state = (changes or {}).get("state")
    return node if not isinstance(state, Mapping) else {**node, "state": state["new"]}
