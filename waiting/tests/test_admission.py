"""``waiting.admission.ConcurrencyLimiter``: a cap per process and per client, counted exactly."""

import threading

import pytest

from waiting.admission import CLIENT, PROCESS, ConcurrencyLimiter, LimitReached


def test_a_client_over_its_share_is_refused_before_the_process_is_full() -> None:
    limiter = ConcurrencyLimiter(name="streams", total=10, per_client=2)
    limiter.acquire("a")
    limiter.acquire("a")
    with pytest.raises(LimitReached) as refused:
        limiter.acquire("a")
    assert (refused.value.scope, refused.value.limit, refused.value.name) == (CLIENT, 2, "streams")
    limiter.acquire("b")
    assert (limiter.open, limiter.held_by("a"), limiter.held_by("b")) == (3, 2, 1)


def test_a_full_process_refuses_every_client() -> None:
    limiter = ConcurrencyLimiter(name="streams", total=3, per_client=2)
    for client in ("a", "a", "b"):
        limiter.acquire(client)
    with pytest.raises(LimitReached) as refused:
        limiter.acquire("c")
    assert (refused.value.scope, refused.value.limit) == (PROCESS, 3)


def test_a_released_lease_makes_room_once_however_often_it_is_released() -> None:
    changes: list[int] = []
    limiter = ConcurrencyLimiter(name="streams", total=1, per_client=1, on_change=changes.append)
    lease = limiter.acquire("a")
    lease.release()
    lease.release()
    assert (limiter.open, limiter.held_by("a"), lease.released, changes) == (0, 0, True, [1, -1])
    limiter.acquire("b")
    with pytest.raises(LimitReached):
        limiter.acquire("a")


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        ConcurrencyLimiter(name="streams", total=-1, per_client=1)


def test_the_counts_stay_exact_when_threads_race_to_acquire_and_release() -> None:
    limiter = ConcurrencyLimiter(name="streams", total=50, per_client=20)
    admitted: list[int] = []
    lock = threading.Lock()

    def churn(client: str) -> None:
        count = 0
        for _ in range(2000):
            try:
                lease = limiter.acquire(client)
            except LimitReached:
                continue
            count += 1
            # Released twice from two places, as a stream's end and its finalizer may.
            lease.release()
            lease.release()
        with lock:
            admitted.append(count)

    threads = [threading.Thread(target=churn, args=(f"client-{n % 4}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(admitted) > 0
    assert (limiter.open, [limiter.held_by(f"client-{n}") for n in range(4)]) == (0, [0, 0, 0, 0])
