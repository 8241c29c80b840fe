"""Racing PATCHes over real HTTP against the live test server, on whichever database is configured.

On PostgreSQL the row lock (``select_for_update``) serialises writers; on SQLite the IMMEDIATE
transactions and the busy timeout do, so a few clients at once never see "database is locked".
"""

import json
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest
from django.contrib.auth import get_user_model

from accounts.tokens import create_api_token
from node.models import Node, NodeChange
from node.tests.helpers import create_node

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
        nodes = [create_node(hostname=f"race-{i}.test") for i in range(3)]
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
        node = create_node(hostname="lost-update.test")
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

    def test_racing_patches_record_one_chained_record_per_effective_change(
        self, live_server: object, staff_token: str
    ) -> None:
        node = create_node(hostname="history-race.test")
        url = f"{live_server.url}/v6/nodes/{node.pk}/"
        changes = [
            {"is_paused": True, "pause_reason": "a"},
            {"is_paused": False},
            {"is_active": False},
            {"is_active": True},
        ]
        statuses = _race([(url, changes[i % len(changes)]) for i in range(CLIENTS * 6)], staff_token)
        assert set(statuses) == {204}

        chain = list(NodeChange.objects.filter(node=node).order_by("time", "id"))
        assert 1 <= len(chain) <= CLIENTS * 6
        state = {"is_paused": False, "pause_reason": None, "is_active": True}
        for record in chain:
            assert record.changes, "a record without a change"
            for field, change in record.changes.items():
                assert change["old"] == state[field], f"record {record.pk} does not follow its predecessor"
                assert change["new"] != change["old"]
                state[field] = change["new"]
        node.refresh_from_db()
        assert state == {"is_paused": node.is_paused, "pause_reason": node.pause_reason, "is_active": node.is_active}
        times = [record.time for record in chain]
        assert times == sorted(set(times)), "record times are not strictly increasing in commit order"
