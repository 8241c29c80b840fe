"""An in-memory log of indexed messages that one writer thread fills and any number of coroutines follow.

A process keeps one ``IndexedLog``: a single reader of the database appends what changed, in index
order, and every connected client reads it from memory, so a thousand idle clients cost a thousand
small objects rather than a thousand database sessions. The log keeps the newest ``capacity``
entries; a reader whose position is older than what the log still holds is told so (``read`` returns
None) and must catch up from the source itself.

Appends come from a plain thread; waiters are coroutines on any number of event loops (a server has
one; a test client may make one per request). Each loop is woken once per append, however many of
its coroutines wait.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import threading
import time
from collections.abc import Sequence


class IndexedLog:
    """Entries ``(index, payload)`` with strictly increasing indexes, the newest ``capacity`` of them kept.

    ``head`` is the index the log is complete up to: every entry of the source with an index up to
    ``head`` and beyond ``base`` is in the log (or was superseded by a later entry of the same key,
    which the source decides). ``base`` is the index up to which entries were dropped.
    """

    def __init__(self, *, head: int = 0, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}.")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._indexes: list[int] = []
        self._payloads: list[bytes] = []
        self.base = head
        self.head = head
        # One future per event loop that has a waiter, resolved (and forgotten) on the next append.
        self._wakeups: dict[asyncio.AbstractEventLoop, asyncio.Future] = {}

    def append(self, entries: Sequence[tuple[int, bytes]], *, head: int) -> None:
        """Add ``entries`` (indexes beyond the current head, increasing) and move the head to ``head``.

        Raises ValueError for an entry at or below the head, or a head below the last entry.
        """
        with self._lock:
            last = self.head
            for index, _payload in entries:
                if index <= last:
                    raise ValueError(f"entry {index} does not follow {last}.")
                last = index
            if head < last:
                raise ValueError(f"head {head} is below the last entry {last}.")
            self._indexes.extend(index for index, _ in entries)
            self._payloads.extend(payload for _, payload in entries)
            excess = len(self._indexes) - self.capacity
            # Trimmed in batches, so a steady stream of appends does not copy the lists every time.
            if excess > self.capacity // 4:
                self.base = self._indexes[excess - 1]
                del self._indexes[:excess]
                del self._payloads[:excess]
            moved = head > self.head
            self.head = head
            wakeups, self._wakeups = (self._wakeups, {}) if moved else ({}, self._wakeups)
        for loop, future in wakeups.items():
            # A closed loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    def read(self, after: int, *, limit: int) -> list[tuple[int, bytes]] | None:
        """Up to ``limit`` entries beyond ``after``, oldest first; None when entries beyond it were dropped."""
        with self._lock:
            if after < self.base:
                return None
            start = bisect.bisect_right(self._indexes, after)
            stop = start + limit
            return list(zip(self._indexes[start:stop], self._payloads[start:stop], strict=True))

    async def wait_beyond(self, after: int, *, timeout: float) -> bool:
        """Wait until the head passes ``after`` or ``timeout`` seconds pass; whether it passed."""
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self.head > after:
                    return True
                future = self._wakeups.get(loop)
                if future is None or future.done():
                    future = self._wakeups[loop] = loop.create_future()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Woken by the shared future or the timeout, whichever comes first; the shared future is
            # left alone either way (thousands of streams wait on it). Lighter than asyncio.wait,
            # which a waiting stream would hold two more coroutines and a set for.
            waiter = loop.create_future()
            wake = functools.partial(_resolve, waiter)
            timer = loop.call_later(remaining, wake)
            future.add_done_callback(wake)
            try:
                await waiter
            finally:
                timer.cancel()
                future.remove_done_callback(wake)


def _resolve(future: asyncio.Future, *_: object) -> None:
    if not future.done():
        future.set_result(None)
