"""Soak and fault tests: real gunicorn instances on one PostgreSQL database (``make soak``).

Each test starts its instances on 127.0.0.1 (ports 8400-8499), with their database connections
going through a TCP proxy the test controls, bounds its load in requests and seconds, and stops
everything it started. Measured figures are printed and written to ``test-artifacts/soak.json``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.tokens import create_api_token
from bench.served import GunicornInstance, Reply, TcpProxy, request, rss_bytes
from node.models import Node
from node.services import node_register
from node.tests.helpers import create_node

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the soak tests run on PostgreSQL only")

PORT_BASE = int(os.environ.get("SOAK_PORT_BASE", "8400"))
PROXY_PORT = PORT_BASE + 10
INSTANCE_PORTS = (PORT_BASE + 1, PORT_BASE + 2)
CLIENTS = 8
RACE_SECONDS = float(os.environ.get("SOAK_RACE_SECONDS", "12"))
MAX_REQUESTS_PER_CLIENT = 2000
# The memory run: list requests at page_size=1000 over a table of SOAK_LIST_NODES nodes.
LIST_REQUESTS = int(os.environ.get("SOAK_LIST_REQUESTS", "20000"))
LIST_NODES = int(os.environ.get("SOAK_LIST_NODES", "100"))
LIST_SECONDS = float(os.environ.get("SOAK_LIST_SECONDS", "270"))
# A worker's RSS rises over its first few thousand list requests and then stays flat (measured: +4.8 MB
# after 2,000, +11.7 MB after 6,000, +13.3 MB after 20,000 and +13.2 MB after 40,000 requests from a
# 500-request warm-up; Python's own allocations do not grow, per tracemalloc). That is the allocator
# settling, not a leak, so the growth is measured from a worker past that point.
WARM_UP_REQUESTS = 10_000
RSS_GROWTH_LIMIT = 10 * 1024 * 1024
REPORT = Path(os.environ.get("SOAK_REPORT") or Path(settings.BASE_DIR) / "test-artifacts" / "soak.json")


def record(name: str, value: object) -> None:
    """Print a measured figure and add it to the soak report."""
    print(f"soak: {name} = {value}")
    REPORT.parent.mkdir(exist_ok=True)
    figures = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    figures[name] = value
    REPORT.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """The database as the instances see it: PostgreSQL behind a proxy the test can cut."""
    database = settings.DATABASES["default"]
    tcp_proxy = TcpProxy(PROXY_PORT, (database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432))).start()
    yield tcp_proxy
    tcp_proxy.stop()


@pytest.fixture
def start_instance(
    transactional_db: None, proxy: TcpProxy, tmp_path: Path
) -> Iterator[Callable[..., GunicornInstance]]:
    """Start gunicorn instances on the test database through the proxy; all are stopped afterwards."""
    database = settings.DATABASES["default"]
    user, name = database["USER"], database["NAME"]
    direct = f"postgres://{user}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{name}"
    proxied = f"postgres://{user}@127.0.0.1:{PROXY_PORT}/{name}"
    started: list[GunicornInstance] = []

    def start(port: int, *, workers: int = 2, through_proxy: bool = True) -> GunicornInstance:
        # The proxy runs in this process and shares its CPU with the clients: tests that do not cut
        # the database connect directly, so they measure the service and not the proxy.
        instance = GunicornInstance(
            port=port,
            database_url=proxied if through_proxy else direct,
            log_path=tmp_path / f"gunicorn-{port}.log",
            workers=workers,
        )
        started.append(instance)
        return instance.start()

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def token(transactional_db: None) -> str:
    user = get_user_model().objects.create_user(
        username="soak", password="unused-password", is_staff=True, is_superuser=True
    )
    return create_api_token(user=user, expires_in=None)[1]


def run_clients(count: int, work: Callable[[int, threading.Event], None], *, seconds: float) -> None:
    """Run ``work(client_number, stop)`` in ``count`` threads until all return or ``seconds`` pass.

    ``stop`` is set at the deadline, or as soon as one client fails; the first failure is re-raised.
    """
    stop = threading.Event()
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            work(number, stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a client did not stop in time"
    if errors:
        raise errors[0]


def assert_invariants() -> None:
    for node in Node.objects.all():
        assert node.is_paused or node.pause_reason is None, vars(node)
        assert (node.deprecated is None) == node.is_active, vars(node)


@pytest.mark.soak
class TestRacingWritesAcrossInstances:
    def test_conditional_writes_form_one_chain_per_node_with_no_lost_update(
        self, start_instance: Callable[..., GunicornInstance], token: str
    ) -> None:
        instances = [start_instance(port) for port in INSTANCE_PORTS]
        nodes = [create_node(hostname=f"chain-{i}.test") for i in range(2)]
        initial = {
            node.pk: request(INSTANCE_PORTS[0], "GET", f"/v6/nodes/{node.pk}/").headers["etag"] for node in nodes
        }
        auth = {"Authorization": f"Token {token}"}
        accepted: list[tuple[int, str, str, dict]] = []  # node id, If-Match tag, new tag, body
        statuses: Counter = Counter()
        lock = threading.Lock()

        def client(number: int, stop: threading.Event) -> None:
            rng = random.Random(number)  # noqa: S311 (load pattern, not security)
            for sequence in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                node_id = rng.choice(nodes).pk
                port = instances[(number + sequence) % len(instances)].port
                read = request(port, "GET", f"/v6/nodes/{node_id}/")
                assert read.status == 200, str(read)
                # Every write sets the whole state, so the final state names the last write.
                change = {"is_paused": True, "pause_reason": f"client {number} write {sequence}"}
                change["is_active"] = rng.random() < 0.5
                other = instances[(number + sequence + 1) % len(instances)].port
                reply = request(
                    other,
                    "PATCH",
                    f"/v6/nodes/{node_id}/",
                    body=change,
                    headers={**auth, "If-Match": read.headers["etag"]},
                )
                with lock:
                    statuses[reply.status] += 1
                    if reply.status == 204:
                        accepted.append((node_id, read.headers["etag"], reply.headers["etag"], change))
                assert reply.status in (204, 412), str(reply)
                if reply.status == 412:
                    assert "has changed" in reply.json()["detail"], str(reply)

        run_clients(CLIENTS, client, seconds=RACE_SECONDS)
        record("race_if_match_statuses", dict(statuses))
        assert statuses[204] > 0 and statuses[412] > 0, statuses
        for node in nodes:
            writes = [write for write in accepted if write[0] == node.pk]
            preconditions = [write[1] for write in writes]
            assert len(set(preconditions)) == len(preconditions), "two writes were accepted on the same version"
            after = {write[1]: write for write in writes}
            tag, last = initial[node.pk], None
            while tag in after:
                last = after.pop(tag)
                tag = last[2]
            assert not after, f"{len(after)} accepted writes are not in the node's chain of versions"
            final = request(INSTANCE_PORTS[1], "GET", f"/v6/nodes/{node.pk}/")
            assert final.headers["etag"] == tag, "the last accepted write is not the node's current version"
            assert last is not None
            assert {name: final.json()[name] for name in last[3]} == last[3], str(final)
        assert_invariants()

    def test_unconditional_writes_are_all_applied_and_none_overwrites_another_field(
        self, start_instance: Callable[..., GunicornInstance], token: str
    ) -> None:
        instances = [start_instance(port) for port in INSTANCE_PORTS]
        nodes = [create_node(hostname=f"fields-{i}.test") for i in range(CLIENTS // 2)]
        auth = {"Authorization": f"Token {token}"}
        last_accepted: dict[int, dict] = {}
        tags: dict[int, list[str]] = {node.pk: [] for node in nodes}
        statuses: Counter = Counter()
        lock = threading.Lock()

        def client(number: int, stop: threading.Event) -> None:
            # Two clients per node: one pauses and resumes it, the other deactivates and reactivates it.
            node_id = nodes[number // 2].pk
            for sequence in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                if number % 2:
                    change: dict = {"is_active": sequence % 2 == 0}
                elif sequence % 3:
                    change = {"is_paused": True, "pause_reason": f"client {number} write {sequence}"}
                else:
                    change = {"is_paused": False}
                port = instances[(number + sequence) % len(instances)].port
                reply = request(port, "PATCH", f"/v6/nodes/{node_id}/", body=change, headers=auth)
                with lock:
                    statuses[reply.status] += 1
                    if reply.status == 204:
                        last_accepted[number] = change
                        tags[node_id].append(reply.headers["etag"])
                assert reply.status == 204, str(reply)

        run_clients(CLIENTS, client, seconds=RACE_SECONDS)
        record("race_unconditional_statuses", dict(statuses))
        assert set(statuses) == {204}, statuses
        for index, node in enumerate(nodes):
            node.refresh_from_db()
            pauser, deactivator = last_accepted[2 * index], last_accepted[2 * index + 1]
            assert node.is_paused == pauser["is_paused"], vars(node)
            assert node.pause_reason == pauser.get("pause_reason"), vars(node)
            assert node.is_active == deactivator["is_active"], vars(node)
            # Every accepted write made a version of its own: none was merged into another.
            assert len(set(tags[node.pk])) == len(tags[node.pk])
        assert_invariants()

    def test_unconditional_writes_on_shared_nodes_each_make_a_version_and_the_latest_wins(
        self, start_instance: Callable[..., GunicornInstance], token: str
    ) -> None:
        instances = [start_instance(port) for port in INSTANCE_PORTS]
        nodes = [create_node(hostname=f"shared-{i}.test") for i in range(2)]
        headers = {"Authorization": f"Token {token}", "Prefer": "return=representation"}
        written: dict[int, list[tuple[str, dict, dict]]] = {node.pk: [] for node in nodes}
        statuses: Counter = Counter()
        lock = threading.Lock()

        def client(number: int, stop: threading.Event) -> None:
            # Half the clients change the pause state, half the activity, all of them on both nodes.
            rng = random.Random(number)  # noqa: S311 (load pattern, not security)
            for sequence in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                node_id = rng.choice(nodes).pk
                if number % 2:
                    change: dict = {"is_active": rng.random() < 0.5}
                elif rng.random() < 0.7:
                    change = {"is_paused": True, "pause_reason": f"client {number} write {sequence}"}
                else:
                    change = {"is_paused": False}
                port = instances[(number + sequence) % len(instances)].port
                reply = request(port, "PATCH", f"/v6/nodes/{node_id}/", body=change, headers=headers)
                with lock:
                    statuses[reply.status] += 1
                assert reply.status == 200, str(reply)
                shown = reply.json()
                # The answer shows this very write applied.
                assert {name: shown[name] for name in change} == change, (change, shown)
                with lock:
                    written[node_id].append((shown["last_modified"], change, shown))

        run_clients(CLIENTS, client, seconds=RACE_SECONDS)
        record("race_unconditional_shared_statuses", dict(statuses))
        assert set(statuses) == {200}, statuses
        for node in nodes:
            writes = sorted(written[node.pk], key=lambda write: write[0])
            stamps = [write[0] for write in writes]
            assert len(set(stamps)) == len(stamps), "two accepted writes share one version"
            final = request(INSTANCE_PORTS[0], "GET", f"/v6/nodes/{node.pk}/").json()
            assert final == writes[-1][2], "the node is not what its latest write left"
            latest_pause = next(change for _stamp, change, _shown in reversed(writes) if "is_paused" in change)
            latest_activity = next(change for _stamp, change, _shown in reversed(writes) if "is_active" in change)
            assert final["is_paused"] == latest_pause["is_paused"]
            assert final["pause_reason"] == latest_pause.get("pause_reason")
            assert final["is_active"] == latest_activity["is_active"]
        assert_invariants()


@pytest.mark.soak
class TestDatabaseOutage:
    def test_requests_fail_fast_with_503_and_the_same_processes_recover(
        self, start_instance: Callable[..., GunicornInstance], token: str, proxy: TcpProxy
    ) -> None:
        instances = [start_instance(port) for port in INSTANCE_PORTS]
        pids_before = {instance.port: (instance.pid, instance.worker_pids()) for instance in instances}
        nodes = [create_node(hostname=f"outage-{i}.test") for i in range(4)]
        auth = {"Authorization": f"Token {token}"}
        replies: list[tuple[float, str, Reply]] = []
        lock = threading.Lock()

        def client(number: int, stop: threading.Event) -> None:
            for sequence in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                port = INSTANCE_PORTS[(number + sequence) % len(INSTANCE_PORTS)]
                node_id = nodes[(number + sequence) % len(nodes)].pk
                kind = ("list", "detail", "patch")[sequence % 3]
                if kind == "list":
                    reply = request(port, "GET", "/v6/nodes/?page_size=10")
                elif kind == "detail":
                    reply = request(port, "GET", f"/v6/nodes/{node_id}/")
                else:
                    # One write changes three columns; its reason names the activity it sets, so a
                    # half-applied write would show as a mismatch.
                    active = sequence % 2 == 0
                    change = {"is_paused": True, "pause_reason": f"write {number}-{sequence} active={active}"}
                    change["is_active"] = active
                    reply = request(port, "PATCH", f"/v6/nodes/{node_id}/", body=change, headers=auth)
                with lock:
                    replies.append((time.monotonic(), kind, reply))
                time.sleep(0.02)

        def ready(port: int) -> Reply:
            return request(port, "GET", "/readyz", timeout=10)

        phases: dict[str, float] = {}

        def scenario() -> None:
            time.sleep(2)
            phases["cut"] = time.monotonic()
            proxy.stop()
            time.sleep(3)
            for port in INSTANCE_PORTS:
                probe = ready(port)
                assert probe.status == 503 and probe.json()["status"] == "unavailable", str(probe)
                assert request(port, "GET", "/healthz").status == 200
            # The database host stops answering at all: connecting must give up after the timeout.
            phases["hang"] = time.monotonic()
            proxy.hang()
            time.sleep(4)
            phases["restored"] = time.monotonic()
            proxy.start()
            deadline = time.monotonic() + 30
            pending = set(INSTANCE_PORTS)
            while pending and time.monotonic() < deadline:
                pending = {port for port in pending if ready(port).status != 200}
                time.sleep(0.05)
            assert not pending, f"instances {pending} did not become ready again"
            phases["ready"] = time.monotonic()
            time.sleep(3)

        load = threading.Thread(target=run_clients, args=(4, client), kwargs={"seconds": 30})
        started = time.monotonic()
        load.start()
        try:
            scenario()
        finally:
            phases["end"] = time.monotonic()
            # run_clients stops at its deadline; end the load now rather than waiting for it.
            load.join(timeout=max(0.0, 30 - (time.monotonic() - started)) + 60)

        during = [
            reply for at, _kind, reply in replies if phases["cut"] < at - reply.seconds and at < phases["restored"]
        ]
        after = [reply for at, _kind, reply in replies if at - reply.seconds > phases["ready"]]
        statuses = Counter(reply.status for _at, _kind, reply in replies)
        record("outage_statuses", dict(statuses))
        record("outage_slowest_failed_request_seconds", round(max(r.seconds for r in during if r.status == 503), 2))
        record("outage_recovery_seconds_after_database_back", round(phases["ready"] - phases["restored"], 2))
        assert set(statuses) <= {200, 204, 503}, statuses
        assert {reply.status for reply in during} == {503}, Counter(reply.status for reply in during)
        for reply in during:
            assert reply.headers.get("content-type") == "application/json", str(reply)
            assert "database is unavailable" in reply.json()["detail"], str(reply)
            # Bounded by the connect timeout (2 s here), never a hang.
            assert reply.seconds < 5, str(reply)
        assert after and all(reply.status in (200, 204) for reply in after), Counter(r.status for r in after)
        for instance in instances:
            assert (instance.pid, instance.worker_pids()) == pids_before[instance.port], "a process was restarted"
        assert_invariants()
        for node in Node.objects.all():
            if node.pause_reason is not None:
                assert node.pause_reason.endswith(f"active={node.is_active}"), vars(node)


# Clients of the worker-crash test.
CRASH_CLIENTS = 4


@pytest.mark.soak
class TestWorkerCrash:
    def test_a_killed_worker_is_replaced_and_at_most_the_requests_it_held_fail(
        self, start_instance: Callable[..., GunicornInstance]
    ) -> None:
        instance = start_instance(INSTANCE_PORTS[0], through_proxy=False)
        node = create_node(hostname="crash.test")
        replies: list[Reply] = []
        lock = threading.Lock()

        def client(number: int, stop: threading.Event) -> None:
            for sequence in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                path = f"/v6/nodes/{node.pk}/" if (number + sequence) % 2 else "/v6/nodes/?page_size=50"
                reply = request(instance.port, "GET", path)
                with lock:
                    replies.append(reply)

        workers_before = instance.worker_pids()
        load = threading.Thread(target=run_clients, args=(CRASH_CLIENTS, client), kwargs={"seconds": 8})
        load.start()
        try:
            time.sleep(2)
            victim = min(workers_before)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            deadline = killed_at + 15
            while time.monotonic() < deadline:
                workers = instance.worker_pids()
                if victim not in workers and len(workers) == len(workers_before):
                    break
                time.sleep(0.05)
            replaced_after = time.monotonic() - killed_at
        finally:
            load.join(timeout=90)
        failed = [reply for reply in replies if reply.status != 200]
        record("worker_crash_failed_requests", len(failed))
        record("worker_crash_replacement_seconds", round(replaced_after, 2))
        assert len(instance.worker_pids()) == len(workers_before), "the master did not replace the worker"
        assert victim not in instance.worker_pids()
        assert len(replies) > 100, len(replies)
        # An ASGI worker holds the connections that reached it (at most one per client here, each
        # client waiting for its answer before the next request): only those may be lost.
        assert len(failed) <= CRASH_CLIENTS, [str(reply) for reply in failed]


@pytest.mark.soak
class TestWorkerMemory:
    def test_a_worker_grows_less_than_10_mb_over_many_full_list_pages(
        self, start_instance: Callable[..., GunicornInstance]
    ) -> None:
        instance = start_instance(INSTANCE_PORTS[0], workers=1, through_proxy=False)
        node_register(hostnames=[f"memory-{i:05d}.test" for i in range(LIST_NODES)])
        (worker,) = instance.worker_pids()
        path = "/v6/nodes/?page_size=1000&order=-hostname"

        def fetch(count: int) -> None:
            shares = [count // 2 + count % 2, count // 2]
            done = [0, 0]

            def client(number: int, stop: threading.Event) -> None:
                for _ in range(shares[number]):
                    if stop.is_set():
                        return
                    reply = request(instance.port, "GET", path)
                    assert reply.status == 200 and reply.body.count(b'"hostname"') == LIST_NODES, str(reply)
                    done[number] += 1

            # Two clients keep the single worker busy while the other waits on the network.
            run_clients(2, client, seconds=LIST_SECONDS)
            assert sum(done) == count, f"only {sum(done)} of {count} list requests in {LIST_SECONDS} s"

        fetch(WARM_UP_REQUESTS)
        rss_before = rss_bytes(worker)
        started = time.monotonic()
        fetch(LIST_REQUESTS)
        elapsed = time.monotonic() - started
        rss_after = rss_bytes(worker)
        assert instance.worker_pids() == {worker}, "the worker was replaced during the run"
        record("memory_list_requests", LIST_REQUESTS)
        record("memory_rows_per_page", LIST_NODES)
        record("memory_rss_before_mb", round(rss_before / 2**20, 1))
        record("memory_rss_growth_mb", round((rss_after - rss_before) / 2**20, 2))
        record("memory_list_requests_per_second_one_worker", round(LIST_REQUESTS / elapsed, 1))
        assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)


@pytest.mark.bench
class TestThroughput:
    """The per-instance throughput quoted in docs/deployment.md (``make bench``; not part of CI)."""

    SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))

    def test_one_instance_serves_reads_and_writes_without_errors(
        self, start_instance: Callable[..., GunicornInstance], token: str
    ) -> None:
        workers = os.cpu_count() * 2 + 1
        instance = start_instance(INSTANCE_PORTS[0], workers=workers, through_proxy=False)
        node_register(hostnames=[f"bench-{i:05d}.test" for i in range(1000)])
        ids = list(Node.objects.values_list("pk", flat=True))
        auth = {"Authorization": f"Token {token}"}
        etag = request(instance.port, "GET", "/v6/nodes/?page_size=100")
        loads: dict[str, Callable[[random.Random], Reply]] = {
            "detail": lambda rng: request(instance.port, "GET", f"/v6/nodes/{rng.choice(ids)}/"),
            "list_page_size_100": lambda rng: request(instance.port, "GET", "/v6/nodes/?page_size=100"),
            "list_not_modified": lambda rng: request(
                instance.port, "GET", "/v6/nodes/?page_size=100", headers={"If-None-Match": etag.headers["etag"]}
            ),
            "patch": lambda rng: request(
                instance.port,
                "PATCH",
                f"/v6/nodes/{rng.choice(ids)}/",
                body={"is_paused": rng.random() < 0.5, "pause_reason": "bench"},
                headers=auth,
            ),
        }
        record("bench_workers", workers)
        for name, send in loads.items():
            counts, elapsed = self.measure(send)
            record(f"bench_{name}_requests_per_second", round(sum(counts.values()) / elapsed, 1))
            assert set(counts) <= {200, 204, 304}, counts

    def measure(self, send: Callable[[random.Random], Reply]) -> tuple[Counter, float]:
        """Send from ``CLIENTS`` threads for ``SECONDS``; the count of each status, and the time taken."""
        counts: Counter = Counter()
        lock = threading.Lock()

        def client(number: int, stop: threading.Event) -> None:
            rng = random.Random(number)  # noqa: S311 (load pattern, not security)
            while not stop.is_set():
                status = send(rng).status
                with lock:
                    counts[status] += 1

        started = time.monotonic()
        run_clients(CLIENTS, client, seconds=self.SECONDS)
        return counts, time.monotonic() - started
