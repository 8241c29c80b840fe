"""Registration, heartbeats and liveness transitions over real HTTP, on two instances of the served stack at once.

Two gunicorn instances (two workers each, so four reapers) on 127.0.0.1 at ``LIVENESS_PORT`` and the next
port share a database made for this module (a SQLite file, or on PostgreSQL a database of its own next to
the test database, dropped at the end), with a TTL of a few seconds. Nodes that stop sending heartbeats go
offline once each, whichever reaper sees them first, and come back online once each; every transition
reaches the event stream exactly once. Each instance is stopped by its process id when the module ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db import connection

from bench.served import GunicornInstance, fresh_database_url, manage, request
from bench.sse import EventStream

PORT = int(os.environ.get("LIVENESS_PORT", "8890"))
TTL_SECONDS = 3
NODES = 30
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two instances on one migrated database, and the token of a user who may register nodes and send heartbeats."""
    directory = tmp_path_factory.mktemp("liveness")
    with fresh_database_url(directory, name="liveness") as url:
        # The instances run on the database the suite runs on: PostgreSQL decides between their reapers there.
        assert url.startswith("postgres://") == (connection.vendor == "postgresql"), url
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "scale_nodes.settings"}
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from django.contrib.auth.models import Permission; "
            "user = get_user_model().objects.create_user('scheduler', is_staff=True); "
            "user.user_permissions.add(*Permission.objects.filter(content_type__app_label='node', "
            "codename__in=['add_node', 'change_nodeliveness', 'view_nodechange']))",
        )
        token = manage(env, "create_api_token", "scheduler", "--expires", "P1D").strip()
        instances = []
        try:
            for port in (PORT, PORT + 1):
                instances.append(
                    GunicornInstance(
                        port=port,
                        database_url=url,
                        log_path=directory / f"gunicorn-{port}.log",
                        workers=2,
                        extra_env={
                            "ALLOWED_HOSTS": "127.0.0.1",
                            "SECURE_HSTS_SECONDS": "0",
                            "FEED_POLL_MILLISECONDS": "100",
                            "NODE_HEARTBEAT_TTL": str(TTL_SECONDS),
                            "NODE_REAP_SECONDS": "1",
                        },
                    ).start()
                )
            yield {"token": token, "ports": (PORT, PORT + 1)}
        finally:
            for instance in instances:
                instance.stop()


def _post(port: int, path: str, token: str, hostnames: list[str]) -> dict:
    reply = request(port, "POST", path, body={"hostnames": hostnames}, headers={"Authorization": f"Token {token}"})
    assert reply.status == 200, reply
    return reply.json()


def _get(port: int, path: str, token: str | None = None) -> tuple[dict, dict[str, str]]:
    reply = request(port, "GET", path, headers={"Authorization": f"Token {token}"} if token else None)
    assert reply.status == 200, reply
    return reply.json(), reply.headers


class _Heartbeats:
    """Heartbeats for ``hostnames`` every half second, alternating between the instances, until stopped."""

    def __init__(self, registry: dict, hostnames: list[str]) -> None:
        self.registry, self.hostnames = registry, hostnames
        self.stopped = threading.Event()
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        turn = 0
        while not self.stopped.is_set():
            port = self.registry["ports"][turn % 2]
            reply = request(
                port,
                "POST",
                "/v6/nodes/heartbeats/",
                body={"hostnames": self.hostnames},
                headers={"Authorization": f"Token {self.registry['token']}"},
            )
            if reply.status != 200:
                self.failures.append(str(reply))
            turn += 1
            self.stopped.wait(0.5)

    def __enter__(self) -> _Heartbeats:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(10)


def _states(port: int, ids: list[int]) -> dict[int, str]:
    query = "&".join(f"id={node_id}" for node_id in ids)
    page, _ = _get(port, f"/v6/nodes/liveness/?page_size=1000&{query}")
    return {entry["id"]: entry["state"] for entry in page["results"]}


