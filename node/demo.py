"""A realistic mix of demo nodes for ``seed_nodes --demo`` (used by ``make run``)."""

from collections.abc import Mapping
from typing import Any

DEMO_PAUSE_REASONS = (
    "Disk replacement scheduled",
    "Kernel upgrade in progress",
    "Investigating high memory pressure",
    "Network card flapping",
)


def demo_nodes(count: int = 24, *, domain: str = "cluster.example.com") -> dict[str, Mapping[str, Any]]:
    """Hostnames with their initial state: mostly active, every 5th paused, every 7th inactive."""
    nodes: dict[str, Mapping[str, Any]] = {}
    for number in range(1, count + 1):
        state: dict[str, Any] = {}
        if number % 5 == 0:
            state = {"is_paused": True, "pause_reason": DEMO_PAUSE_REASONS[(number // 5) % len(DEMO_PAUSE_REASONS)]}
        if number % 7 == 0:
            state["is_active"] = False
        nodes[f"node-{number:03d}.{domain}"] = state
    return nodes
