"""``util.fanout.IndexedLog``: entries in index order, a bounded memory, and waiters woken from another thread."""

import asyncio
import threading

import pytest

from util.fanout import IndexedLog


def test_reads_are_the_entries_after_a_position_oldest_first() -> None:
    log = IndexedLog(head=10)
    log.append([(11, b"a"), (13, b"b"), (14, b"c")], head=15)
    assert (log.read(10, limit=2), log.read(13, limit=5), log.read(15, limit=5)) == (
        [(11, b"a"), (13, b"b")],
        [(14, b"c")],
        [],
    )
    assert log.head == 15


def test_an_entry_that_does_not_follow_the_head_is_refused() -> None:
    log = IndexedLog(head=5)
    with pytest.raises(ValueError, match="does not follow"):
        log.append([(5, b"x")], head=6)
    with pytest.raises(ValueError, match="below the last entry"):
        log.append([(7, b"x")], head=6)


def test_a_position_older_than_the_kept_entries_must_catch_up_elsewhere() -> None:
    log = IndexedLog(capacity=4)
    for index in range(1, 11):
        log.append([(index, b"%d" % index)], head=index)
    assert log.read(0, limit=10) is None
    assert log.read(log.base, limit=10) == [(index, b"%d" % index) for index in range(log.base + 1, 11)]
    assert len(log.read(log.base, limit=100)) <= 4 + 4 // 4


def test_waiters_wake_when_another_thread_moves_the_head_and_time_out_otherwise() -> None:
    log = IndexedLog()

    async def wait() -> tuple[bool, bool, list[bool]]:
        timed_out = await log.wait_beyond(0, timeout=0.05)
        waiters = [asyncio.create_task(log.wait_beyond(0, timeout=5)) for _ in range(50)]
        await asyncio.sleep(0.01)
        threading.Timer(0.05, log.append, args=([(1, b"x")],), kwargs={"head": 1}).start()
        woken = await asyncio.wait_for(asyncio.gather(*waiters), timeout=2)
        return timed_out, await log.wait_beyond(0, timeout=5), woken

    timed_out, already, woken = asyncio.run(wait())
    assert (timed_out, already, woken) == (False, True, [True] * 50)


def test_a_waiter_that_times_out_or_is_cancelled_leaves_the_others_waiting_and_nothing_behind() -> None:
    log = IndexedLog()

    async def wait() -> tuple[bool, int]:
        staying = asyncio.create_task(log.wait_beyond(0, timeout=5))
        cancelled = asyncio.create_task(log.wait_beyond(0, timeout=5))
        await asyncio.sleep(0.01)
        for _ in range(20):
            assert not await log.wait_beyond(0, timeout=0.001)
        cancelled.cancel()
        await asyncio.sleep(0.01)
        shared = log._wakeups[asyncio.get_running_loop()]
        # One callback left on the shared future: the waiter still waiting.
        callbacks = len(shared._callbacks)
        log.append([(1, b"x")], head=1)
        return await asyncio.wait_for(staying, timeout=2), callbacks

    assert asyncio.run(wait()) == (True, 1)
