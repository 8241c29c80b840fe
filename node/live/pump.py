"""This process's reader of node changes: one thread that follows the registry clock and fills the in-memory log.

The thread waits for the clock to advance (``node.live.clock_watch``), reads the changes committed
since its last read (``node.selectors.node_events``: a page of history records and the nodes they
changed, in two statements) on its own database connection, encodes each as one event
(``node.live.encoding``) and appends it to a ``waiting.fanout.IndexedLog``. Every stream and waiting
long-poll of the process reads that log: it costs no database connection and no thread.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connections

from node.live.clock_watch import ClockWatch
from node.live.encoding import encode_events
from node.selectors import current_change_index, node_events
from waiting.fanout import IndexedLog

logger = logging.getLogger(__name__)

# Rows read per query, by the pump and by a stream catching up.
READ_PAGE = 500
# The pump reads the clock at least this often even without a notification (a NOTIFY lost while
# the listener reconnected is then late by this much, never missed).
_SAFETY_READ_SECONDS = 5.0
_RETRY_SECONDS = 1.0


class NodeEventPump:
    """This process's reader of node changes into ``log``: one thread, one database connection."""

    def __init__(self, *, capacity: int, clock_watch: ClockWatch) -> None:
        self.capacity = capacity
        self.clock_watch = clock_watch
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

    def interrupt(self) -> None:
        """Wake every wait on the log (the process is stopping): streams and long-polls check why."""
        if self.log is not None:
            self.log.interrupt()

    def stop(self, timeout: float = _SAFETY_READ_SECONDS + _RETRY_SECONDS) -> None:
        """Stop the thread, waiting for it to end (it notices within one wait or one retry)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        waiter = self.clock_watch
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
                waiter.block_until_beyond(log.head, timeout=_SAFETY_READ_SECONDS)
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
            page = node_events(after=log.head, limit=READ_PAGE)
            if page.head > log.head:
                log.append(encode_events(page.events), head=page.head)
            if not page.more:
                return
