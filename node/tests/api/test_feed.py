"""Following every change over real HTTP: the ``started=`` polling loop, the change feed and its long-poll.

Writers race a client that follows the registry against the live test server, on whichever database
is configured. A registration batch is held open inside its transaction (after it has taken its
stamps) while a PATCH to another node is sent and the follower polls: before the registry clock,
the PATCH committed first with a later time, the follower moved past the batch's time, and the
whole batch was never seen.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accounts.tokens import create_api_token
from node import live
from node.models import Node
from node.services import node_register, node_update, node_update_many, registration
from node.services.clock import Stamps

TIMEOUT_SECONDS = 30
BATCH = 40


def _request(method: str, url: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, dict, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (live server)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            content = response.read()
            return response.status, dict(response.headers), json.loads(content) if content else None
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


@pytest.fixture(autouse=True)
def no_listener_left() -> Iterator[None]:
    """Each test's waits use a listener of their own, stopped at the end (it holds a database session)."""
    live.reset()
    yield
    live.reset()


@pytest.fixture
def staff_token(transactional_db: None) -> str:
    user = get_user_model().objects.create_user(
        username="follower-op", password="unused-password", is_staff=True, is_superuser=True
    )
    return create_api_token(user=user, expires_in=None)[1]


def in_thread(work: Callable[[], None]) -> threading.Thread:
    """Run ``work`` in a thread that closes its own database connection when done."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@contextmanager
def registration_held_open() -> Iterator[tuple[threading.Event, threading.Event]]:
    """Hold a registration batch inside its transaction once its stamps are taken, before its rows are written.

    Yields ``(holding, release)``: the first is set while the batch waits, setting the second lets it commit.
    """
    holding, release = threading.Event(), threading.Event()
    real = registration._take_stamps

    def held(count: int) -> Stamps:
        stamps = real(count)
        if count:
            holding.set()
            release.wait(timeout=TIMEOUT_SECONDS)
        return stamps

    with mock.patch.object(registration, "_take_stamps", held):
        yield holding, release


class StartedFollower:
    """The README's loop: page 1 of ``?started=<newest last_modified seen>&order=last_modified``, newest per id."""

    def __init__(self, base: str, *, page_size: int) -> None:
        self.base = base
        self.page_size = page_size
        self.started: str | None = None
        self.seen: dict[int, dict] = {}

    def poll(self) -> bool:
        """One request; True when it brought anything new."""
        query = f"?order=last_modified&page_size={self.page_size}"
        if self.started:
            query += f"&started={self.started}"
        status, _, page = _request("GET", f"{self.base}/v6/nodes/{query}")
        assert status == 200, page
        new = False
        for node in page["results"]:
            if self.seen.get(node["id"]) != node:
                self.seen[node["id"]] = node
                new = True
        if page["results"]:
            self.started = page["results"][-1]["last_modified"]
        return new


class ChangesFollower:
    """The change feed's loop: ``?after=<index>``, newest state per id."""

    def __init__(self, base: str, *, page_size: int) -> None:
        self.base = base
        self.page_size = page_size
        self.after = 0
        self.seen: dict[int, dict] = {}

    def poll(self) -> bool:
        status, _, page = _request(
            "GET", f"{self.base}/v6/nodes/changes/?after={self.after}&page_size={self.page_size}"
        )
        assert status == 200, page
        for node in page["results"]:
            self.seen[node["id"]] = node
        assert page["index"] >= self.after
        new = page["index"] > self.after
        self.after = page["index"]
        return new


def _follow_to_the_end(follower: StartedFollower | ChangesFollower) -> None:
    for _ in range(500):
        if not follower.poll():
            return
    raise AssertionError("the follower never caught up")


