"""The process-wide stopping flag: callbacks run once, late registrations run at once, failures are contained."""

from collections.abc import Iterator

import pytest

from serving import shutdown


@pytest.fixture(autouse=True)
def fresh_flag() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()


def test_begin_raises_the_flag_and_runs_each_callback_once() -> None:
    calls: list[str] = []
    shutdown.on_stop(lambda: calls.append("a"))
    shutdown.on_stop(lambda: calls.append("b"))
    assert not shutdown.is_stopping()
    shutdown.begin()
    shutdown.begin()
    assert shutdown.is_stopping()
    assert calls == ["a", "b"]


def test_a_callback_registered_after_begin_runs_at_once() -> None:
    calls: list[str] = []
    shutdown.begin()
    shutdown.on_stop(lambda: calls.append("late"))
    assert calls == ["late"]


def test_a_failing_callback_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def fail() -> None:
        raise RuntimeError("broken")

    shutdown.on_stop(fail)
    shutdown.on_stop(lambda: calls.append("after"))
    shutdown.begin()
    assert calls == ["after"]
    assert "a shutdown callback failed" in caplog.text
