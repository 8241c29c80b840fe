"""Racing PATCHes over real HTTP against the live test server, on whichever database is configured.

On PostgreSQL the row lock (``select_for_update``) serialises writers; on SQLite the IMMEDIATE
transactions and the busy timeout do, so a few clients at once never see "database is locked".
"""

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from node import services
from node.models import Node
from node.selectors import node_etag
from util.conditional import PreconditionFailed
from util.tokens import create_api_token

CLIENTS = 8
REQUESTS_PER_CLIENT = 15
TIMEOUT_SECONDS = 30


def _patch(url: str, token: str, data: dict) -> int:
    request = urllib.request.Request(  # noqa: S310 (the live test server)
        url,
        data=json.dumps(data).encode(),
        method="PATCH",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _race(work: list[tuple[str, dict]], token: str) -> Counter:
    """Send ``work`` from ``CLIENTS`` threads released together; return the count of each status."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(share: list[tuple[str, dict]]) -> None:
        barrier.wait(timeout=TIMEOUT_SECONDS)
        for url, data in share:
            status = _patch(url, token, data)
            with lock:
                statuses[status] += 1

    threads = [threading.Thread(target=client, args=(work[i::CLIENTS],)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT_SECONDS * 4)
        assert not thread.is_alive(), "a client did not finish in time"
    return statuses


@pytest.fixture
def staff_token(transactional_db: None) -> str:
    user = get_user_model().objects.create_user(
        username="racer", password="unused-password", is_staff=True, is_superuser=True
    )
    return create_api_token(user=user, expires_in=None)[1]


def assert_invariants() -> None:
    for node in Node.objects.all():
        assert node.is_paused or node.pause_reason is None, node.__dict__
        assert (node.deprecated is None) == node.is_active, node.__dict__


class TestConcurrentPatches:
    def test_racing_patches_all_succeed_and_keep_the_invariants(self, live_server: object, staff_token: str) -> None:
        nodes = [Node.objects.create(hostname=f"race-{i}.test") for i in range(3)]
        changes = [
            {"is_paused": True, "pause_reason": "maintenance"},
            {"is_paused": False},
            {"is_active": False},
            {"is_active": True, "pause_reason": "only if paused"},
            {"pause_reason": "new reason"},
        ]
        work = [
            (f"{live_server.url}/v6/nodes/{nodes[i % len(nodes)].pk}/", changes[i % len(changes)])
            for i in range(CLIENTS * REQUESTS_PER_CLIENT)
        ]
        statuses = _race(work, staff_token)
        assert statuses == Counter({204: len(work)})
        assert_invariants()

    def test_concurrent_changes_to_different_fields_are_not_lost(self, live_server: object, staff_token: str) -> None:
        node = Node.objects.create(hostname="lost-update.test")
        url = f"{live_server.url}/v6/nodes/{node.pk}/"
        # Half the clients pause (each with its reason), half deactivate: with the row locked, no
        # write can put back a stale value of the other field.
        work = [
            (url, {"is_paused": True, "pause_reason": f"client {i}"} if i % 2 else {"is_active": False})
            for i in range(CLIENTS * 4)
        ]
        statuses = _race(work, staff_token)
        assert statuses == Counter({204: len(work)})
        node.refresh_from_db()
        assert (node.is_paused, node.is_active) == (True, False)
        assert node.pause_reason.startswith("client ")
        assert node.deprecated is not None


@contextmanager
def first_writer_paused() -> Iterator[tuple[threading.Event, threading.Event]]:
    """Stop the writer thread named "first" inside ``node_update``, between reading its row and writing it.

    Yields ``(first_has_read, release_first)``: the first is set once that writer holds the row,
    setting the second lets it go on. Other threads pass straight through.
    """
    first_has_read, release_first = threading.Event(), threading.Event()
    real_apply = services._apply_changes

    def apply_slowly(*args: object, **kwargs: object) -> None:
        if threading.current_thread().name == "first":
            first_has_read.set()
            release_first.wait(timeout=TIMEOUT_SECONDS)
        real_apply(*args, **kwargs)

    with mock.patch.object(services, "_apply_changes", apply_slowly):
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
    node = Node.objects.create(hostname="locked.test")
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
    node = Node.objects.create(hostname="precondition.test")
    etag = node_etag(node)
    outcomes: dict[str, str] = {}

    def write(changes: dict) -> None:
        try:
            services.node_update(node=node, changes=changes, if_match=[etag])
            outcomes[threading.current_thread().name] = "applied"
        except PreconditionFailed:
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
