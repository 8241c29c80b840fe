"""Node changes as Server-Sent Events, read once per server process and fanned out from memory.

Each process has one pump thread: it waits for the registry clock to advance (``node.feed``: the
listening connection on PostgreSQL, a poll of the clock on SQLite), reads the changes committed
since the last read (``node.selectors.node_events``: a page of history records and the nodes they
changed, in two statements) on its own database connection, encodes each as one event and appends
it to a ``live.fanout.IndexedLog``. Every stream of the process reads that log: a stream costs no
database connection and no thread, only its position in the log. A stream resuming from a position
older than the log still holds first catches up from the database, a page at a time, then follows
the log.

An event is ``id: <change index>``, ``event: node`` and ``data: <the node's JSON>`` (the bytes of a
list entry, the node as it was right after that change). Every committed change is one event, in
index order: a node changed several times between two reads appears once per change, each with its
own id (unlike ``GET /v6/nodes/changes/``, which shows each node once, in its latest state). Ids
are not consecutive: indexes are shared by all nodes, and a write that changed no value (it only
moved ``last_modified``) is delivered only while it is the node's latest change, as it leaves no
history record. ``event_data`` is the one place that turns a change into an event's JSON.

What bounds a process's streams and waiting long-polls lives here too: their caps
(``stream_limiter``, ``waiting_limiter``), the end of every wait when the process begins to stop
(``serving.shutdown``), the periodic recheck of the credentials the open streams were opened with (one
task per event loop, all credentials at once), and the read shared by the long-polls one change
wakes (``shared_read``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from live.admission import ConcurrencyLimiter, Lease
from live.fanout import IndexedLog, take_turn
from node.feed import change_waiter
from node.selectors import NodeEvent, NodeEventPage, current_change_index, node_events
from node.serializers import node_rows_data
from observability.metrics import EVENT_STREAMS_OPEN, LONG_POLLS_WAITING
from serving import shutdown
from util.renderers import OrjsonRenderer

logger = logging.getLogger(__name__)
T = TypeVar("T")

EVENT_NAME = "node"
# Rows read per query, by the pump and by a stream catching up.
READ_PAGE = 500
# Events sent to a stream at a time (some 16 KB): the server waits for a client that does not read
# before it takes the next part, so a slow stream holds one part of its own, not a page.
SEND_EVENTS = 64
# The pump reads the clock at least this often even without a notification (a NOTIFY lost while
# the listener reconnected is then late by this much, never missed).
_SAFETY_READ_SECONDS = 5.0
_RETRY_SECONDS = 1.0
# A stream ended because the process stops tells its client to reconnect after 1-3 s.
_RECONNECT_MILLISECONDS = 1000
HEARTBEAT = b": keep-alive\n\n"

_renderer = OrjsonRenderer()


def event_data(event: NodeEvent, node: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of ``event``'s ``data:``, given ``node``, its node's fields as a list entry shows them.

    The node as it was right after the change; what an event says beyond the node (its record's
    action, say) is added here, from ``event.record``: a liveness transition adds the node's new ``state``.
    """
    return with_liveness_state(node, event.record.changes if event.record is not None else None)


def encode_events(events: Sequence[NodeEvent]) -> list[tuple[int, bytes]]:
    """The Server-Sent Events of ``events``, as ``(change index, bytes)``."""
    nodes = node_rows_data(event.node for event in events)
    return [
        (
            event.index,
            b"id: %d\nevent: %s\ndata: %s\n\n"
            % (event.index, EVENT_NAME.encode(), _renderer.render(event_data(event, node))),
        )
        for event, node in zip(events, nodes, strict=True)
    ]


def with_liveness_state(node: dict, changes: Mapping | None) -> dict:
    """The data of a change's event: the node, plus ``state`` (online, offline) when the change's recorded
    ``changes`` are a liveness transition (``{"state": {"old", "new"}}``)."""
    state = (changes or {}).get("state")
    return node if not isinstance(state, Mapping) else {**node, "state": state["new"]}


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
            page = node_events(after=log.head, limit=READ_PAGE)
            if page.head > log.head:
                log.append(encode_events(page.events), head=page.head)
            if not page.more:
                return


_pump: NodeEventPump | None = None
_pump_lock = threading.Lock()


def node_event_log() -> IndexedLog:
    """This process's log of node events, its reader started on first use (blocks briefly then).

    The first use also has the process's stopping (``serving.shutdown``) interrupt every wait on the log.
    """
    global _pump
    with _pump_lock:
        if _pump is None:
            _pump = NodeEventPump(capacity=settings.EVENTS_BUFFER)
            shutdown.on_stop(_pump.interrupt)
        pump = _pump
    return pump.start()


async def node_event_log_async() -> IndexedLog:
    """``node_event_log`` from the event loop: at once once the reader runs, else started on a thread."""
    pump = _pump
    if pump is not None and pump.log is not None:
        return pump.log
    return await sync_to_async(node_event_log, thread_sensitive=False)()


