"""The change feed: waiting for the registry clock to pass an index, on whatever database serves the nodes.

On PostgreSQL each server process LISTENs for ``node_changes`` (sent by the clock's trigger when a
writing transaction commits) on one connection of its own, to ``LISTEN_DATABASE_URL`` when set (a
pooler in transaction mode cannot carry LISTEN) or else to the default database. Elsewhere (the
embedded SQLite) the clock is read every ``FEED_POLL_SECONDS``.
"""

from __future__ import annotations

import threading

import dj_database_url
from django.conf import settings
from django.db import connections

from live.notify import PollingWaiter, PostgresListener
from node.selectors import current_change_index

CHANNEL = "node_changes"
_waiter: PostgresListener | PollingWaiter | None = None
_lock = threading.Lock()


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


def change_waiter() -> PostgresListener | PollingWaiter:
    """This process's way of waiting for a change after a given index."""
    global _waiter
    with _lock:
        if _waiter is None:
            if connections["default"].vendor == "postgresql":
                _waiter = PostgresListener(channel=CHANNEL, connect_params=_connect_params())
            else:
                _waiter = PollingWaiter(read=_read_index, interval=settings.FEED_POLL_SECONDS)
        return _waiter


def _read_index() -> int:
    # Outside a transaction each read is a statement of its own, which sees every earlier commit.
    return current_change_index()


def reset() -> None:
    """Stop this process's listener, if any; the next wait starts a new one (tests, and database switches)."""
    global _waiter
    with _lock:
        if isinstance(_waiter, PostgresListener):
            _waiter.stop()
        _waiter = None
