"""Liveness transitions: a node that falls silent goes offline, and comes back online, each recorded exactly once."""

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from node.live import encoding
from node.models import Node, NodeChange, NodeLiveness, RegistryClock
from node.reaper import LivenessReaper
from node.selectors import node_changes, node_events
from node.services import node_deactivate_offline, node_heartbeat, node_liveness_reap
from node.tests.helpers import body

TTL = dt.timedelta(seconds=30)
TIMEOUT_SECONDS = 30


def transition_records(node: Node) -> list[dict]:
    return list(
        NodeChange.objects.filter(node=node, changes__has_key="state")
        .order_by("change_index")
        .values("action", "actor", "channel", "changes", "change_index")
    )


def silent_since(hostnames: list[str], *, seconds: float) -> None:
    node_heartbeat(hostnames=hostnames, now=timezone.now() - dt.timedelta(seconds=seconds))


@pytest.mark.django_db
class TestNodeLivenessReap:
    def test_a_node_silent_for_the_ttl_goes_offline_once_with_its_record_and_change_index(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("quiet.test")
        silent_since(["quiet.test"], seconds=31)
        before = Node.objects.values().get(pk=node.pk)
        done = node_liveness_reap(ttl=TTL)
        assert (done.offline, done.online) == ([node.pk], [])
        node.refresh_from_db()
        [record] = transition_records(node)
        assert record == {
            "action": "update",
            "actor": "system",
            "channel": "system",
            "changes": {"state": {"old": "online", "new": "offline"}},
            "change_index": node.change_index,
        }
        assert node.change_index == RegistryClock.objects.get().change_index
        assert NodeLiveness.objects.get(node=node).state == "offline"
        after = Node.objects.values().get(pk=node.pk)
        assert {**after, "change_index": None} == {**before, "change_index": None}
        assert len(node_liveness_reap(ttl=TTL)) == 0
        assert len(transition_records(node)) == 1

    def test_many_transitions_are_recorded_a_chunk_at_a_time_each_once(self, make_node: Callable[..., Node]) -> None:
        nodes = [make_node(f"n{i}.test") for i in range(7)]
        silent_since([node.hostname for node in nodes], seconds=60)
        done = node_liveness_reap(ttl=TTL, chunk_size=3)
        assert done.offline == [node.pk for node in nodes]
        indexes = list(NodeChange.objects.filter(changes__has_key="state").values_list("change_index", flat=True))
        assert len(set(indexes)) == 7
        assert len(node_liveness_reap(ttl=TTL, chunk_size=3)) == 0

    def test_a_node_heard_within_the_ttl_stays_online_with_no_record(self, make_node: Callable[..., Node]) -> None:
        node = make_node("chatty.test")
        silent_since(["chatty.test"], seconds=29)
        assert len(node_liveness_reap(ttl=TTL)) == 0
        assert transition_records(node) == []

    def test_the_first_heartbeat_is_no_transition(self, make_node: Callable[..., Node]) -> None:
        node = make_node("new.test")
        node_heartbeat(hostnames=["new.test"])
        assert len(node_liveness_reap(ttl=TTL)) == 0
        assert transition_records(node) == []

    def test_a_node_never_seen_never_goes_offline(self, make_node: Callable[..., Node]) -> None:
        node = make_node("never.test")
        assert len(node_liveness_reap(ttl=TTL)) == 0
        assert transition_records(node) == []

    def test_an_offline_node_that_sends_a_heartbeat_comes_back_online_once(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("back.test")
        silent_since(["back.test"], seconds=60)
        node_liveness_reap(ttl=TTL)
        node_heartbeat(hostnames=["back.test"])
        node_heartbeat(hostnames=["back.test"])
        done = node_liveness_reap(ttl=TTL)
        assert (done.offline, done.online) == ([], [node.pk])
        assert len(node_liveness_reap(ttl=TTL)) == 0
        assert [record["changes"]["state"] for record in transition_records(node)] == [
            {"old": "online", "new": "offline"},
            {"old": "offline", "new": "online"},
        ]

    def test_without_offline_only_nodes_coming_back_are_recorded(self, make_node: Callable[..., Node]) -> None:
        quiet, back = make_node("quiet.test"), make_node("back.test")
        silent_since(["back.test"], seconds=60)
        node_liveness_reap(ttl=TTL)
        silent_since(["quiet.test"], seconds=60)
        node_heartbeat(hostnames=["back.test"])
        done = node_liveness_reap(ttl=TTL, offline=False)
        assert (done.offline, done.online) == ([], [back.pk])
        assert NodeLiveness.objects.get(node=quiet).state == "online"

    def test_each_transition_is_a_change_of_its_own_on_the_feed_and_its_event_carries_the_state(
        self, make_node: Callable[..., Node]
    ) -> None:
        a, b = make_node("a.test"), make_node("b.test")
        after = RegistryClock.objects.get().change_index
        silent_since(["a.test", "b.test"], seconds=60)
        node_liveness_reap(ttl=TTL)
        rows = node_changes(after=after, limit=10)
        assert [row[0] for row in rows] == [a.pk, b.pk]
        assert [row[-1] for row in rows] == [after + 1, after + 2]
        # The stream's events are read from the history: one per transition, each with the new state.
        encoded = encoding.encode_events(node_events(after=after, limit=10).events)
        assert [index for index, _ in encoded] == [after + 1, after + 2]
        assert [b'"state":"offline"' in payload for _, payload in encoded] == [True, True]
        assert all(b'"hostname"' in payload and b'"last_modified"' in payload for _, payload in encoded)

    def test_an_event_of_another_change_carries_no_state(self, make_node: Callable[..., Node]) -> None:
        make_node("a.test")
        [(_, payload)] = encoding.encode_events(node_events(after=0, limit=10).events)
        assert b'"state"' not in payload

    def test_with_liveness_state_adds_the_new_state_only_for_a_transition(self) -> None:
        node = {"id": 1}
        assert encoding.with_liveness_state(node, None) == {"id": 1}
        assert encoding.with_liveness_state(node, {"is_paused": {"old": False, "new": True}}) == {"id": 1}
        assert encoding.with_liveness_state(node, {"state": {"old": "offline", "new": "online"}}) == {
            "id": 1,
            "state": "online",
        }


@pytest.mark.django_db
class TestTransitionsOverHttp:
    def test_the_transition_is_in_the_history_and_on_the_change_feed_once(
        self, staff_client: APIClient, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("quiet.test")
        after = RegistryClock.objects.get().change_index
        silent_since(["quiet.test"], seconds=60)
        node_liveness_reap(ttl=TTL)
        node_liveness_reap(ttl=TTL)
        feed = api_client.get("/v6/nodes/changes/", {"after": after}).json()
        assert [entry["id"] for entry in feed["results"]] == [node.pk], feed
        response = staff_client.get(f"/v6/nodes/{node.pk}/history/")
        assert response.status_code == 200, body(response)
        latest = response.json()["results"][0]
        assert (latest["actor"], latest["channel"], latest["changes"]) == (
            "system",
            "system",
            {"state": {"old": "online", "new": "offline"}},
        )
        assert api_client.get(f"/v6/nodes/{node.pk}/liveness/").json()["state"] == "offline"


@pytest.mark.django_db
class TestDeactivateOffline:
    def test_nodes_offline_longer_than_the_setting_are_deactivated_by_the_system(
        self, make_node: Callable[..., Node]
    ) -> None:
        long_gone, recent = make_node("gone.test"), make_node("recent.test")
        silent_since(["gone.test"], seconds=7200)
        silent_since(["recent.test"], seconds=60)
        node_liveness_reap(ttl=TTL)
        assert node_deactivate_offline(offline_for=dt.timedelta(hours=1)) == 1
        long_gone.refresh_from_db()
        recent.refresh_from_db()
        assert (long_gone.is_active, recent.is_active) == (False, True)
        latest = NodeChange.objects.filter(node=long_gone).order_by("-change_index").first()
        assert (latest.actor, latest.changes["is_active"]) == ("system", {"old": True, "new": False})
        assert node_deactivate_offline(offline_for=dt.timedelta(hours=1)) == 0


@pytest.mark.django_db
class TestLivenessReaper:
    @override_settings(NODE_HEARTBEAT_TTL=30)
    def test_a_process_up_for_less_than_the_ttl_marks_no_node_offline(self, make_node: Callable[..., Node]) -> None:
        node = make_node("quiet.test")
        silent_since(["quiet.test"], seconds=600)
        just_started = LivenessReaper(interval=1)
        assert not just_started.may_mark_offline()
        assert len(just_started.run_once()) == 0
        assert NodeLiveness.objects.get(node=node).state == "online"
        up_long = LivenessReaper(interval=1, started=just_started.started - 31)
        assert up_long.may_mark_offline()
        assert up_long.run_once().offline == [node.pk]

    @override_settings(NODE_HEARTBEAT_TTL=30, NODE_OFFLINE_DEACTIVATE_SECONDS=3600)
    def test_a_pass_deactivates_when_the_setting_is_on(self, make_node: Callable[..., Node]) -> None:
        node = make_node("gone.test")
        silent_since(["gone.test"], seconds=7200)
        reaper = LivenessReaper(interval=1, started=0)
        reaper.run_once()
        node.refresh_from_db()
        assert not node.is_active


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent reapers on separate connections need PostgreSQL"
)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_reapers_record_each_transition_exactly_once(make_node: Callable[..., Node]) -> None:
    nodes = [make_node(f"n{i}.test") for i in range(200)]
    silent_since([node.hostname for node in nodes], seconds=60)
    reapers = 4
    barrier = threading.Barrier(reapers)
    results: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reap() -> None:
        try:
            barrier.wait(timeout=TIMEOUT_SECONDS)
            done = node_liveness_reap(ttl=TTL)
            with lock:
                results.append(done.offline)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reap) for _ in range(reapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS)
    assert errors == []
    marked = Counter(pk for offline in results for pk in offline)
    assert marked == Counter({node.pk: 1 for node in nodes})
    per_node = Counter(NodeChange.objects.filter(changes__has_key="state").values_list("node_id", flat=True))
    assert per_node == Counter({node.pk: 1 for node in nodes})
    indexes = list(NodeChange.objects.filter(changes__has_key="state").values_list("change_index", flat=True))
    assert len(set(indexes)) == len(nodes)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_heartbeats_racing_a_reaper_neither_deadlock_nor_lose_a_node(make_node: Callable[..., Node]) -> None:
    nodes = [make_node(f"n{i}.test") for i in range(300)]
    hostnames = [node.hostname for node in nodes]
    silent_since(hostnames, seconds=60)
    errors: list[BaseException] = []
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.is_set():
                node_heartbeat(hostnames=list(reversed(hostnames)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def reap() -> None:
        try:
            for _ in range(20):
                node_liveness_reap(ttl=TTL)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()
            connection.close()

    threads = [threading.Thread(target=beat), threading.Thread(target=beat), threading.Thread(target=reap)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS)
    assert errors == []
    node_liveness_reap(ttl=TTL)
    assert set(NodeLiveness.objects.values_list("state", flat=True)) == {"online"}
    # Each node's records alternate offline, online, and end online like the node.
    for node in nodes:
        states = [record["changes"]["state"]["new"] for record in transition_records(node)]
        assert states == ["offline", "online"] * (len(states) // 2), (node.hostname, states)