def reset() -> None:
    """Stop this process's reader, if any (tests, and database switches); the next use starts a new one.

    The caps start again from the settings, with nothing counted.
    """
    global _pump, _stream_limiter, _waiting_limiter
    with _pump_lock:
        pump, _pump = _pump, None
        _stream_limiter = _waiting_limiter = None
    if pump is not None:
        pump.stop()


# The caps of this process, made on first use; their limits follow the settings.
_stream_limiter: ConcurrencyLimiter | None = None
_waiting_limiter: ConcurrencyLimiter | None = None


def stream_limiter() -> ConcurrencyLimiter:
    """The cap on this process's open event streams (``EVENTS_MAX_STREAMS``, ``WATCH_MAX_PER_CLIENT``)."""
    global _stream_limiter
    with _pump_lock:
        if _stream_limiter is None:
            _stream_limiter = ConcurrencyLimiter(
                name="event streams", total=0, per_client=0, on_change=lambda change: EVENT_STREAMS_OPEN.inc(change)
            )
        _stream_limiter.set_limits(total=settings.EVENTS_MAX_STREAMS, per_client=settings.WATCH_MAX_PER_CLIENT)
        return _stream_limiter


def waiting_limiter() -> ConcurrencyLimiter:
    """The cap on this process's waiting long-polls (``CHANGES_MAX_WAITING``, ``WATCH_MAX_PER_CLIENT``)."""
    global _waiting_limiter
    with _pump_lock:
        if _waiting_limiter is None:
            _waiting_limiter = ConcurrencyLimiter(
                name="waiting long-polls",
                total=0,
                per_client=0,
                on_change=lambda change: LONG_POLLS_WAITING.inc(change),
            )
        _waiting_limiter.set_limits(total=settings.CHANGES_MAX_WAITING, per_client=settings.WATCH_MAX_PER_CLIENT)
        return _waiting_limiter


class _SharedRead(NamedTuple):
    head: int
    task: asyncio.Task


# The reads in progress for waiting long-polls, by event loop and what they read.
_shared_reads: dict[tuple[asyncio.AbstractEventLoop, Hashable], _SharedRead] = {}


async def shared_read(key: Hashable, *, seen: int, read: Callable[[], T]) -> T:
    """``read()`` on the thread of the sync views, shared by the waiters woken by the same change: one read
    per ``key`` (what ``read`` depends on) serves every waiter that saw the log's head at ``seen`` or earlier.

    A read that started while the log's head was at least ``seen`` sees every change up to it (the
    log moves only after the change committed): each waiter gets what it would have read itself.
    """
    loop = asyncio.get_running_loop()
    slot = (loop, key)
    shared = _shared_reads.get(slot)
    if shared is None or shared.head < seen:
        log = await node_event_log_async()
        shared = _shared_reads.get(slot)
        if shared is None or shared.head < seen:
            shared = _shared_reads[slot] = _SharedRead(log.head, loop.create_task(sync_to_async(read)()))

            def forget(_: asyncio.Task, shared: _SharedRead = shared) -> None:
                if _shared_reads.get(slot) is shared:
                    del _shared_reads[slot]

            shared.task.add_done_callback(forget)
    # One waiter going away (its client disconnected) does not cancel the others' read.
    return await asyncio.shield(shared.task)


async def wait_for_change(after: int, *, timeout: float) -> int | None:
    """Wait until a change after index ``after`` has committed, ``timeout`` seconds pass, or the process
    begins to stop; the log's head once one did (None otherwise).

    Holds no database connection and no thread while waiting.
    """
    log = await node_event_log_async()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not shutdown.is_stopping():
        if await log.wait_beyond(after, timeout=max(0.0, deadline - loop.time())):
            return log.head
        if loop.time() >= deadline:
            break
    return log.head if log.head > after else None


def _catch_up_page(after: int) -> NodeEventPage:
    return node_events(after=after, limit=READ_PAGE)


def _farewell_stopping() -> bytes:
    # Clients reconnect spread over a few seconds, to the processes still accepting.
    retry = random.randint(_RECONNECT_MILLISECONDS, 3 * _RECONNECT_MILLISECONDS)  # noqa: S311 (not a secret)
    return b"retry: %d\n: this server process is stopping; reconnect with Last-Event-ID\n\n" % retry


def farewell_error(*, status: int, detail: str) -> bytes:
    """The final event of a stream ended for a reason the client must act on: ``event: error`` with a JSON
    ``data:`` (``detail``, and the HTTP ``status`` a new request would get)."""
    return b"event: error\ndata: %s\n\n" % _renderer.render({"detail": detail, "status": status})


class _OpenStream:
    """One open stream, as the process's watchers of streams see it (shutdown, credential rechecks)."""

    __slots__ = ("credential", "farewell", "log", "loop", "recheck")

    def __init__(self, *, credential: Hashable | None, recheck: Recheck | None) -> None:
        self.credential = credential
        self.recheck = recheck
        # The last bytes to send, once the stream must end.
        self.farewell: bytes | None = None
        self.log: IndexedLog | None = None
        self.loop: asyncio.AbstractEventLoop | None = None


