"""The live-watch benchmark (``make bench-watch``): thousands of event streams and long-polls on one instance.

Serves the project with ``make serve``'s config (gunicorn's ASGI worker, one process per core) on a
database of its own (PostgreSQL by default: ``WATCH_BENCH_DATABASE_URL``; ``--sqlite`` for an
embedded file), on 127.0.0.1:8850, and measures with a small asyncio client in this process:

- 5,000 open event streams: server RSS in total, database connections, change-to-client delivery
  (every stream must receive every change; the time from the PATCH's answer to the last byte of
  the event on each stream), CPU of the server while the streams stay idle;
- 1,000 waiting ``changes?wait=`` long-polls, all answered by one change;
- slow clients: 200 connections sending a header line every 5 s and 2,000 idle streams, against
  ``/healthz`` latency and the list's throughput undisturbed;
- the list's throughput on this stack against gunicorn's sync workers (``GUNICORN_WORKER=sync``, the
  former ``make serve``) on port 8851, in interleaved rounds.

Every server started here is stopped by its process id; every wait is bounded. Results go to
``bench/watch.json``, a section of BENCHMARKS.md and ``bench/watch.png`` (``watch-sqlite.*`` and a
section of its own for a run on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
PORT = 8850
SYNC_PORT = 8851
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/scale_nodes_wwatch_bench"
SECRET = "watch-bench-key-" + "x" * 50
NODES = 1000
SECTION = "## Live watch: event streams, long-polls and slow clients"
# A run on SQLite (--sqlite) has a section and files of its own, next to PostgreSQL's.
SQLITE_SECTION = "## Live watch on SQLite, the embedded default"

sys.path.insert(0, str(REPO))
from bench.servers import SERVED_STACK, child_pids, start_gunicorn, stop_gunicorn  # noqa: E402
from bench.sse import EventStream  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scale_nodes.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_MAX_REQUESTS": "0",
        "GUNICORN_GRACEFUL_TIMEOUT": "3",
        # Every stream and long-poll of the benchmark comes from 127.0.0.1, one client to the caps.
        "WATCH_MAX_PER_CLIENT": "5000",
        "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "scale-nodes-watch-bench-static"),
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return result.stdout


def recreate_database(database_url: str) -> None:
    """Drop the database of ``database_url`` and create it empty (a PostgreSQL database, or an SQLite file)."""
    if database_url.startswith("postgres"):
        import psycopg2

        name = database_url.rsplit("/", 1)[1]
        connection = psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
    else:
        Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)


def prepare(database_url: str) -> str:
    """A fresh database with NODES nodes; the token of a superuser."""
    recreate_database(database_url)
    env = _env(database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_nodes", "--count", str(NODES), "--prefix", "watch-", "--domain", "bench.test")
    manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; "
           "get_user_model().objects.create_user('watch-bench', is_superuser=True)")  # fmt: skip
    manage(env, "collectstatic", "--noinput", "-v", "0")
    return manage(env, "create_api_token", "watch-bench", "--expires", "P1D").strip()


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class Server:
    """One gunicorn instance (master and workers), stopped by its process id."""

    def __init__(self, *, port: int, database_url: str, log: Path, **env: str) -> None:
        self.port = port
        self.log = log
        self.env = _env(database_url, GUNICORN_BIND=f"127.0.0.1:{port}", **env)
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        self.process = start_gunicorn(SERVED_STACK, env=self.env, log=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-2000:])
            if _healthy(self.port) and len(self.workers()) >= 1:
                time.sleep(2)
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"no server on {self.port}")

    def workers(self) -> list[int]:
        if self.process is None:
            raise RuntimeError("not started")
        return sorted(child_pids(self.process.pid))

    def pids(self) -> list[int]:
        if self.process is None:
            raise RuntimeError("not started")
        return [self.process.pid, *self.workers()]

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> float:
        ticks = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None:
            stop_gunicorn(self.process)


async def get(port: int, path: str, *, timeout: float = 10, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a new connection; (0, b"") when it fails."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, TimeoutError):
        return 0, b""
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write((head + "\r\n").encode())
        data = await asyncio.wait_for(reader.read(), timeout)
        return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]
    except (OSError, TimeoutError, IndexError, ValueError):
        return 0, b""
    finally:
        writer.transport.abort()


async def newest_index(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v6/nodes/changes/?page_size=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return int(re.search(rb"(?i)x-registry-index: *(\d+)", data).group(1))


async def patch(port: int, token: str, node_id: int, reason: str) -> float:
    """Pause node ``node_id``; the monotonic time its answer arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"is_paused": True, "pause_reason": reason}).encode()
    writer.write(
        f"PATCH /v6/nodes/{node_id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    if b" 204 " not in data.split(b"\r\n", 1)[0]:
        raise RuntimeError(data[:300])
    return time.monotonic()


async def open_streams(port: int, count: int) -> list[EventStream]:
    streams: list[EventStream] = []
    for start in range(0, count, 250):
        batch = await asyncio.gather(*(EventStream(port).open(timeout=30) for _ in range(min(250, count - start))))
        streams += batch
    bad = [s.status for s in streams if s.status != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} streams refused: {bad[:5]}")
    # Read the first heartbeat of each.
    await asyncio.gather(*(s.read_until(lambda s: s.heartbeats >= 1, timeout=30) for s in streams))
    return streams


async def delivery(port: int, token: str, streams: list[EventStream], *, changes: int) -> list[float]:
    """Seconds from each PATCH's answer to its event's arrival, on every stream.

    The streams note when their bytes arrive (``EventStream``) and are parsed only after a pause,
    so the client does no work of its own while the servers deliver a change.
    """
    latencies: list[float] = []
    for n in range(changes):
        seen = [len(s.events) for s in streams]
        sent = await patch(port, token, 1 + n % NODES, f"delivery {n} {time.time()}")
        deadline = time.monotonic() + 30
        pending = list(zip(streams, seen, strict=True))
        while pending:
            await asyncio.sleep(1.0 if len(pending) == len(streams) else 0.25)
            for s, _ in pending:
                s.take()
            pending = [(s, k) for s, k in pending if len(s.events) <= k]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} streams did not get change {n} within 30 s")
        latencies += [max(0.0, s.events[k].received - sent) for s, k in zip(streams, seen, strict=True)]
        await asyncio.sleep(0.2)
    return latencies


