"""An in-memory log of indexed messages that one writer thread fills and any number of coroutines follow.

A process keeps one ``IndexedLog``: a single reader of the database appends what changed, in index
order, and every connected client reads it from memory, so a thousand idle clients cost a thousand
small objects rather than a thousand database sessions. The log keeps the newest ``capacity``
entries; a reader whose position is older than what the log still holds is told so (``read`` returns
None) and must catch up from the source itself.

Appends come from a plain thread; waiters are coroutines on any number of event loops (a server has
one; a test client may make one per request). Each loop is woken once per append, however many of
its coroutines wait, and keeps one timer for all of their deadlines: a waiting coroutine costs its
own future and one heap entry, and nothing of it stays behind once it is woken (a timer per wait
would stay in the loop's schedule, cancelled, until the loop sweeps it, and a process holding
thousands of waits would spend its time creating and collecting them).

What the woken coroutines then do goes a slice per turn of the loop (``take_turn``), so that the
loop's other work is served in between.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import heapq
import itertools
import threading
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
        # How many times ``interrupt`` was called: a waiter woken while it changed returns.
        self._interruptions = 0
        # The waiters of each event loop that has some; an entry goes once its waiters are all woken.
        self._loops: dict[asyncio.AbstractEventLoop, _LoopWaiters] = {}

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
            waking = [waiters for waiters in self._loops.values() if moved and waiters.armed]
            for waiters in waking:
                waiters.armed = False
        self._wake(waking)

    def _wake(self, waking: list[_LoopWaiters]) -> None:
        """Have each loop of ``waking`` wake all its waiters (not under the lock)."""
        for waiters in waking:
            try:
                waiters.loop.call_soon_threadsafe(waiters.wake_all)
            except RuntimeError:
                # A closed loop: nobody waits there any more.
                with self._lock:
                    self._forget(waiters)

    def read(self, after: int, *, limit: int) -> list[tuple[int, bytes]] | None:
        """Up to ``limit`` entries beyond ``after``, oldest first; None when entries beyond it were dropped."""
        with self._lock:
            if after < self.base:
                return None
            start = bisect.bisect_right(self._indexes, after)
            stop = start + limit
            return list(zip(self._indexes[start:stop], self._payloads[start:stop], strict=True))

    async def wait_beyond(self, after: int, *, timeout: float) -> bool:
        """Wait until the head passes ``after``, ``timeout`` seconds pass, or ``interrupt()`` is called;
        whether the head passed.

        An interrupted waiter returns early (False unless the head passed meanwhile): it checks
        whatever made its owner interrupt the log, and waits again if that was not about it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                if self.head > after:
                    return True
                if timeout <= 0:
                    return False
                interruptions = self._interruptions
                waiters = self._loops.get(loop)
                if waiters is None:
                    waiters = self._loops[loop] = _LoopWaiters(self, loop)
                future = waiters.add(deadline)
            # True: an append or an interruption woke every waiter of the loop (the head is checked
            # again); False: the deadline passed. A cancelled wait cancels only its own future.
            woken = await future
            with self._lock:
                if not woken or self._interruptions != interruptions:
                    return self.head > after

    def interrupt(self) -> None:
        """Wake every waiter of every loop at once (from any thread): ``wait_beyond`` returns early.

        For what ends waits other than a change: the process stopping, a stream told to end.
        """
        with self._lock:
            self._interruptions += 1
            waking = list(self._loops.values())
            for waiters in waking:
                waiters.armed = False
        self._wake(waking)

    def _forget(self, waiters: _LoopWaiters) -> None:
        """Drop the entry of ``waiters``' loop if it is still theirs (under the lock)."""
        if self._loops.get(waiters.loop) is waiters:
            del self._loops[waiters.loop]


class _LoopWaiters:
    """The waiting coroutines of one event loop: a future each, in a heap by deadline, and one timer for the
    earliest deadline. Used on the loop's thread, except ``armed``, which the log's lock guards."""

    __slots__ = ("_order", "armed", "heap", "log", "loop", "timer")

    def __init__(self, log: IndexedLog, loop: asyncio.AbstractEventLoop) -> None:
        self.log = log
        self.loop = loop
        self.heap: list[tuple[float, int, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None
        # Whether a waiter was added since the last append woke the loop.
        self.armed = False
        # Ties between equal deadlines are broken by arrival, never by comparing futures.
        self._order = itertools.count()

    def add(self, deadline: float) -> asyncio.Future:
        """A future resolved True by the next append, or False at ``deadline`` (loop time)."""
        future = self.loop.create_future()
        heapq.heappush(self.heap, (deadline, next(self._order), future))
        self.armed = True
        if self.timer is None or deadline < self.timer.when():
            self._schedule(deadline)
        return future

    def wake_all(self) -> None:
        """Resolve every waiting future True (an append moved the head); the loop's entry goes."""
        with self.log._lock:
            heap, self.heap = self.heap, []
            self.log._forget(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for _, _, future in heap:
            if not future.done():
                future.set_result(True)

    def _schedule(self, deadline: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_at(deadline, self._expire, deadline)

    def _expire(self, when: float) -> None:
        """Resolve False the futures whose deadline has come, and set the timer for the next one.

        ``when`` is the deadline the timer was set for: a loop may run a timer a little early (by its
        clock's resolution), and the deadlines up to it count as come.
        """
        self.timer = None
        now = max(when, self.loop.time())
        expired = []
        with self.log._lock:
            while self.heap and self.heap[0][0] <= now:
                expired.append(heapq.heappop(self.heap)[2])
            if self.heap:
                self._schedule(self.heap[0][0])
            else:
                self.log._forget(self)
        for future in expired:
            if not future.done():
                future.set_result(False)


# How many coroutines of one event loop ``take_turn`` lets through per turn of the loop.
TURN_SIZE = 64


class _Turns:
    """The coroutines of one event loop waiting for their turn (``take_turn``)."""

    __slots__ = ("loop", "passed", "queue", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.passed = 0
        self.queue: collections.deque[asyncio.Future] = collections.deque()
        self.scheduled = False

    def schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.next_turn)

    def next_turn(self) -> None:
        """A new turn of the loop: let the next ``TURN_SIZE`` waiting coroutines through."""
        self.scheduled = False
        self.passed = 0
        while self.queue and self.passed < TURN_SIZE:
            future = self.queue.popleft()
            if not future.done():
                future.set_result(None)
                self.passed += 1
        if self.queue or self.passed:
            self.schedule()
        else:
            _turns.pop(self.loop, None)


_turns: dict[asyncio.AbstractEventLoop, _Turns] = {}


async def take_turn() -> None:
    """Return at once, or in a later turn of the running event loop once ``TURN_SIZE`` coroutines went on in this one.

    For the work of the thousands of coroutines one change wakes at once (the answers of long-polls,
    the parts of event streams): done in slices, one per turn of the loop, with the loop's I/O in
    between, rather than in one turn during which nothing else is served (a health probe included).
    Coroutines go on in the order they asked.
    """
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = _Turns(loop)
    if not turns.queue and turns.passed < TURN_SIZE:
        turns.passed += 1
        turns.schedule()
        return
    future = loop.create_future()
    turns.queue.append(future)
    turns.schedule()
    await future
