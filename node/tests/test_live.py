"""``node.live``: the process's ``Live`` (its start, stop and reset) and the follow loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from node import live
from node.live import follow, process_live
from node.selectors import current_change_index
from node.services import node_create, node_update


@pytest.fixture
def fresh_live(transactional_db: None) -> Iterator[None]:
    """No clock watch, pump or caps left from another test, and none left behind."""
    live.reset()
    yield
    live.reset()


def test_start_is_idempotent_and_a_start_after_stop_runs_a_new_pump(fresh_live: None) -> None:
    node_create(hostname="started.test")
    process = process_live()
    log = process.start()
    assert process.start() is log
    assert log.head == current_change_index()
    process.stop()
    process.stop()
    assert process.start() is not log


def test_reset_replaces_the_process_object_and_its_caps_count_from_nothing(fresh_live: None) -> None:
    before = process_live()
    lease = before.caps.streams().acquire(("address", "127.0.0.1"))
    assert before.caps.streams().open == 1
    live.reset()
    assert process_live() is not before
    assert process_live().caps.streams().open == 0
    lease.release()


def test_follow_from_now_skips_earlier_changes_and_yields_one_that_commits_while_it_waits(fresh_live: None) -> None:
    node = node_create(hostname="followed.test")
    timer = threading.Timer(0.3, lambda: node_update(node=node, changes={"is_active": False}))
    timer.start()
    try:
        pages = list(follow(until=time.monotonic() + 1.5))
    finally:
        timer.join()
    events = [event for page in pages for event in page.events]
    assert [event.index for event in events] == [current_change_index()], events
    assert events[0].record.changes == {"is_active": {"old": True, "new": False}}


def test_follow_reads_a_backlog_a_page_at_a_time_and_ends_once_caught_up_past_its_deadline(fresh_live: None) -> None:
    start = current_change_index()
    for number in range(5):
        node_create(hostname=f"backlog-{number}.test")
    pages = list(follow(start, until=time.monotonic(), page_size=2))
    assert [len(page.events) for page in pages] == [2, 2, 1]
    assert [page.more for page in pages] == [True, True, False]
    assert pages[-1].head == current_change_index()
