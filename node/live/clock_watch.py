"""Waiting for the registry clock to pass an index, on whatever database serves the nodes.

On PostgreSQL each server process LISTENs for ``node_changes`` (sent by the clock's trigger when a
writing transaction commits) on one connection of its own, to ``LISTEN_DATABASE_URL`` when set (a
pooler in transaction mode cannot carry LISTEN) or else to the default database. Elsewhere (the
embedded SQLite) the clock is read every ``FEED_POLL_SECONDS``. Either way the wait blocks the
calling thread (``ClockWatch.block_until_beyond``); the process's one watch is ``Live.clock_watch()``.
"""

from __future__ import annotations

from typing import Protocol

import dj_database_url
from django.conf import settings
from django.db import connections

from node.selectors import current_change_index
from waiting.notify import PollingWaiter, PostgresListener

CHANNEL = "node_changes"


class ClockWatch(Protocol):
    """A way to wait, on a thread, for the registry clock to pass an index."""

    def ready(self, timeout: float) -> bool:
        """Start watching if not yet; True once no change committed from now on can be missed (within ``timeout``).

        Called before reading the index to wait beyond, so that no change after that read goes unnoticed.
        """

    def block_until_beyond(self, value: int, *, timeout: float) -> bool:
        """Block the calling thread until the clock is known to be beyond ``value``, or ``timeout`` seconds pass;
        whether it is."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching: end the listening thread and close its connection, if the watch has them."""


def _connect_params() -> dict:
    """psycopg2's connection parameters of the listener: the default database, by its direct route if one is set.

    ``LISTEN_DATABASE_URL`` gives the host, port and credentials to reach PostgreSQL without the
    pooler; the database is always the default connection's (the test database in tests).
    """
    params = dict(connections["default"].get_connection_params())
    # The listener's connection lives as long as the process: no statement timeout applies to it.
    params.pop("options", None)
    params.pop("cursor_factory", None)
    url = getattr(settings, "LISTEN_DATABASE_URL", None)
    if url:
        config = dj_database_url.parse(url)
        route = {"user": config["USER"], "password": config["PASSWORD"], "host": config["HOST"], "port": config["PORT"]}
        params.update({name: value for name, value in route.items() if value})
    return params


def clock_watch_for_database() -> ClockWatch:
    """A new watch of the clock of the default database: its listener on PostgreSQL, a poll of the clock elsewhere."""
    if connections["default"].vendor == "postgresql":
        return PostgresListener(channel=CHANNEL, connect_params=_connect_params())
    return PollingWaiter(read=_read_index, interval=settings.FEED_POLL_SECONDS)


def _read_index() -> int:
    # Outside a transaction each read is a statement of its own, which sees every earlier commit.
    return current_change_index()
