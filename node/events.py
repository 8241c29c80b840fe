"""Node changes as Server-Sent Events, read once per server process and fanned out from memory.

Each process has one pump thread: it waits for the registry clock to advance (``node.feed``: the
listening connection on PostgreSQL, a poll of the clock on SQLite), reads the nodes changed since the
last read (``node.selectors.node_changes``) on its own database connection, encodes each as one
event and appends it to an ``util.fanout.IndexedLog``. Every stream of the process reads that log:
a stream costs no database connection and no thread, only its position in the log. A stream
resuming from a position older than the log still holds first catches up from the database, a page
at a time, then follows the log.

An event is ``id: <change index>``, ``event: node`` and ``data: <the node's JSON>`` (the bytes of a
list entry); a node changed several times between two reads appears once, in its latest state, at
its latest index, exactly as in ``GET /v6/nodes/changes/``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from node.feed import change_waiter
from node.selectors import current_change_index, node_changes
from node.serializers import node_rows_data
from util.fanout import IndexedLog
from util.metrics import EVENT_STREAMS_OPEN, LONG_POLLS_WAITING
from util.renderers import OrjsonRenderer

logger = logging.getLogger(__name__)

EVENT_NAME = "node"
# Rows read per query, by the pump and by a stream catching up.
READ_PAGE = 500
# The pump reads the clock at least this often even without a notification (a NOTIFY lost while
# the listener reconnected is then late by this much, never missed).
_SAFETY_READ_SECONDS = 5.0
_RETRY_SECONDS = 1.0
HEARTBEAT = b": keep-alive\n\n"

_renderer = OrjsonRenderer()


def encode_events(rows: Sequence[tuple]) -> list[tuple[int, bytes]]:
    """The events of rows of ``NODE_FIELDS`` values followed by the change index, as ``(index, bytes)``."""
    data = node_rows_data(row[:-1] for row in rows)
    return [
        (row[-1], b"id: %d\nevent: %s\ndata: %s\n\n" % (row[-1], EVENT_NAME.encode(), _renderer.render(node)))
        for row, node in zip(rows, data, strict=True)
    ]


class NodeEventPump:
    """This process's reader of node changes into ``log``: one thread, one database connection."""

    def __init__(self, *, capacity: int) -> None:
        self.capacity = capacity
        self.log: IndexedLog | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-event-pump", daemon=True)
        self._start_error: BaseException | None = None
        # Streams of one process start at once on several threads: one of them starts the reader.
        self._start_lock = threading.Lock()

    def start(self, timeout: float = 10.0) -> IndexedLog:
        """Start the thread if not yet, and return the log once it has its first head (within ``timeout``)."""
        with self._start_lock:
            if self._thread.ident is None:
                self._thread.start()
        if not self._started.wait(timeout) or self.log is None:
            raise RuntimeError("The node event reader did not start.") from self._start_error
        return self.log

    def stop(self, timeout: float = _SAFETY_READ_SECONDS + _RETRY_SECONDS) -> None:
        """Stop the thread, waiting for it to end (it notices within one wait or one retry)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        waiter = change_waiter()
        while not self._stopped.is_set() and self.log is None:
            try:
                # Listening before the first read: no change committed after the read is missed.
                waiter.ready(timeout=2.0)
                self.log = IndexedLog(head=current_change_index(), capacity=self.capacity)
            except Exception as exc:
                self._start_error = exc
                logger.warning("reading the registry clock failed, retrying: %s", exc)
                connections.close_all()
                time.sleep(_RETRY_SECONDS)
        self._started.set()
        log = self.log
        while not self._stopped.is_set():
            try:
                waiter.wait_beyond(log.head, timeout=_SAFETY_READ_SECONDS)
                self._read_into(log)
            except Exception as exc:
                # The database went away: drop this thread's connection, and read again later.
                logger.warning("reading node changes failed, retrying: %s", exc)
                connections.close_all()
                time.sleep(_RETRY_SECONDS)
        connections.close_all()

    @staticmethod
    def _read_into(log: IndexedLog) -> None:
        while True:
            rows = node_changes(after=log.head, limit=READ_PAGE)
            if not rows:
                return
            events = encode_events(rows)
            log.append(events, head=events[-1][0])
            if len(rows) < READ_PAGE:
                return


_pump: NodeEventPump | None = None
_pump_lock = threading.Lock()


def node_event_log() -> IndexedLog:
    """This process's log of node events, its reader started on first use (blocks briefly then)."""
    global _pump
    with _pump_lock:
        if _pump is None:
            _pump = NodeEventPump(capacity=settings.EVENTS_BUFFER)
        pump = _pump
    return pump.start()


def reset() -> None:
    """Stop this process's reader, if any (tests, and database switches); the next use starts a new one."""
    global _pump
    with _pump_lock:
        pump, _pump = _pump, None
    if pump is not None:
        pump.stop()


async def wait_for_change(after: int, *, timeout: float) -> bool:
    """Wait until a change after index ``after`` has committed, or ``timeout`` seconds pass; whether one did.

    Holds no database connection and no thread while waiting.
    """
    log = await sync_to_async(node_event_log, thread_sensitive=False)()
    LONG_POLLS_WAITING.inc()
    try:
        return await log.wait_beyond(after, timeout=timeout)
    finally:
        LONG_POLLS_WAITING.dec()


def _catch_up_rows(after: int) -> list[tuple]:
    return node_changes(after=after, limit=READ_PAGE)


async def node_event_stream(
    *, after: int, heartbeat_seconds: float, until: Callable[[], bool] = lambda: False
) -> AsyncIterator[bytes]:
    """The events of every node change after index ``after``, in index order, then live; endless.

    Yields a comment line (``HEARTBEAT``) when ``heartbeat_seconds`` pass without an event, so that
    proxies keep the connection open; ``until()`` true ends the stream (the server is stopping).
    """
    log = await sync_to_async(node_event_log, thread_sensitive=False)()
    position = after
    EVENT_STREAMS_OPEN.inc()
    try:
        # The first bytes go out at once: the client knows the stream is open.
        yield HEARTBEAT
        # One generator for the whole stream: each open stream holds its frame for as long as it lasts.
        while not until():
            entries = log.read(position, limit=READ_PAGE)
            if entries is None:
                # Older than the log holds: one page from the database, on the thread of the sync views.
                entries = encode_events(await sync_to_async(_catch_up_rows)(position))
                if not entries:
                    # The database has nothing newer than this position although the log dropped
                    # entries beyond it: the log is complete from here on.
                    position = max(position, log.base)
                    continue
            if entries:
                position = entries[-1][0]
                yield b"".join(payload for _, payload in entries)
                continue
            if not await log.wait_beyond(position, timeout=heartbeat_seconds):
                yield HEARTBEAT
    finally:
        EVENT_STREAMS_OPEN.dec()