# ``recheck(credentials)``: those of ``credentials`` that no longer hold, with the final event to end
# their streams by. Run on the thread of the sync views.
Recheck = Callable[[set], dict[Hashable, bytes]]

_open_streams: set[_OpenStream] = set()
_rechecking: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
_streams_lock = threading.Lock()


def _register(stream: _OpenStream) -> None:
    with _streams_lock:
        _open_streams.add(stream)
        if stream.credential is None or stream.recheck is None or stream.loop in _rechecking:
            return
        # One task per event loop rechecks the credentials of all its streams.
        _rechecking[stream.loop] = stream.loop.create_task(_recheck_streams(stream.loop))


def _unregister(stream: _OpenStream) -> None:
    with _streams_lock:
        _open_streams.discard(stream)


async def _recheck_streams(loop: asyncio.AbstractEventLoop) -> None:
    """Every ``EVENTS_RECHECK_SECONDS``, recheck the distinct credentials of the loop's open streams at once,
    and end the streams whose credentials no longer hold; ends when the loop has no such stream."""
    try:
        while True:
            await asyncio.sleep(settings.EVENTS_RECHECK_SECONDS)
            with _streams_lock:
                streams = [s for s in _open_streams if s.loop is loop and s.credential is not None and s.recheck]
                if not streams:
                    del _rechecking[loop]
                    return
            by_check: dict[Recheck, set] = {}
            for stream in streams:
                by_check.setdefault(stream.recheck, set()).add(stream.credential)
            refused: dict[Hashable, bytes] = {}
            for recheck, credentials in by_check.items():
                try:
                    refused.update(await sync_to_async(recheck)(credentials))
                except Exception as exc:
                    # The database is away: the streams go on, and are checked again next time.
                    logger.warning("rechecking the credentials of event streams failed: %s", exc)
            ended = [stream for stream in streams if stream.credential in refused and stream.farewell is None]
            for stream in ended:
                stream.farewell = refused[stream.credential]
            for log in {stream.log for stream in ended}:
                log.interrupt()
    except BaseException:
        with _streams_lock:
            if _rechecking.get(loop) is asyncio.current_task():
                del _rechecking[loop]
        raise


async def node_event_stream(
    *,
    after: int,
    heartbeat_seconds: float,
    lease: Lease,
    credential: Hashable | None = None,
    recheck: Recheck | None = None,
) -> AsyncIterator[bytes]:
    """The events of every node change after index ``after``, in index order, then live.

    Yields a comment line (``HEARTBEAT``) when ``heartbeat_seconds`` pass without an event, so that
    proxies keep the connection open. Ends, after a last message saying why, when the process begins
    to stop (a ``retry:`` hint: the client reconnects elsewhere) or when ``recheck`` finds that the
    stream's ``credential`` no longer holds (its ``event: error``). ``lease`` (the stream's place
    under the caps) is released however the stream ends.
    """
    stream = _OpenStream(credential=credential, recheck=recheck)
    try:
        log = await node_event_log_async()
        loop = asyncio.get_running_loop()
        stream.log, stream.loop = log, loop
        _register(stream)
        position = after
        # The first bytes go out at once: the client knows the stream is open.
        yield HEARTBEAT
        heartbeat_due = loop.time() + heartbeat_seconds
        # One generator for the whole stream: each open stream holds its frame for as long as it lasts.
        while True:
            # Thousands of streams woken by one change send their parts a slice at a time.
            await take_turn()
            if stream.farewell is None and shutdown.is_stopping():
                stream.farewell = _farewell_stopping()
            if stream.farewell is not None:
                yield stream.farewell
                return
            entries = log.read(position, limit=SEND_EVENTS)
            if entries is None:
                # Older than the log holds: one page from the database, on the thread of the sync views.
                page = await sync_to_async(_catch_up_page)(position)
                entries = encode_events(page.events)
                for start in range(0, len(entries), SEND_EVENTS):
                    yield b"".join(payload for _, payload in entries[start : start + SEND_EVENTS])
                # The page is complete up to its head (ids may skip, and the last change may have
                # been a write the history does not record); with nothing newer in the database
                # although the log dropped entries beyond this position, the log is complete from here.
                position = max(position, page.head if page.head > position else log.base)
                if entries:
                    heartbeat_due = loop.time() + heartbeat_seconds
                continue
            if entries:
                for start in range(0, len(entries), SEND_EVENTS):
                    part = entries[start : start + SEND_EVENTS]
                    position = part[-1][0]
                    yield b"".join(payload for _, payload in part)
                heartbeat_due = loop.time() + heartbeat_seconds
                continue
            # An interrupted wait (another stream told to end) goes round again, its heartbeat still due.
            changed = await log.wait_beyond(position, timeout=max(0.0, heartbeat_due - loop.time()))
            if not changed and loop.time() >= heartbeat_due:
                yield HEARTBEAT
                heartbeat_due = loop.time() + heartbeat_seconds
    finally:
        _unregister(stream)
        lease.release()
