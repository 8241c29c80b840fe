"""Metrics of the node table read at scrape time (``/metrics``, see ``observability.metrics``): nodes by state, nodes by
liveness, the newest change index, history rows. (Heartbeats received are counted as they arrive, by
``node.services.liveness``.)

Each query is cheap at a million nodes: on PostgreSQL the active and inactive counts come from the
``node_count`` row (migration 0003) and the history's size from the planner's statistics; only
paused nodes are counted with ``COUNT(*)``, and that figure is reused for ``PAUSED_COUNT_SECONDS``
within a worker so that frequent scrapes do not each scan the table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from django.db import DatabaseError, connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from node.models import Node, NodeChange
from node.selectors import current_change_index, kept_node_count, liveness_counts, liveness_cutoff
from observability.metrics import count_database_error
from util.exceptions import DATABASE_UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)

PAUSED_COUNT_SECONDS = 30.0


class NodeCollector(Collector):
    """``scale_nodes_nodes{state}`` (active, paused, inactive: each node in one), ``scale_nodes_node_liveness{state}``
    (online, offline, never: each node in one) and ``scale_nodes_node_history_rows``.

    A node is ``inactive`` when deactivated, else ``paused`` or ``active``, as the admin shows it.
    When the database cannot answer, the scrape leaves these families out (and counts the failure)
    rather than failing.
    """

    def __init__(self) -> None:
        self._paused: tuple[float, int] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            states = self.node_states()
            liveness = liveness_counts(cutoff=liveness_cutoff())
            history = self.history_rows()
            index = current_change_index()
        except DatabaseError as exc:
            count_database_error(unavailable=isinstance(exc, DATABASE_UNAVAILABLE_ERRORS))
            logger.warning("metrics: node figures left out: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
            return
        nodes = GaugeMetricFamily(
            "scale_nodes_nodes", "Nodes by state: active, paused (and active), inactive.", labels=["state"]
        )
        for state, value in states.items():
            nodes.add_metric([state], value)
        yield nodes
        live = GaugeMetricFamily(
            "scale_nodes_node_liveness",
            "Nodes by liveness: online (last heartbeat younger than NODE_HEARTBEAT_TTL), offline, "
            "never (no heartbeat yet).",
            labels=["state"],
        )
        for state, value in liveness.items():
            live.add_metric([state], value)
        yield live
        yield GaugeMetricFamily(
            "scale_nodes_registry_change_index",
            "The newest change index of the registry clock: it grows by one per node written.",
            value=index,
        )
        yield GaugeMetricFamily(
            "scale_nodes_node_history_rows",
            "Rows of node history (on PostgreSQL the planner's estimate, updated by autovacuum's analyze).",
            value=history,
        )

    def node_states(self) -> dict[str, int]:
        active = kept_node_count(is_active=True)
        inactive = kept_node_count(is_active=False)
        if active is None or inactive is None:
            active = Node.objects.filter(is_active=True).count()
            inactive = Node.objects.filter(is_active=False).count()
        now = time.monotonic()
        if self._paused is None or now - self._paused[0] >= PAUSED_COUNT_SECONDS:
            self._paused = (now, Node.objects.filter(is_active=True, is_paused=True).count())
        paused = min(self._paused[1], active)
        return {"active": active - paused, "paused": paused, "inactive": inactive}

    def history_rows(self) -> int:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [NodeChange._meta.db_table]
                )
                row = cursor.fetchone()
            # -1: never analyzed yet (a new, small table), where counting is cheap.
            if row is not None and row[0] >= 0:
                return int(row[0])
        return NodeChange.objects.count()