def _wait_for_states(port: int, ids: list[int], state: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if set(_states(port, ids).values()) == {state}:
            return
        time.sleep(0.2)
    raise AssertionError(f"not all {state}: {_states(port, ids)}")


def test_registration_and_liveness_transitions_over_two_instances(registry: dict) -> None:
    token, (a, b) = registry["token"], registry["ports"]
    hostnames = [f"node-{n}.live.test" for n in range(NODES)]
    first = _post(a, "/v6/nodes/", token, hostnames[:20])
    again = _post(b, "/v6/nodes/", token, [name.upper() for name in hostnames[10:]])
    assert len(first["created"]) == 20
    assert [node["hostname"] for node in again["existing"]] == hostnames[10:20]
    assert [node["hostname"] for node in again["created"]] == [name.upper() for name in hostnames[20:]]
    ids = [node["id"] for node in first["created"] + again["created"]]
    staying, leaving = ids[::2], ids[1::2]
    by_id = dict(zip(ids, [*hostnames[:20], *(name.upper() for name in hostnames[20:])], strict=True))
    assert set(_states(a, ids).values()) == {"never"}

    heard = _post(b, "/v6/nodes/heartbeats/", token, [*hostnames, "unknown.live.test"])
    assert heard == {"seen": NODES, "unknown": ["unknown.live.test"]}
    _, headers = _get(a, "/v6/nodes/changes/")
    start = int(headers["x-registry-index"])

    async def follow() -> EventStream:
        stream = await EventStream(b, f"/v6/nodes/events/?after={start}").open()
        with _Heartbeats(registry, [by_id[node_id] for node_id in staying]) as beats:
            with _Heartbeats(registry, [by_id[node_id] for node_id in leaving]) as leavers:
                # Long enough for every instance to have been up for the TTL, with every node online.
                await asyncio.sleep(TTL_SECONDS + 1)
                assert set((await asyncio.to_thread(_states, a, ids)).values()) == {"online"}
            assert leavers.failures == []
            await asyncio.to_thread(_wait_for_states, a, leaving, "offline")
            await stream.read_until(lambda s: len(s.events) >= len(leaving), timeout=TIMEOUT)
            assert set((await asyncio.to_thread(_states, b, staying)).values()) == {"online"}
            with _Heartbeats(registry, [by_id[node_id] for node_id in leaving]):
                await asyncio.to_thread(_wait_for_states, b, leaving, "online")
                await stream.read_until(lambda s: len(s.events) >= 2 * len(leaving), timeout=TIMEOUT)
                # A few more passes of every reaper: nothing is recorded twice.
                await asyncio.sleep(2)
        assert beats.failures == []
        stream.take()
        stream.close()
        return stream

    stream = asyncio.run(asyncio.wait_for(follow(), 120))
    events = [(event.id, event.node()["id"], event.node()["state"]) for event in stream.events]
    assert [event_id for event_id, _, _ in events] == sorted({event_id for event_id, _, _ in events})
    assert Counter((node_id, state) for _, node_id, state in events) == Counter(
        {**{(node_id, "offline"): 1 for node_id in leaving}, **{(node_id, "online"): 1 for node_id in leaving}}
    )
    for node_id in leaving:
        history, _ = _get(a, f"/v6/nodes/{node_id}/history/", token)
        transitions = [record for record in history["results"] if "state" in record["changes"]]
        assert [(record["actor"], record["channel"], record["changes"]) for record in transitions] == [
            ("system", "system", {"state": {"old": "offline", "new": "online"}}),
            ("system", "system", {"state": {"old": "online", "new": "offline"}}),
        ]
    for node_id in staying:
        history, _ = _get(b, f"/v6/nodes/{node_id}/history/", token)
        assert [record for record in history["results"] if "state" in record["changes"]] == []
    feed, _ = _get(a, f"/v6/nodes/changes/?after={start}&page_size=1000")
    assert sorted(node["id"] for node in feed["results"]) == sorted(leaving)
