"""The change feed's long-polls: waiting for a change on the process's log, and one read shared by the
long-polls that one change wakes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import NamedTuple, TypeVar

from asgiref.sync import sync_to_async

from node.live.process import process_live
from serving import shutdown

T = TypeVar("T")


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
        log = await process_live().log()
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
    log = await process_live().log()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not shutdown.is_stopping():
        if await log.wait_beyond(after, timeout=max(0.0, deadline - loop.time())):
            return log.head
        if loop.time() >= deadline:
            break
    return log.head if log.head > after else None
