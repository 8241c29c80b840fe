"""Writers racing in threads through the services: the row lock, If-Match on the locked row, registrations, counts.

On PostgreSQL the row lock (``select_for_update``) serialises writers; on SQLite the IMMEDIATE
transactions and the busy timeout do.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import connection

from node import services
from node.models import Node
from node.services import RegistrationResult, node_register, node_update, updates
from node.tests.helpers import assert_counts_are_exact, create_node, needs_kept_counts
from node.versions import node_version

TIMEOUT_SECONDS = 30


@contextmanager
def first_writer_paused() -> Iterator[tuple[threading.Event, threading.Event]]:
    """Stop the writer thread named "first" inside ``node_update``, between reading its row and writing it.

    Yields ``(first_has_read, release_first)``: the first is set once that writer holds the row,
    setting the second lets it go on. Other threads pass straight through.
    """
    first_has_read, release_first = threading.Event(), threading.Event()
    real_apply = updates.apply_changes

    def apply_slowly(*args: object, **kwargs: object) -> dict:
        if threading.current_thread().name == "first":
            first_has_read.set()
            release_first.wait(timeout=TIMEOUT_SECONDS)
        return real_apply(*args, **kwargs)

    with mock.patch.object(updates, "apply_changes", apply_slowly):
        yield first_has_read, release_first


def in_thread(work: Callable[[], None]) -> Callable[[], None]:
    """``work`` for a writer thread, which closes its own database connection when done."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    return run


@pytest.mark.django_db(transaction=True)
def test_a_second_writer_waits_for_the_first_so_no_update_is_lost() -> None:
    node = create_node(hostname="locked.test")
    second_done = threading.Event()

    def write(changes: dict, done: threading.Event | None = None) -> None:
        services.node_update(node=node, changes=changes)
        if done is not None:
            done.set()

    with first_writer_paused() as (first_has_read, release_first):
        first = threading.Thread(
            target=in_thread(lambda: write({"is_paused": True, "pause_reason": "first"})), name="first"
        )
        first.start()
        assert first_has_read.wait(timeout=TIMEOUT_SECONDS)
        second = threading.Thread(target=in_thread(lambda: write({"is_active": False}, second_done)), name="second")
        second.start()
        blocked = not second_done.wait(timeout=0.5)
        release_first.set()
        first.join(timeout=TIMEOUT_SECONDS)
        second.join(timeout=TIMEOUT_SECONDS)
    assert blocked, "the second writer did not wait for the first one's lock"
    node.refresh_from_db()
    assert (node.is_paused, node.pause_reason, node.is_active) == (True, "first", False)


@pytest.mark.django_db(transaction=True)
def test_the_if_match_precondition_is_checked_on_the_locked_row_so_one_of_two_racing_writers_wins() -> None:
    node = create_node(hostname="precondition.test")
    etag = node_version(node)
    outcomes: dict[str, str] = {}

    def write(changes: dict) -> None:
        try:
            services.node_update(node=node, changes=changes, expected_versions=[etag])
            outcomes[threading.current_thread().name] = "applied"
        except services.NodeChanged:
            outcomes[threading.current_thread().name] = "refused"

    with first_writer_paused() as (first_has_read, release_first):
        first = threading.Thread(
            target=in_thread(lambda: write({"is_paused": True, "pause_reason": "first"})), name="first"
        )
        first.start()
        assert first_has_read.wait(timeout=TIMEOUT_SECONDS)
        # Both writers hold the same tag; the second one read it before the first one wrote.
        second = threading.Thread(target=in_thread(lambda: write({"is_active": False})), name="second")
        second.start()
        second.join(timeout=0.5)
        release_first.set()
        first.join(timeout=TIMEOUT_SECONDS)
        second.join(timeout=TIMEOUT_SECONDS)
    assert outcomes == {"first": "applied", "second": "refused"}
    node.refresh_from_db()
    assert (node.pause_reason, node.is_active) == ("first", True)


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_the_same_hostnames_insert_each_once() -> None:
    names = [f"race-{number}.test" for number in range(600)]
    results: list[RegistrationResult] = []
    errors: list[BaseException] = []

    def register(order: list[str]) -> None:
        try:
            results.append(node_register(hostnames=order, batch_size=50))
        except BaseException as exc:  # handed to the test thread, which asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(order,)) for order in (names, names[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    created = [hostname for result in results for hostname in result.created]
    assert sorted(created) == sorted(names)
    assert Node.objects.count() == len(names)


@needs_kept_counts
@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_activity_changes() -> None:
    node_register(hostnames=[f"race{i}.test" for i in range(6)])
    nodes = list(Node.objects.all())
    errors: list[BaseException] = []

    def flip(node: Node) -> None:
        try:
            for round_number in range(6):
                node_update(node=node, changes={"is_active": round_number % 2 == 1})
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=flip, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert_counts_are_exact()
