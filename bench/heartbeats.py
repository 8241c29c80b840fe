"""The heartbeat benchmark (``make bench-heartbeats``): 100,000 nodes heartbeating on the served stack, on PostgreSQL.

Serves the project with ``make serve``'s config (gunicorn's ASGI worker, one process per core; each
process runs its liveness reaper) on a database of its own (``HEARTBEATS_BENCH_DATABASE_URL``), on
127.0.0.1:``HEARTBEATS_BENCH_PORT`` (8880), and measures with an asyncio client in this process:

- heartbeats: every node once every 10 s, as batches of 1,000 from 8 clients (10,000 heartbeats a
  second) for 60 s: heartbeats per second acknowledged, the batch latency (p50, p99), and whether
  every node is online at the end (no heartbeat lost);
- the plain list (``page_size=100``) and PATCH throughput while the heartbeats run, against the
  same undisturbed, in windows before, during and after (medians of each);
- 1,000 nodes stop: the time from each one's last heartbeat to its ``offline`` event (on each of
  several open streams), and that each gets exactly one on every stream and on the change feed;
  then they come back: one ``online`` event each;
- registering 1,000,000 nodes over ``POST /v6/nodes/`` in batches of 1,000, against ``seed_nodes``,
  each on an empty database.

Every server started here is stopped by its process id; every wait is bounded. Results go to
``bench/heartbeats.json``, a section of BENCHMARKS.md and ``bench/heartbeats.png``. ``--smoke`` runs
the same steps at a small scale in well under a minute and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.sse import EventStream
from bench.watch import REPO, Server, _env, manage, newest_index, percentile, recreate_database

PORT = int(os.environ.get("HEARTBEATS_BENCH_PORT", "8880"))
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/scale_nodes_heartbeats_bench"
SECTION = "## Heartbeats: 100,000 nodes reporting liveness"
USER = "heartbeats-bench"


@dataclass(frozen=True)
class Scale:
    """How big a run is: the full benchmark, or the smoke run that checks the harness in seconds."""

    nodes: int
    batch: int
    clients: int
    period: float
    seconds: float
    window: float
    ttl: int
    stopped: int
    streams: int
    registered: int


FULL = Scale(
    nodes=100_000,
    batch=1000,
    clients=8,
    period=10.0,
    seconds=60.0,
    window=5.0,
    ttl=30,
    stopped=1000,
    streams=5,
    registered=1_000_000,
)
SMOKE = Scale(
    nodes=1000, batch=100, clients=2, period=1.0, seconds=3.0, window=0.5, ttl=2, stopped=20, streams=2, registered=2000
)


def hostnames(count: int) -> list[str]:
    """The hostnames ``seed_nodes --count count --prefix hb- --domain bench.test`` registers, in its order."""
    width = len(str(count))
    return [f"hb-{number:0{width}d}.bench.test" for number in range(1, count + 1)]


def prepare(database_url: str, *, nodes: int) -> str:
    """A fresh database with ``nodes`` nodes; the token of a superuser."""
    recreate_database(database_url)
    env = _env(database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    if nodes:
        manage(env, "seed_nodes", "--count", str(nodes), "--prefix", "hb-", "--domain", "bench.test", "--quiet")
    manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; "
           f"get_user_model().objects.create_user('{USER}', is_superuser=True)")  # fmt: skip
    manage(env, "collectstatic", "--noinput", "-v", "0")
    return manage(env, "create_api_token", USER, "--expires", "P1D").strip()


class Connection:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, method: str, path: str, *, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
        """The status and body of one request; reconnects once when the server closed the connection."""
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                if body:
                    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                self.writer.write((head + "\r\n").encode() + body)
                raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 60)
                length = int(m.group(1)) if (m := re.search(rb"(?i)content-length: *(\d+)", raw)) else 0
                data = await self.reader.readexactly(length)
                if re.search(rb"(?i)\r\nconnection: *close", raw):
                    self.close()
                return int(raw.split(b" ", 2)[1]), data
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None


class HeartbeatLoad:
    """Every node of ``names`` (except those held back) once per ``period``, as batches spread over the clients.

    Open loop: batch ``j`` is due at ``start + j * period / batches``, whoever is free, so a slow
    answer delays the batches of one client, not the schedule.
    """

    def __init__(self, port: int, token: str, scale: Scale, names: list[str]) -> None:
        self.port, self.token, self.scale = port, token, scale
        self.batches = [names[i : i + scale.batch] for i in range(0, len(names), scale.batch)]
        self.held: set[str] = set()
        self.latencies: list[float] = []
        self.acknowledged: list[tuple[float, int]] = []
        self.failures: Counter = Counter()
        # When each hostname's latest heartbeat was acknowledged (monotonic).
        self.last_seen: dict[str, float] = {}
        self.stop = asyncio.Event()

    async def run(self) -> None:
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.scale.clients * 4)
        workers = [asyncio.create_task(self._client(queue)) for _ in range(self.scale.clients)]
        interval = self.scale.period / len(self.batches)
        start, j = time.monotonic(), 0
        while not self.stop.is_set():
            due = start + j * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            batch = [name for name in self.batches[j % len(self.batches)] if name not in self.held]
            if batch:
                await queue.put(batch)
            j += 1
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)

    async def _client(self, queue: asyncio.Queue) -> None:
        connection = Connection(self.port)
        headers = f"Authorization: Token {self.token}\r\n"
        while (batch := await queue.get()) is not None:
            body = json.dumps({"hostnames": batch}).encode()
            sent = time.monotonic()
            try:
                status, data = await connection.send("POST", "/v6/nodes/heartbeats/", body=body, headers=headers)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                self.failures[type(exc).__name__] += 1
                connection.close()
                continue
            done = time.monotonic()
            if status != 200:
                self.failures[status] += 1
                continue
            answer = json.loads(data)
            self.latencies.append(done - sent)
            self.acknowledged.append((done, answer["seen"]))
            for name in batch:
                self.last_seen[name] = sent
        connection.close()


async def meter(port: int, token: str, *, kind: str, seconds: float, node_ids: list[int], clients: int = 4) -> float:
    """Requests per second of the plain list (``page_size=100``) or of PATCHes (pause/resume) over ``seconds``."""
    stop = time.monotonic() + seconds
    counts = [0] * clients
    headers = f"Authorization: Token {token}\r\n"

    async def client(i: int) -> None:
        connection = Connection(port)
        n = i
        while time.monotonic() < stop:
            if kind == "list":
                status, _ = await connection.send("GET", "/v6/nodes/?page_size=100")
            else:
                node_id = node_ids[n % len(node_ids)]
                body = json.dumps({"is_paused": n % 2 == 0, "pause_reason": "bench" if n % 2 == 0 else None})
                status, _ = await connection.send("PATCH", f"/v6/nodes/{node_id}/", body=body.encode(), headers=headers)
            n += clients
            counts[i] += status in (200, 204)
        connection.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return sum(counts) / (time.monotonic() - started)


async def liveness_count(port: int, state: str) -> int:
    connection = Connection(port)
    status, data = await connection.send("GET", f"/v6/nodes/liveness/?state={state}&page_size=1")
    connection.close()
    if status != 200:
        raise RuntimeError(f"liveness answered {status}: {data[:200]!r}")
    return json.loads(data)["count"]


async def changes_after(port: int, after: int) -> list[dict]:
    """Every node on the change feed after ``after``."""
    connection = Connection(port)
    results: list[dict] = []
    while True:
        status, data = await connection.send("GET", f"/v6/nodes/changes/?after={after}&page_size=1000")
        if status != 200:
            raise RuntimeError(f"the change feed answered {status}: {data[:200]!r}")
        page = json.loads(data)
        results += page["results"]
        after = page["index"]
        if not page["more"]:
            break
    connection.close()
    return results


async def phase_heartbeats(port: int, token: str, scale: Scale, names: list[str]) -> dict:
    """The heartbeat load, with list and PATCH windows before, during and after it."""
    node_ids = list(range(1, 201))
    undisturbed: dict[str, list[float]] = {"list": [], "patch": []}
    during: dict[str, list[float]] = {"list": [], "patch": []}
    for _ in range(2):
        for kind in ("list", "patch"):
            undisturbed[kind].append(await meter(port, token, kind=kind, seconds=scale.window, node_ids=node_ids))
    load = HeartbeatLoad(port, token, scale, names)
    runner = asyncio.create_task(load.run())
    started = time.monotonic()
    list_series: list[tuple[float, float]] = []
    while time.monotonic() - started < scale.seconds - 2 * scale.window:
        for kind in ("list", "patch"):
            rate = await meter(port, token, kind=kind, seconds=scale.window, node_ids=node_ids)
            during[kind].append(rate)
            if kind == "list":
                list_series.append((time.monotonic() - started, rate))
    await asyncio.sleep(max(0.0, scale.seconds - (time.monotonic() - started)))
    load.stop.set()
    await runner
    elapsed = time.monotonic() - started
    online = await liveness_count(port, "online")
    for _ in range(2):
        for kind in ("list", "patch"):
            undisturbed[kind].append(await meter(port, token, kind=kind, seconds=scale.window, node_ids=node_ids))
    seen = sum(count for _, count in load.acknowledged)
    series = [0] * (int(elapsed) + 1)
    for at, count in load.acknowledged:
        series[min(int(at - started), len(series) - 1)] += count
    return {
        "heartbeats_per_second": seen / elapsed,
        "target_per_second": scale.nodes / scale.period,
        "batches": len(load.latencies),
        "batch_p50_ms": 1000 * percentile(load.latencies, 0.5),
        "batch_p99_ms": 1000 * percentile(load.latencies, 0.99),
        "failures": {str(k): v for k, v in load.failures.items()},
        "online_at_end": online,
        "nodes": scale.nodes,
        "list_undisturbed": statistics.median(undisturbed["list"]),
        "list_during": statistics.median(during["list"]),
        "patch_undisturbed": statistics.median(undisturbed["patch"]),
        "patch_during": statistics.median(during["patch"]),
        "windows": {"undisturbed": undisturbed, "during": during},
        "heartbeat_series": series,
        "list_series": list_series,
    }


async def phase_stop_and_return(port: int, token: str, scale: Scale, names: list[str]) -> dict:
    """Hold back ``scale.stopped`` nodes while the others go on; time their offline events, then bring them back."""
    load = HeartbeatLoad(port, token, scale, names)
    runner = asyncio.create_task(load.run())
    # Every node heard once under this load, and the nodes that went offline since the last phase recorded
    # back online, before the stop: the change index stands still.
    await asyncio.sleep(scale.period + 1)
    start = await newest_index(port)
    for _ in range(60):
        await asyncio.sleep(3)
        start, previous = await newest_index(port), start
        if start == previous:
            break
    streams = [
        await EventStream(port, f"/v6/nodes/events/?after={start}").open(timeout=30) for _ in range(scale.streams)
    ]
    stopped = names[:: max(1, len(names) // scale.stopped)][: scale.stopped]
    load.held = set(stopped)
    held_at = time.monotonic()
    deadline = held_at + scale.period + scale.ttl + 30

    def seen(state: str, count: int) -> Callable[[EventStream], bool]:
        return lambda s: sum(1 for e in s.events if f'"state":"{state}"' in e.data) >= count

    await asyncio.gather(
        *(s.read_until(seen("offline", len(stopped)), timeout=max(1.0, deadline - time.monotonic())) for s in streams),
        return_exceptions=True,
    )
    offline_events = [[(e, e.node()) for e in s.events] for s in streams]
    delays = [
        node_event.received - load.last_seen[node["hostname"]]
        for node_event, node in offline_events[0]
        if node.get("state") == "offline" and node["hostname"] in load.last_seen
    ]
    feed = await changes_after(port, start)
    back_start = await newest_index(port)
    load.held = set()
    back_at = time.monotonic()
    await asyncio.gather(
        *(s.read_until(seen("online", len(stopped)), timeout=scale.period + 60) for s in streams),
        return_exceptions=True,
    )
    await asyncio.sleep(3)
    for s in streams:
        s.take()
        s.close()
    online_delays = [
        e.received - back_at for e in streams[0].events if e.node().get("state") == "online" and e.id > back_start
    ]
    load.stop.set()
    await runner
    per_stream = []
    for s in streams:
        counts = Counter((e.node()["hostname"], e.node().get("state")) for e in s.events)
        per_stream.append(
            {
                "offline_once": sum(1 for name in stopped if counts[(name, "offline")] == 1),
                "online_once": sum(1 for name in stopped if counts[(name, "online")] == 1),
                "other_events": sum(v for (name, _), v in counts.items() if name not in set(stopped)),
                "repeats": sum(v - 1 for v in counts.values() if v > 1),
            }
        )
    feed_counts = Counter(node["hostname"] for node in feed)
    return {
        "stopped": len(stopped),
        "ttl_seconds": scale.ttl,
        "offline_events": len(delays),
        "offline_delay_max_s": max(delays) if delays else None,
        "offline_delay_p50_s": percentile(delays, 0.5) if delays else None,
        "within_ttl_plus_5": sum(1 for d in delays if d <= scale.ttl + 5),
        "streams": per_stream,
        "feed_once": sum(1 for name in stopped if feed_counts[name] == 1),
        "feed_others": sum(v for name, v in feed_counts.items() if name not in set(stopped)),
        "online_delay_max_s": max(online_delays) if online_delays else None,
        "failures": {str(k): v for k, v in load.failures.items()},
    }


async def register_over_post(port: int, token: str, scale: Scale, *, clients: int = 4) -> dict:
    """Seconds to register ``scale.registered`` new nodes over ``POST /v6/nodes/`` in batches of 1,000."""
    batches = [
        [f"reg-{n}.bench.test" for n in range(start, min(start + 1000, scale.registered))]
        for start in range(0, scale.registered, 1000)
    ]
    queue: asyncio.Queue = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    created = [0] * clients
    headers = f"Authorization: Token {token}\r\n"

    async def client(i: int) -> None:
        connection = Connection(port)
        while not queue.empty():
            batch = queue.get_nowait()
            status, data = await connection.send(
                "POST", "/v6/nodes/", body=json.dumps({"hostnames": batch}).encode(), headers=headers
            )
            if status != 200:
                raise RuntimeError(f"registration answered {status}: {data[:200]!r}")
            created[i] += len(json.loads(data)["created"])
        connection.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"nodes": sum(created), "seconds": time.monotonic() - started, "clients": clients}


def seed_seconds(database_url: str, count: int) -> float:
    recreate_database(database_url)
    env = _env(database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    started = time.monotonic()
    manage(env, "seed_nodes", "--count", str(count), "--prefix", "seed-", "--domain", "bench.test", "--quiet")
    return time.monotonic() - started


def _server(database_url: str, log_dir: Path, scale: Scale) -> Server:
    return Server(
        port=PORT,
        database_url=database_url,
        log=log_dir / "gunicorn.log",
        NODE_HEARTBEAT_TTL=str(scale.ttl),
        NODE_REAP_SECONDS="1",
    )


async def measure(scale: Scale, database_url: str, log_dir: Path) -> dict:
    token = prepare(database_url, nodes=scale.nodes)
    names = hostnames(scale.nodes)
    server = _server(database_url, log_dir, scale).start()
    try:
        heartbeats = await phase_heartbeats(PORT, token, scale, names)
        transitions = await phase_stop_and_return(PORT, token, scale, names)
    finally:
        server.stop()
    token = prepare(database_url, nodes=0)
    server = _server(database_url, log_dir, scale).start()
    try:
        registration = await register_over_post(PORT, token, scale)
    finally:
        server.stop()
    seeded = seed_seconds(database_url, scale.registered)
    return {
        "scale": asdict(scale),
        "revision": _revision(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "heartbeats": heartbeats,
        "transitions": transitions,
        "registration": {**registration, "seed_nodes_seconds": seeded},
    }


def _revision() -> str:
    import subprocess

    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip()


def verdicts(results: dict) -> list[tuple[str, str, bool]]:
    """The issue's targets: (target, measured, met)."""
    hb, tr, reg = results["heartbeats"], results["transitions"], results["registration"]
    list_ratio = hb["list_during"] / hb["list_undisturbed"]
    patch_ratio = hb["patch_during"] / hb["patch_undisturbed"]
    streams_ok = all(s["offline_once"] == tr["stopped"] and s["online_once"] == tr["stopped"] for s in tr["streams"])
    return [
        (
            f"{hb['target_per_second']:,.0f} heartbeats/s sustained",
            f"{hb['heartbeats_per_second']:,.0f}/s",
            hb["heartbeats_per_second"] >= 0.98 * hb["target_per_second"],
        ),
        ("heartbeat batch p99 <= 250 ms", f"{hb['batch_p99_ms']:.0f} ms", hb["batch_p99_ms"] <= 250),
        ("list during >= 0.7 of undisturbed", f"{list_ratio:.2f}", list_ratio >= 0.7),
        ("PATCH during >= 0.7 of undisturbed", f"{patch_ratio:.2f}", patch_ratio >= 0.7),
        (
            "no heartbeat lost: every node online at the end",
            f"{hb['online_at_end']:,} of {hb['nodes']:,}; failures {hb['failures'] or 'none'}",
            hb["online_at_end"] == hb["nodes"] and not hb["failures"],
        ),
        (
            f"each of {tr['stopped']:,} stopped nodes offline within TTL + 5 s",
            f"{tr['within_ttl_plus_5']:,} (slowest {tr['offline_delay_max_s'] or 0:.1f} s after its last heartbeat)",
            tr["within_ttl_plus_5"] == tr["stopped"],
        ),
        (
            "exactly one offline and one online event each, on every stream; once on the change feed",
            f"{len(tr['streams'])} streams: "
            + ", ".join(f"{s['offline_once']}/{s['online_once']}" for s in tr["streams"])
            + f"; feed {tr['feed_once']}",
            streams_ok and tr["feed_once"] == tr["stopped"] and tr["feed_others"] == 0,
        ),
        (
            f"seed_nodes: {results['scale']['registered']:,} nodes in <= 60 s",
            f"{reg['seed_nodes_seconds']:.1f} s",
            reg["seed_nodes_seconds"] <= 60,
        ),
    ]