@pytest.mark.parametrize("follower_class", [StartedFollower, ChangesFollower])
def test_a_follower_sees_a_registration_batch_that_commits_behind_a_later_patch(
    live_server: Any, staff_token: str, follower_class: type
) -> None:
    node_register(hostnames=["first.test", "second.test", "third.test"])
    patched = Node.objects.get(hostname="second.test")
    follower = follower_class(live_server.url, page_size=5)
    _follow_to_the_end(follower)

    with registration_held_open() as (holding, release):
        registering = in_thread(lambda: node_register(hostnames=[f"batch-{n:03d}.test" for n in range(BATCH)]))
        assert holding.wait(timeout=TIMEOUT_SECONDS)
        patch_status: list[int] = []
        patching = in_thread(
            lambda: patch_status.append(
                _request(
                    "PATCH",
                    f"{live_server.url}/v6/nodes/{patched.pk}/",
                    token=staff_token,
                    body={"is_paused": True, "pause_reason": "behind"},
                )[0]
            )
        )
        # The follower polls while the batch is open and the PATCH is on its way.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            follower.poll()
            time.sleep(0.05)
        release.set()
        registering.join(timeout=TIMEOUT_SECONDS)
        patching.join(timeout=TIMEOUT_SECONDS)
    assert patch_status == [204]

    _follow_to_the_end(follower)
    registered = set(Node.objects.filter(hostname__startswith="batch-").values_list("pk", flat=True))
    assert len(registered) == BATCH
    missed = registered - set(follower.seen)
    assert not missed, f"the follower never saw {len(missed)} of the {BATCH} registered nodes"
    assert follower.seen[patched.pk]["is_paused"] is True
    assert follower.seen[patched.pk]["pause_reason"] == "behind"


def test_a_waiting_request_is_released_by_a_commit_within_a_second(live_server: Any, staff_token: str) -> None:
    node_register(hostnames=["waiting.test"])
    node = Node.objects.get()
    after = node.change_index
    answer: list[tuple[float, dict]] = []

    def wait() -> None:
        _, _, page = _request("GET", f"{live_server.url}/v6/nodes/changes/?after={after}&wait=20")
        answer.append((time.monotonic(), page))

    waiting = in_thread(wait)
    time.sleep(0.5)
    node_update(node=node, changes={"is_paused": True, "pause_reason": "wake up"})
    committed = time.monotonic()
    waiting.join(timeout=TIMEOUT_SECONDS)
    ((answered, page),) = answer
    assert answered - committed < 1.0, f"answered {answered - committed:.2f} s after the commit"
    assert [(result["id"], result["pause_reason"]) for result in page["results"]] == [(node.pk, "wake up")]
    assert page["index"] == after + 1


def test_a_rolled_back_write_releases_no_waiting_request(live_server: Any, staff_token: str) -> None:
    node_register(hostnames=["quiet.test"])
    node = Node.objects.get()
    after = node.change_index
    answer: list[tuple[float, dict]] = []

    def wait() -> None:
        started = time.monotonic()
        _, _, page = _request("GET", f"{live_server.url}/v6/nodes/changes/?after={after}&wait=2")
        answer.append((time.monotonic() - started, page))

    waiting = in_thread(wait)
    time.sleep(0.5)
    with pytest.raises(RuntimeError), transaction.atomic():
        node_update(node=node, changes={"is_active": False})
        raise RuntimeError("changed my mind")
    waiting.join(timeout=TIMEOUT_SECONDS)
    ((elapsed, page),) = answer
    assert page == {"index": after, "more": False, "results": []}
    assert elapsed >= 1.9, f"answered after {elapsed:.2f} s"


def test_the_registry_index_never_decreases_across_responses(live_server: Any, staff_token: str) -> None:
    node_register(hostnames=[f"index-{n}.test" for n in range(6)])
    ids = list(Node.objects.order_by("pk").values_list("pk", flat=True))
    indexes = []
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            node_update_many(nodes=Node.objects.filter(pk__in=ids[n % 3 :: 3]), changes={"is_paused": n % 2 == 0})
            n += 1

    writing = in_thread(write)
    try:
        for n in range(60):
            node_id = ids[n % len(ids)]
            path = [
                "/v6/nodes/",
                f"/v6/nodes/{node_id}/",
                f"/v6/nodes/{node_id}/history/",
                "/v6/nodes/changes/?after=0&page_size=2",
            ][n % 4]
            if n % 5 == 0:
                status, headers, _ = _request(
                    "PATCH", f"{live_server.url}/v6/nodes/{node_id}/", token=staff_token, body={"is_active": True}
                )
            else:
                status, headers, _ = _request("GET", f"{live_server.url}{path}", token=staff_token)
            assert status in (200, 204)
            indexes.append(int(headers["X-Registry-Index"]))
    finally:
        stop.set()
        writing.join(timeout=TIMEOUT_SECONDS)
    assert indexes == sorted(indexes), indexes
    assert indexes[-1] > indexes[0]
