"""The liveness reaper of a server process: every ``NODE_REAP_SECONDS`` it records the nodes that went offline or
came back online (``node.services.liveness.node_liveness_reap``).

Every process of every instance runs one (started by the serving worker, ``scale_nodes/gunicorn.conf.py``);
the database decides which of them records a transition, so each is recorded once. A process marks
nodes offline only once it has itself been up for ``NODE_HEARTBEAT_TTL``: after a restart of the
registry, nodes whose heartbeats were refused while it was down get a full TTL to be heard again
before they count as silent. Coming back online is recorded from the start. When
``NODE_OFFLINE_DEACTIVATE_SECONDS`` is set, the pass also deactivates nodes offline for that long.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import connections

from node.services import Transitions, node_deactivate_offline, node_liveness_reap
from serving import shutdown

logger = logging.getLogger(__name__)


class LivenessReaper:
    """One process's periodic pass over node liveness, on a thread of its own with its own database connection."""

    def __init__(self, *, interval: float, started: float | None = None) -> None:
        self.interval = interval
        # When this process came up (monotonic): it marks nodes offline only a TTL later.
        self.started = time.monotonic() if started is None else started
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-liveness-reaper", daemon=True)

    def may_mark_offline(self) -> bool:
        """Whether this process has been up for the TTL, and so can tell a silent node from its own absence."""
        return time.monotonic() - self.started >= settings.NODE_HEARTBEAT_TTL

    def run_once(self) -> Transitions:
        """One pass: record the transitions, then deactivate nodes offline too long (when set)."""
        offline = self.may_mark_offline()
        done = node_liveness_reap(ttl=dt.timedelta(seconds=settings.NODE_HEARTBEAT_TTL), offline=offline)
        if offline and settings.NODE_OFFLINE_DEACTIVATE_SECONDS > 0:
            node_deactivate_offline(offline_for=dt.timedelta(seconds=settings.NODE_OFFLINE_DEACTIVATE_SECONDS))
        return done

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (it notices within one interval); does not wait."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:
                # The database went away: drop this thread's connection and try again next time.
                logger.warning("recording node liveness failed, retrying: %s", exc)
                connections.close_all()
        connections.close_all()


_reaper: LivenessReaper | None = None
_lock = threading.Lock()


def start() -> LivenessReaper | None:
    """Start this process's reaper (once), unless ``NODE_REAP_SECONDS`` is 0; it stops when the process stops."""
    global _reaper
    with _lock:
        if _reaper is None and settings.NODE_REAP_SECONDS > 0:
            _reaper = LivenessReaper(interval=settings.NODE_REAP_SECONDS)
            _reaper.start()
            shutdown.on_stop(_reaper.stop)
        return _reaper