def db_connections(database_url: str, *, listening: bool = False) -> int | None:
    """The server's sessions on its database (``listening``: only those whose last statement was a LISTEN)."""
    if not database_url.startswith("postgres"):
        return None
    import psycopg2

    connection = psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND (NOT %s OR query LIKE 'LISTEN %%')",
            [database_url.rsplit("/", 1)[1], listening],
        )
        count = cursor.fetchone()[0]
    connection.close()
    return count


async def long_polls(port: int, token: str, count: int) -> dict:
    after = await newest_index(port)
    started = time.monotonic()
    tasks = [
        asyncio.create_task(get(port, f"/v6/nodes/changes/?after={after}&wait=30", timeout=40)) for _ in range(count)
    ]
    await asyncio.sleep(5)
    waiting = sum(not t.done() for t in tasks)
    sent = await patch(port, token, 5, f"long-poll {time.time()}")
    results = await asyncio.gather(*tasks)
    answered = time.monotonic() - sent
    ok = sum(1 for status, body in results if status == 200 and b'"results":[{' in body)
    return {"count": count, "still_waiting_after_5s": waiting, "answered_with_the_change": ok,
            "all_answered_within_s": round(answered, 3), "elapsed_s": round(time.monotonic() - started, 1)}  # fmt: skip


