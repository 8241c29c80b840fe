"""``Live``: this process's live path as one object, from its clock watch up to the caps on its followers."""

from __future__ import annotations

import threading

from asgiref.sync import sync_to_async
from django.conf import settings

from node.live.clock_watch import ClockWatch, clock_watch_for_database
from node.live.limits import WatchCaps
from node.live.pump import NodeEventPump
from serving import shutdown
from waiting.fanout import IndexedLog


class Live:
    """What one server process runs to push node changes to its followers.

    - the clock watch (``clock_watch()``): the listening thread and its connection on PostgreSQL, or a
      poll of the clock elsewhere, made on first use;
    - the pump (``start()``): the thread that follows the clock into the in-memory log every stream
      and waiting long-poll reads; its first start also has the process's stopping
      (``serving.shutdown``) interrupt every wait on the log;
    - the caps (``caps``) on open streams and waiting long-polls, counted from this object's making.

    Nothing runs until first used: a server process starts its threads after the fork, on its first
    stream or long-poll. Every method is safe from any thread.
    """

    def __init__(self) -> None:
        self.caps = WatchCaps()
        self._lock = threading.Lock()
        self._clock_watch: ClockWatch | None = None
        self._pump: NodeEventPump | None = None

    def clock_watch(self) -> ClockWatch:
        """The process's watch of the registry clock, made for the default database on first use."""
        with self._lock:
            return self._clock_watch_locked()

    def _clock_watch_locked(self) -> ClockWatch:
        if self._clock_watch is None:
            self._clock_watch = clock_watch_for_database()
        return self._clock_watch

    def start(self, timeout: float = 10.0) -> IndexedLog:
        """Start the clock watch and the pump if not yet, and return the log once it has its first head.

        Idempotent: a second call returns the same log. Blocks until the pump has read the clock
        (RuntimeError if it could not within ``timeout`` seconds).
        """
        with self._lock:
            if self._pump is None:
                self._pump = NodeEventPump(capacity=settings.EVENTS_BUFFER, clock_watch=self._clock_watch_locked())
                shutdown.on_stop(self._pump.interrupt)
            pump = self._pump
        return pump.start(timeout)

    async def log(self) -> IndexedLog:
        """The log of node events, from the event loop: at once once the pump runs, else started on a thread."""
        pump = self._pump
        if pump is not None and pump.log is not None:
            return pump.log
        return await sync_to_async(self.start, thread_sensitive=False)()

    def stop(self) -> None:
        """Stop the pump, then the clock watch, waiting for their threads to end; idempotent.

        A later ``start()`` or ``clock_watch()`` makes new ones (the caps keep their counts).
        """
        with self._lock:
            pump, self._pump = self._pump, None
            watch, self._clock_watch = self._clock_watch, None
        if pump is not None:
            pump.stop()
        if watch is not None:
            watch.stop()


_live: Live | None = None
_live_lock = threading.Lock()


def process_live() -> Live:
    """This process's ``Live``, made on first use."""
    global _live
    with _live_lock:
        if _live is None:
            _live = Live()
        return _live


def reset() -> None:
    """Stop this process's ``Live`` and forget it (tests, and database switches): the next use makes a new one,
    with its caps counting from nothing and their limits from the settings."""
    global _live
    with _live_lock:
        live, _live = _live, None
    if live is not None:
        live.stop()