def report(results: dict) -> str:
    hb, tr, reg = results["heartbeats"], results["transitions"], results["registration"]
    scale = results["scale"]
    rows = "\n".join(f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in verdicts(results))
    figures = "\n".join(
        f"| {name} | {value} |"
        for name, value in (
            ("heartbeats acknowledged per second", f"{hb['heartbeats_per_second']:,.0f}"),
            (f"batches of {scale['batch']:,} answered", f"{hb['batches']:,}"),
            ("batch latency p50 / p99", f"{hb['batch_p50_ms']:.0f} ms / {hb['batch_p99_ms']:.0f} ms"),
            ("list req/s undisturbed / during", f"{hb['list_undisturbed']:.0f} / {hb['list_during']:.0f}"),
            ("PATCH req/s undisturbed / during", f"{hb['patch_undisturbed']:.0f} / {hb['patch_during']:.0f}"),
            (
                "stopped nodes: offline event after their last heartbeat, p50 / max",
                f"{tr['offline_delay_p50_s'] or 0:.1f} s / {tr['offline_delay_max_s'] or 0:.1f} s",
            ),
            (
                "returning nodes: online event after their heartbeats resumed (within one period), max",
                f"{tr['online_delay_max_s'] or 0:.1f} s",
            ),
            (
                f"register {reg['nodes']:,} nodes over `POST /v6/nodes/` (batches of 1,000, {reg['clients']} clients)",
                f"{reg['seconds']:.1f} s",
            ),
            (f"register {scale['registered']:,} nodes with `seed_nodes`", f"{reg['seed_nodes_seconds']:.1f} s"),
        )
    )
    return f"""{SECTION}

Produced by `make bench-heartbeats` on {results["date"]} at {results["revision"]} ({results["cpus"]} CPUs, shared
with other work; PostgreSQL on the same machine). The served stack (`make serve`'s gunicorn config, one ASGI
worker per core, each running its liveness reaper) with `NODE_HEARTBEAT_TTL={scale["ttl"]}`, and an asyncio client
in the benchmark's own process: {scale["nodes"]:,} nodes, each heartbeating every {scale["period"]:.0f} s as batches
of {scale["batch"]:,} from {scale["clients"]} clients (open loop), for {scale["seconds"]:.0f} s. List (`page_size=100`)
and PATCH throughput from 4 keep-alive clients in {scale["window"]:.0f} s windows before and after the load
(undisturbed) and during it; medians shown. Other work on the machine moves these figures from run to run:
compare the ratios, measured side by side, rather than absolute rates.

![heartbeats acknowledged per second and list throughput during the load](bench/heartbeats.png)

| target | measured | met |
|---|---|---|
{rows}

| figure | value |
|---|---:|
{figures}

Raw figures: `bench/heartbeats.json`.
"""