async def list_throughput(port: int, *, seconds: float, concurrency: int = 8) -> float:
    """Requests per second of ``GET /v6/nodes/?page_size=100`` on keep-alive connections."""
    stop = time.monotonic() + seconds
    counts = [0] * concurrency

    async def client(i: int) -> None:
        request = b"GET /v6/nodes/?page_size=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop:
            try:
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed the connection between requests (sync workers close every one).
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if b" 200 " in head.split(b"\r\n", 1)[0]:
                counts[i] += 1
            if re.search(rb"(?i)\r\nconnection: *close", head):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return sum(counts) / (time.monotonic() - started)


async def healthz_latencies(port: int, *, probes: int) -> list[float]:
    latencies = []
    for _ in range(probes):
        started = time.monotonic()
        status, _ = await get(port, "/healthz", timeout=5)
        latencies.append(time.monotonic() - started if status == 200 else 5.0)
        await asyncio.sleep(0.05)
    return latencies


async def slow_clients(port: int, count: int, stop: asyncio.Event) -> None:
    """``count`` connections sending a request's headers one line every 5 s, until ``stop``."""

    async def one(i: int) -> None:
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /v6/nodes/ HTTP/1.1\r\n")
            line = 0
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)
                writer.write(b"X-Slow-%d: %d\r\n" % (line, i))
                line += 1
                await writer.drain()
            writer.transport.abort()

    await asyncio.gather(*(one(i) for i in range(count)))


async def measure(args: argparse.Namespace, database_url: str, token: str, log_dir: Path) -> dict:
    results: dict = {"database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite"}
    streams_count = 500 if args.smoke else 5000
    server = Server(port=PORT, database_url=database_url, log=log_dir / "asgi.log")
    try:
        server.start()
        results["workers"] = len(server.workers())
        results["rss_mb_idle_no_streams"] = round(server.rss_mb(), 1)
        results["db_connections_before"] = db_connections(database_url)
        streams = await open_streams(PORT, streams_count)
        # With only the streams served so far: per process, the listener and the reader of the changes,
        # and the connection of the requests' thread (each stream's start reads the newest index).
        results["db_connections_streams_only"] = db_connections(database_url)
        results["db_listeners_streams_only"] = db_connections(database_url, listening=True)
        # Every process's reader has started once a change went through it.
        await delivery(PORT, token, streams, changes=1)
        results["streams"] = streams_count
        results["rss_mb_with_streams"] = round(server.rss_mb(), 1)
        results["db_connections_with_streams"] = db_connections(database_url)
        latencies = await delivery(PORT, token, streams, changes=5 if args.smoke else 20)
        results["delivery_s"] = {
            "p50": round(percentile(latencies, 0.5), 3),
            "p99": round(percentile(latencies, 0.99), 3),
            "max": round(max(latencies), 3),
            "deliveries": len(latencies),
        }
        results["delivery_histogram"] = latencies
        cpu_before, wall = server.cpu_seconds(), time.monotonic()
        idle_seconds = 5 if args.smoke else 30
        await asyncio.gather(
            *(s.read_until(lambda s: False, timeout=idle_seconds) for s in streams[:1]), return_exceptions=True
        )
        # The other streams' heartbeats are read afterwards (they sat in the socket buffers).
        results["idle_cpu_percent_of_one_core"] = round(
            100 * (server.cpu_seconds() - cpu_before) / (time.monotonic() - wall), 2
        )
        for s in streams:
            s.close()
        await asyncio.sleep(2)
        results["long_polls"] = await long_polls(PORT, token, 200 if args.smoke else 1000)

        # Slow clients: undisturbed list throughput and healthz, then with the slow and idle clients.
        round_seconds = 3 if args.smoke else 8
        results["healthz_undisturbed_s"] = _summary(await healthz_latencies(PORT, probes=100))
        undisturbed = await list_throughput(PORT, seconds=round_seconds)
        stop = asyncio.Event()
        slow = asyncio.create_task(slow_clients(PORT, 200, stop))
        idle = await open_streams(PORT, 2000)
        await asyncio.sleep(6)
        healthz = await healthz_latencies(PORT, probes=200)
        disturbed = await list_throughput(PORT, seconds=round_seconds)
        stop.set()
        await slow
        for s in idle:
            s.close()
        results["slow_clients"] = {
            "slow_header_connections": 200,
            "idle_streams": 2000,
            "healthz_s": _summary(healthz),
            "list_rps_undisturbed": round(undisturbed, 1),
            "list_rps_disturbed": round(disturbed, 1),
            "ratio": round(disturbed / undisturbed, 3),
        }
    finally:
        server.stop()
    # The list on both stacks, interleaved rounds on fresh instances.
    asgi = Server(port=PORT, database_url=database_url, log=log_dir / "asgi.log")
    sync = Server(port=SYNC_PORT, database_url=database_url, log=log_dir / "sync.log", GUNICORN_WORKER="sync")
    rounds: dict[str, list[float]] = {"asgi": [], "sync": []}
    try:
        asgi.start()
        sync.start()
        results["sync_workers"] = len(sync.workers())
        for port in (PORT, SYNC_PORT):
            await list_throughput(port, seconds=2)
        for _ in range(2 if args.smoke else 4):
            for name, port in (("asgi", PORT), ("sync", SYNC_PORT)):
                rounds[name].append(await list_throughput(port, seconds=3 if args.smoke else 8))
    finally:
        asgi.stop()
        sync.stop()
    results["list_rps_rounds"] = {name: [round(v, 1) for v in values] for name, values in rounds.items()}
    results["list_ratio_asgi_to_sync"] = round(statistics.median(rounds["asgi"]) / statistics.median(rounds["sync"]), 3)
    return results


