"""``waiting.fanout``: the ``IndexedLog`` (entries in index order, a bounded memory, waiters woken from another
thread), and ``take_turn``."""

import asyncio
import collections
import threading

import pytest

from waiting.fanout import TURN_SIZE, IndexedLog, take_turn


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


def _timers_of(log: IndexedLog, loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    """The timers still scheduled on ``loop`` for waiters of ``log``."""
    return [
        handle
        for handle in loop._scheduled
        if not handle.cancelled() and getattr(handle._callback, "__self__", None) in log._loops.values()
    ]


def test_a_waiter_that_times_out_or_is_cancelled_leaves_the_others_waiting_and_nothing_behind() -> None:
    log = IndexedLog()

    async def wait() -> tuple[bool, int, int, int]:
        loop = asyncio.get_running_loop()
        staying = asyncio.create_task(log.wait_beyond(0, timeout=5))
        cancelled = asyncio.create_task(log.wait_beyond(0, timeout=5))
        await asyncio.sleep(0.01)
        for _ in range(20):
            assert not await log.wait_beyond(0, timeout=0.001)
        cancelled.cancel()
        await asyncio.sleep(0.01)
        waiting = sum(not future.done() for _, _, future in log._loops[loop].heap)
        log.append([(1, b"x")], head=1)
        woken = await asyncio.wait_for(staying, timeout=2)
        return woken, waiting, len(log._loops), len(_timers_of(log, loop)) + len(log._loops)

    # The one left waiting is woken; then the loop has no entry and no timer of the log.
    assert asyncio.run(wait()) == (True, 1, 0, 0)


# Longest first, 0.4 s apart.
DEADLINES = (1.6, 1.2, 0.8, 0.4)


def test_the_waiters_of_a_loop_share_one_timer_and_each_times_out_at_its_own_deadline() -> None:
    log = IndexedLog()

    async def wait() -> tuple[int, list[tuple[float, bool]], float]:
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def timed(timeout: float) -> tuple[float, bool]:
            passed = await log.wait_beyond(0, timeout=timeout)
            return loop.time() - started, passed

        # The longest first: each shorter deadline after it moves the one timer earlier.
        tasks = [asyncio.create_task(timed(timeout)) for timeout in DEADLINES for _ in range(250)]
        await asyncio.sleep(0.01)
        timers = len(_timers_of(log, loop))
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        return timers, results, loop.time() - started

    timers, results, _ = asyncio.run(wait())
    assert timers == 1
    for n, (elapsed, passed) in enumerate(results):
        deadline = DEADLINES[n // 250]
        # Not before its deadline, and before the next longer one: the deadlines lie far enough apart
        # that a loop held up for a while by a busy machine still tells them apart.
        assert not passed
        assert deadline <= elapsed + 0.002 < deadline + 0.35, (deadline, elapsed)


def test_an_interrupt_wakes_every_waiter_early_without_the_head_moving() -> None:
    log = IndexedLog()

    async def wait() -> tuple[list[bool], float, bool]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiters = [asyncio.create_task(log.wait_beyond(0, timeout=5)) for _ in range(20)]
        await asyncio.sleep(0.01)
        # From another thread, as the shutdown's callback or a recheck may call it.
        threading.Timer(0.05, log.interrupt).start()
        woken = await asyncio.wait_for(asyncio.gather(*waiters), timeout=2)
        elapsed = loop.time() - started
        # A wait begun after the interruption is not cut short by it.
        later = await log.wait_beyond(0, timeout=0.05)
        return woken, elapsed, later

    woken, elapsed, later = asyncio.run(wait())
    assert woken == [False] * 20
    assert elapsed < 1, elapsed
    assert later is False


def test_take_turn_lets_a_slice_of_the_coroutines_through_per_turn_of_the_loop_in_order() -> None:
    async def run() -> list[tuple[int, int]]:
        loop = asyncio.get_running_loop()
        turn = 0
        ticking = True

        def tick() -> None:
            nonlocal turn
            turn += 1
            if ticking:
                loop.call_soon(tick)

        loop.call_soon(tick)
        passed: list[tuple[int, int]] = []

        async def one(number: int) -> None:
            await take_turn()
            passed.append((number, turn))

        count = TURN_SIZE * 3 + 5
        await asyncio.gather(*(one(number) for number in range(count)))
        ticking = False
        return passed

    passed = asyncio.run(run())
    assert [number for number, _ in passed] == list(range(TURN_SIZE * 3 + 5))
    per_turn = collections.Counter(turn for _, turn in passed)
    assert len(per_turn) >= 4, per_turn
    assert max(per_turn.values()) <= TURN_SIZE, per_turn


def test_a_coroutine_cancelled_while_waiting_for_its_turn_lets_the_others_through() -> None:
    async def run() -> list[int]:
        passed: list[int] = []

        async def one(number: int) -> None:
            await take_turn()
            passed.append(number)

        tasks = [asyncio.create_task(one(number)) for number in range(TURN_SIZE * 2)]
        await asyncio.sleep(0)
        tasks[TURN_SIZE + 1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return passed

    passed = asyncio.run(run())
    assert passed == [number for number in range(TURN_SIZE * 2) if number != TURN_SIZE + 1]
