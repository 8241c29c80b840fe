"""Waiting for a database change without holding a transaction or polling the database in a loop.

``PostgresListener`` keeps one connection per process that LISTENs on a channel, in a daemon
thread; any number of threads wait on it for a payload (an increasing integer such as a change
index) beyond the one they have, each blocked in ``block_until_beyond``. PostgreSQL delivers a
NOTIFY when the sending transaction commits, and never for one that rolls back. ``PollingWaiter``
is the fallback for databases without notifications: it reads the current value every ``interval``
seconds, each read its own short statement.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

# How long the listening thread blocks between checks of its connection and of being stopped.
_SELECT_SECONDS = 0.5
_RECONNECT_SECONDS = 1.0


class PostgresListener:
    """The newest integer payload NOTIFY has sent on ``channel``, and a way to wait for a newer one.

    ``connect_params`` are psycopg2's ``connect`` keyword arguments. The thread starts on the first
    wait (after a fork, so each server process has its own) and reconnects when the connection is
    lost; while it is disconnected, waiters wake on their timeout only.
    """

    def __init__(self, *, channel: str, connect_params: Mapping[str, Any]) -> None:
        self.channel = channel
        self.connect_params = dict(connect_params)
        self.latest = 0
        self._condition = threading.Condition()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = threading.Event()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"listen-{self.channel}", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        import psycopg2
        import psycopg2.extensions

        while not self._stopped.is_set():
            connection = None
            try:
                connection = psycopg2.connect(**self.connect_params)
                connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
                with connection.cursor() as cursor:
                    cursor.execute(f'LISTEN "{self.channel}"')
                self._listening.set()
                while not self._stopped.is_set():
                    select.select([connection], [], [], _SELECT_SECONDS)
                    connection.poll()
                    payloads = [notify.payload for notify in connection.notifies]
                    connection.notifies.clear()
                    self._received(payloads)
                connection.close()
            except Exception as exc:
                # Any failure of the connection: log it, and listen again on a new one.
                self._listening.clear()
                if connection is not None:
                    connection.close()
                logger.warning("listening on %s failed, reconnecting: %s", self.channel, exc)
                time.sleep(_RECONNECT_SECONDS)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close the connection (within ``timeout`` seconds)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._listening.clear()

    def _received(self, payloads: list[str]) -> None:
        values = [int(payload) for payload in payloads if payload.isdigit()]
        if values:
            with self._condition:
                self.latest = max(self.latest, *values)
                self._condition.notify_all()

    def ready(self, timeout: float) -> bool:
        """Start listening if not yet; True once the channel is listened to (within ``timeout`` seconds)."""
        self._start()
        return self._listening.wait(timeout)

    def block_until_beyond(self, value: int, *, timeout: float) -> bool:
        """Block the calling thread until a payload greater than ``value`` has been received, or ``timeout``
        seconds pass.

        Call ``ready`` before reading the value to wait beyond, so that no notification sent after
        that read can be missed. Returns whether a greater payload arrived.
        """
        self._start()
        with self._condition:
            return self._condition.wait_for(lambda: self.latest > value, timeout=timeout)


class PollingWaiter:
    """Wait for ``read()`` to exceed a value by reading it every ``interval`` seconds (the same calls as
    ``PostgresListener``'s, for databases without notifications)."""

    def __init__(self, *, read: Callable[[], int], interval: float) -> None:
        self.read = read
        self.interval = interval

    def ready(self, timeout: float) -> bool:
        """True: a poll reads the value itself, and misses nothing committed before a read."""
        return True

    def block_until_beyond(self, value: int, *, timeout: float) -> bool:
        """Block the calling thread, reading the value every ``interval`` seconds, until it is greater than
        ``value`` or ``timeout`` seconds pass; whether it became greater."""
        deadline = time.monotonic() + timeout
        while True:
            if self.read() > value:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self.interval, remaining))

    def stop(self, timeout: float = 0.0) -> None:
        """Nothing to stop: a poll holds no thread and no connection of its own."""