def _summary(latencies: list[float]) -> dict:
    return {name: round(percentile(latencies, q), 4) for name, q in (("p50", 0.5), ("p99", 0.99))} | {
        "max": round(max(latencies), 4)
    }


def _outputs(results: dict) -> tuple[str, str]:
    """The BENCHMARKS.md heading and the stem of the bench/ files of a run on ``results``' database."""
    return (SQLITE_SECTION, "watch-sqlite") if results["database"] == "SQLite" else (SECTION, "watch")


def _connections_row(results: dict) -> str:
    head = "| database connections of the instance with them open | <= 2 per process for the streams | "
    if results["db_connections_streams_only"] is None:
        # An embedded file: no sessions to count. Each process's reader polls the clock on its own
        # connection, and its request thread has one.
        return head + "not counted on SQLite (an embedded file, no server sessions) |"
    return head + (
        f"{results['db_connections_streams_only']} for {results['workers']} processes with only the streams served: "
        f"{results['db_listeners_streams_only']} listening and one reader of the changes per process, plus each "
        "process's request-thread connection, which every request shares (a stream's start reads the newest "
        f"index); {results['db_connections_with_streams']} after PATCH requests too (before any stream: "
        f"{results['db_connections_before']}) |"
    )


def report(results: dict, *, command: str) -> str:
    d, s, lp = results["delivery_s"], results["slow_clients"], results["long_polls"]
    heading, stem = _outputs(results)
    lines = [
        heading,
        "",
        f"`{command}` on this 2-core machine, {results['database']}, one instance of `make serve` "
        f"({results['workers']} ASGI worker processes), {NODES} nodes; the load comes from an asyncio client "
        "in the benchmark's own process on 127.0.0.1 (it shares the two cores with the server and the database).",
        "",
        "| measure | target | result |",
        "|---|---|---|",
        f"| open event streams | 5,000 | {results['streams']:,} |",
        f"| server RSS, all processes, with them open | <= 300 MB | {results['rss_mb_with_streams']} MB "
        f"({results['rss_mb_idle_no_streams']} MB before) |",
        _connections_row(results),
        f"| change to client (the PATCH's answer to the event's last byte at the client), every stream, "
        f"{d['deliveries']:,} deliveries | p99 <= 1 s (PostgreSQL), 2 s (SQLite) | "
        f"p50 {d['p50']} s, p99 {d['p99']} s, max {d['max']} s |",
        f"| server CPU with the streams idle | - | {results['idle_cpu_percent_of_one_core']} % of one core |",
        f"| `changes?wait=30` long-polls waiting at once | 1,000 | {lp['still_waiting_after_5s']:,} still waiting "
        f"after 5 s; {lp['answered_with_the_change']:,} answered with the change, all within "
        f"{lp['all_answered_within_s']} s of it |",
        f"| `/healthz` with 200 slow-header clients and 2,000 idle streams | p99 <= 100 ms | "
        f"p50 {s['healthz_s']['p50'] * 1000:.1f} ms, p99 {s['healthz_s']['p99'] * 1000:.1f} ms "
        f"(undisturbed p99 {results['healthz_undisturbed_s']['p99'] * 1000:.1f} ms) |",
        f"| list throughput with them, against undisturbed | >= 0.5x | {s['ratio']}x "
        f"({s['list_rps_disturbed']} / {s['list_rps_undisturbed']} requests/s) |",
        f"| list throughput, ASGI worker against sync workers ({results['sync_workers']}), medians of interleaved "
        f"rounds | >= 0.9x | {results['list_ratio_asgi_to_sync']}x (ASGI {results['list_rps_rounds']['asgi']}, "
        f"sync {results['list_rps_rounds']['sync']} requests/s) |",
        "",
        "The list rounds are `GET /v6/nodes/?page_size=100` on 8 keep-alive connections. The plot "
        f"(`bench/{stem}.png`) shows the delivery times over all streams; an event that arrived before the "
        "PATCH's own answer counts as 0.",
        "",
    ]
    return "\n".join(lines)