def write_outputs(results: dict) -> None:
    saved = {k: v for k, v in results.items()}
    (REPO / "bench" / "heartbeats.json").write_text(json.dumps(saved, indent=2) + "\n")
    section = report(results)
    benchmarks = REPO / "BENCHMARKS.md"
    text = benchmarks.read_text() if benchmarks.exists() else ""
    if SECTION in text:
        before, _, rest = text.partition(SECTION)
        after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    benchmarks.write_text(text)
    plot(results, REPO / "bench" / "heartbeats.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hb = results["heartbeats"]
    # Whole seconds of the load only: the last, partial one would read as a drop.
    series = hb["heartbeat_series"][: int(results["scale"]["seconds"])]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.plot(range(len(series)), series, color="#4c72b0", label="heartbeats/s")
    axis.set_ylim(bottom=0)
    axis.set_xlabel("seconds into the load")
    axis.set_ylabel("heartbeats acknowledged per second")
    other = axis.twinx()
    other.plot([t for t, _ in hb["list_series"]], [r for _, r in hb["list_series"]], "o-", color="#dd8452")
    other.axhline(hb["list_undisturbed"], color="#dd8452", linestyle="--", linewidth=1)
    other.set_ylabel("list req/s (dashed: undisturbed)")
    other.set_ylim(bottom=0)
    axis.set_title(f"{results['scale']['nodes']:,} nodes heartbeating every {results['scale']['period']:.0f} s")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="The same steps at a small scale; writes nothing.")
    parser.add_argument("--render", action="store_true", help="Only write BENCHMARKS.md again from the saved json.")
    args = parser.parse_args(argv)
    if args.render:
        write_outputs(json.loads((REPO / "bench" / "heartbeats.json").read_text()))
        return 0
    database_url = os.environ.get("HEARTBEATS_BENCH_DATABASE_URL", DEFAULT_DATABASE)
    log_dir = Path(tempfile.mkdtemp(prefix="heartbeats-bench-"))
    scale = SMOKE if args.smoke else FULL
    results = asyncio.run(asyncio.wait_for(measure(scale, database_url, log_dir), 3600))
    rows = verdicts(results)
    for target, measured, met in rows:
        print(f"{'ok ' if met else 'NOT'} {target}: {measured}")
    if not args.smoke:
        write_outputs(results)
    else:
        print(json.dumps({k: v for k, v in results["heartbeats"].items() if "series" not in k}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
