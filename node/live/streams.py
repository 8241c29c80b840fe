"""Node changes as Server-Sent Events, read once per server process and fanned out from memory.

Every stream of a process reads the process's log (``Live.log``, filled by ``node.live.pump``): a
stream costs no database connection and no thread, only its position in the log. A stream resuming
from a position older than the log still holds first catches up from the database, a page at a
time, then follows the log. Each event is encoded by ``node.live.encoding``.

A stream ends, after a last message saying why (its farewell), when the process begins to stop
(``serving.shutdown``) or when the periodic recheck of the credential it was opened with (one task per
event loop, all credentials at once) finds that it no longer holds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings

from node.live.encoding import encode_events
from node.live.process import process_live
from node.live.pump import READ_PAGE
from node.selectors import NodeEventPage, node_events
from serving import shutdown
from util.renderers import OrjsonRenderer
from waiting.admission import Lease
from waiting.fanout import IndexedLog, take_turn

logger = logging.getLogger(__name__)

# Events a stream takes from the log at a time, and the most bytes of whole events it sends at a time
# (an event longer than that goes alone): the server waits for a client that does not read before it
# takes the next part, so a slow stream holds one part of its own (and the server its copy), not a
# page. As large as the server's write buffer (``GUNICORN_WRITE_BUFFER``): a larger part would wait
# for the client while still held.
READ_EVENTS = 64
SEND_BYTES = 8 * 1024
# A stream ended because the process stops tells its client to reconnect after 1-3 s.
_RECONNECT_MILLISECONDS = 1000
HEARTBEAT = b": keep-alive\n\n"

_renderer = OrjsonRenderer()


def _catch_up_page(after: int) -> NodeEventPage:
    return node_events(after=after, limit=READ_PAGE)


def parts(entries: Iterable[tuple[int, bytes]], *, limit: int = SEND_BYTES) -> Iterator[tuple[int, bytes]]:
    """``entries`` (index, encoded event) joined into parts of at most ``limit`` bytes of whole events, each with
    the index of its last event; an event longer than ``limit`` is a part of its own."""
    part: list[bytes] = []
    size = 0
    last = 0
    for index, payload in entries:
        if part and size + len(payload) > limit:
            yield last, b"".join(part)
            part, size = [], 0
        part.append(payload)
        size += len(payload)
        last = index
    if part:
        yield last, b"".join(part)


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
        log = await process_live().log()
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
            entries = log.read(position, limit=READ_EVENTS)
            if entries is None:
                # Older than the log holds: one page from the database, on the thread of the sync views.
                page = await sync_to_async(_catch_up_page)(position)
                entries = encode_events(page.events)
                for _, part in parts(entries):
                    yield part
                # The page is complete up to its head (ids may skip, and the last change may have
                # been a write the history does not record); with nothing newer in the database
                # although the log dropped entries beyond this position, the log is complete from here.
                position = max(position, page.head if page.head > position else log.base)
                if entries:
                    heartbeat_due = loop.time() + heartbeat_seconds
                continue
            if entries:
                for last, part in parts(entries):
                    position = last
                    yield part
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