def write_outputs(results: dict, *, command: str) -> None:
    _, stem = _outputs(results)
    (REPO / "bench" / f"{stem}.json").write_text(
        json.dumps({k: v for k, v in results.items() if k != "delivery_histogram"}, indent=2) + "\n"
    )
    write_section(results, command=command)
    plot(results["delivery_histogram"], results=results, path=REPO / "bench" / f"{stem}.png")


def write_section(results: dict, *, command: str) -> None:
    """Write the run's section of BENCHMARKS.md, in place of the one of an earlier run on the same database."""
    heading, _ = _outputs(results)
    section = report(results, command=command)
    benchmarks = REPO / "BENCHMARKS.md"
    text = benchmarks.read_text() if benchmarks.exists() else ""
    if heading in text:
        before, _, rest = text.partition(heading)
        after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    benchmarks.write_text(text)


def plot(latencies: list[float], *, results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.hist([v * 1000 for v in latencies], bins=60, color="#4c72b0")
    axis.set_xlabel("change to client (ms)")
    axis.set_ylabel("deliveries")
    axis.set_title(f"{results['streams']:,} event streams, {results['database']}: delivery of each change")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="A few seconds, 500 streams; writes nothing.")
    parser.add_argument("--sqlite", action="store_true", help="An embedded SQLite file instead of PostgreSQL.")
    parser.add_argument(
        "--render", action="store_true", help="Only write the BENCHMARKS.md section again from the saved bench/*.json."
    )
    args = parser.parse_args()
    command = "make bench-watch" + (" BENCH_WATCH_ARGS=--sqlite" if args.sqlite else "")
    if args.render:
        _, stem = _outputs({"database": "SQLite" if args.sqlite else "PostgreSQL"})
        saved = REPO / "bench" / f"{stem}.json"
        write_section(json.loads(saved.read_text()), command=command)
        return
    log_dir = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    database_url = (
        f"sqlite:///{log_dir / 'watch.sqlite3'}"
        if args.sqlite
        else os.environ.get("WATCH_BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    token = prepare(database_url)
    results = asyncio.run(asyncio.wait_for(measure(args, database_url, token, log_dir), 1800))
    summary = {k: v for k, v in results.items() if k != "delivery_histogram"}
    print(json.dumps(summary, indent=2))
    if not args.smoke:
        write_outputs(results, command=command)


if __name__ == "__main__":
    main()
