"""The abuse benchmark (``make bench-abuse``): what hostile or careless clients do to ``/healthz`` and the list.

Serves the project as ``make serve`` does (gunicorn with the repository's config, 2 processes, through
``bench.watch.Server``) on a PostgreSQL database of its own (``ABUSE_BENCH_DATABASE_URL``) seeded with
20,000 nodes by ``manage.py seed_nodes``, on 127.0.0.1:``ABUSE_BENCH_PORT`` (8860). Throughout, in this
process:

- a probe opens a connection for ``GET /healthz`` every 50 ms (from 127.0.0.2), noting every latency
  and every failure (an unanswered probe counts as its 30 s timeout in the percentiles);
- a meter of list throughput: 4 keep-alive clients doing ``GET /v6/nodes/?page_size=100`` (127.0.0.3);
- a sampler of the instance: the RSS of the master's children and their open files, from /proc.

Each scenario (a function below) runs in interleaved rounds: an undisturbed phase, then its load is set
up, held (the disturbed phase) and torn down, and the instance is given time to recover. The load
comes from client processes of ``bench.abuse_load`` (at most 10,000 connections each) on the loopback
addresses 127.0.0.4-20:

1. ``idle``: 40,000 connections that send nothing (re-opened when the server closes them);
2. ``bodies``: 300 anonymous POSTs declaring 2.5 MB, sending 2.4 MB then a byte every 20 s;
3. ``streams``: 10,000 event streams that barely read, while ``manage.py nodes pause`` pauses 2,000 nodes;
4. ``longpolls``: 8,000 ``changes?wait=60`` long-polls woken at once by one PATCH;
5. ``recycle``: 1,000 streams open on an instance with a low ``GUNICORN_MAX_REQUESTS``;
6. ``sigterm``: 1,000 streams open and SIGTERM to the master; a replacement is started when it exits,
   as a supervisor would.

Refusals (429, 503, closed connections) are outcomes, counted by status; targets are printed PASS/FAIL.
Results go to ``bench/abuse.json``, ``bench/abuse.png`` and the "Abuse: serving limits" section of
BENCHMARKS.md (``--render`` writes the section and the plot again from the JSON); ``--smoke`` runs every
scenario for a few seconds at a tiny scale and writes nothing. Every server and client process started
here is stopped by its process id; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.abuse_load import error_kind, open_socket
from bench.watch import PYTHON, REPO, Server, _env, manage, newest_index, patch, percentile, recreate_database

PORT = int(os.environ.get("ABUSE_BENCH_PORT", "8860"))
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/scale_nodes_bench_abuse"
SECTION = "## Abuse: serving limits"
STEM = "abuse"
PROBE_SOURCE = "127.0.0.2"
LIST_SOURCE = "127.0.0.3"
LOAD_SOURCES = tuple(f"127.0.0.{n}" for n in range(4, 21))
PROBE_EVERY = 0.05
PROBE_TIMEOUT = 30.0
# A health check answered later than this counts as failed (a load balancer's usual timeout).
ANSWERED_WITHIN = 1.0
LIST_CLIENTS = 4
LIST_REQUEST = b"GET /v6/nodes/?page_size=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HEALTHZ_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
SAMPLE_EVERY = 0.5
SCENARIOS = ("idle", "bodies", "streams", "longpolls", "recycle", "sigterm")
# The instance as `make serve` runs it, but for recycling (only the recycle scenario turns it on, so
# that no other scenario meets a recycle by chance) and quiet logs (gunicorn's warnings and errors,
# the service's errors).
INSTANCE_ENV = {
    "WEB_CONCURRENCY": "2",
    "GUNICORN_MAX_REQUESTS": "0",
    "GUNICORN_GRACEFUL_TIMEOUT": "30",
    "LOG_LEVEL": "WARNING",
    "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "scale-nodes-abuse-bench-static"),
}
# Settings of the instance for one scenario only, where the scenario needs more from one client than
# the defaults allow (stated in the output). Caps on streams per client would refuse most of a
# scenario's streams, which come from 17 addresses; the refusals are counted either way.
SCENARIO_ENV: dict[str, dict[str, str]] = {name: {} for name in SCENARIOS}
# 10,000 streams and 8,000 long-polls from 17 addresses: some 600 per address, over the default share of
# 100 per client; raised so that the scenarios load the processes rather than the caps.
SCENARIO_ENV["streams"] = {"WATCH_MAX_PER_CLIENT": "1000"}
SCENARIO_ENV["longpolls"] = {"WATCH_MAX_PER_CLIENT": "1000"}

RSS_BOUND_MB = 300.0
# The streams scenario holds twice the 5,000 streams of that bound at its peak.
RSS_PEAK_BOUND_MB = 600.0
HEALTHZ_P99_BOUND_S = 0.1
LIST_RATIO_BOUND = 0.5
SIGTERM_EXIT_BOUND_S = 10.0


@dataclass(frozen=True)
class Scale:
    """How much load each scenario applies, and for how long."""

    nodes: int = 20_000
    idle: int = 40_000
    bodies: int = 300
    body_declared: int = 2_621_440
    body_sent: int = 2_516_582
    trickle_s: float = 20.0
    streams: int = 10_000
    bulk: int = 2_000
    long_polls: int = 8_000
    restart_streams: int = 1_000
    rounds: int = 3
    undisturbed_s: float = 10.0
    disturbed_s: float = 20.0
    setup_s: float = 90.0
    recovery_s: float = 30.0
    # Connections per client process (at most 15,000: a process's open-file limit here is 20,000).
    per_process: int = 10_000


SMOKE = Scale(
    nodes=300,
    idle=300,
    bodies=10,
    body_declared=262_144,
    body_sent=251_658,
    trickle_s=1.0,
    streams=200,
    bulk=50,
    long_polls=200,
    restart_streams=50,
    rounds=1,
    undisturbed_s=2.0,
    disturbed_s=3.0,
    setup_s=20.0,
    recovery_s=8.0,
    per_process=150,
)


# --- what is measured throughout ---


@dataclass
class ProbeResult:
    """One ``/healthz`` probe: when it was sent, how long its answer took (None: none), its status or error."""

    sent: float
    seconds: float | None
    status: int
    error: str = ""

    @property
    def good(self) -> bool:
        return self.status == 200 and self.seconds is not None and self.seconds <= ANSWERED_WITHIN


async def _exchange(*, port: int, source: str, request: bytes) -> int:
    """One request on a new connection from ``source``, read to the end; the answer's status."""
    loop = asyncio.get_running_loop()
    sock = await open_socket(port=port, source=source)
    try:
        await loop.sock_sendall(sock, request)
        data = b""
        while chunk := await loop.sock_recv(sock, 65_536):
            data += chunk
    finally:
        sock.close()
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    if not match:
        raise ConnectionError("no HTTP answer")
    return int(match.group(1))


class Probe:
    """``GET /healthz`` every PROBE_EVERY seconds on a new connection, whether or not earlier ones were answered."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.results: list[ProbeResult] = []
        self.pending: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            task = asyncio.create_task(self.one(time.monotonic()))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            # A busy event loop delays probes; it never sends the missed ones in a burst afterwards.
            next_at = max(next_at + PROBE_EVERY, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    async def one(self, sent: float) -> None:
        try:
            status = await asyncio.wait_for(
                _exchange(port=self.port, source=PROBE_SOURCE, request=HEALTHZ_REQUEST), PROBE_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            self.results.append(ProbeResult(sent, None, 0, error_kind(exc)))
            return
        self.results.append(ProbeResult(sent, time.monotonic() - sent, status))

    async def settled(self) -> None:
        """Wait for the probes still out (each ends within PROBE_TIMEOUT)."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=PROBE_TIMEOUT + 5)


class ListMeter:
    """LIST_CLIENTS keep-alive clients of the list; every completed request is noted with its time and status."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.completed: list[tuple[float, int]] = []
        self.errors: list[tuple[float, str]] = []

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self.client(stop) for _ in range(LIST_CLIENTS)))

    async def client(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            writer = None
            try:
                sock = await open_socket(port=self.port, source=LIST_SOURCE)
                reader, writer = await asyncio.open_connection(sock=sock)
                while not stop.is_set():
                    writer.write(LIST_REQUEST)
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                    if length:
                        await asyncio.wait_for(reader.readexactly(int(length.group(1))), 30)
                    else:
                        await asyncio.wait_for(reader.read(), 30)
                    self.completed.append((time.monotonic(), int(head.split(b" ", 2)[1])))
                    if not length or re.search(rb"(?i)\r\nconnection: *close", head):
                        break
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                self.errors.append((time.monotonic(), error_kind(exc)))
                await asyncio.sleep(0.2)
            finally:
                if writer is not None:
                    writer.transport.abort()


@dataclass
class Sample:
    """The instance at one moment: RSS of the master's children, their count and their open files."""

    at: float
    rss_mb: float
    workers: tuple[int, ...]
    open_files: int


def sample(server: Server | None) -> Sample | None:
    """The instance's workers now, from /proc; None when it is not running."""
    if server is None or server.process is None or server.process.poll() is not None:
        return None
    rss_kb, files, alive = 0, 0, []
    for pid in server.workers():
        try:
            rss = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
            if rss is None:
                # A worker that has exited and not yet been reaped by the master.
                continue
            files += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        rss_kb += int(rss.group(1))
        alive.append(pid)
    return Sample(time.monotonic(), rss_kb / 1024, tuple(sorted(alive)), files)


# --- the instance and the load ---


class Instance:
    """The served instance: one ``bench.watch.Server`` at a time, restarted with other settings when asked."""

    def __init__(
        self,
        *,
        database_url: str,
        log: Path,
        port: int,
        extra_env: dict[str, str],
        scenario_env: dict[str, dict[str, str]],
    ) -> None:
        self.database_url = database_url
        self.log = log
        self.port = port
        self.extra_env = extra_env
        self.scenario_env = scenario_env
        self.server: Server | None = None
        self.env: dict[str, str] = {}
        self.baseline_files = 0
        # The service's answers by status of the instances stopped so far (read just before each stopped).
        self.statuses_of_stopped: Counter = Counter()

    def settings(self, scenario: str | None = None) -> dict[str, str]:
        """The instance's environment for ``scenario`` (None: the one every scenario starts from)."""
        # Health probes on an address of their own, as a load balancer's (GUNICORN_PROBE_BIND).
        probes = {"GUNICORN_PROBE_BIND": f"127.0.0.1:{self.port + 1}"}
        return {
            **INSTANCE_ENV,
            **probes,
            **self.extra_env,
            **(self.scenario_env.get(scenario, {}) if scenario else {}),
        }

    async def start(self, env: dict[str, str]) -> None:
        self.env = env
        self.server = Server(port=self.port, database_url=self.database_url, log=self.log, **env)
        await asyncio.to_thread(self.server.start)
        now = sample(self.server)
        self.baseline_files = now.open_files if now else 0

    async def stop(self) -> None:
        await self.retire_statuses()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)

    async def retire_statuses(self) -> None:
        """Keep the running instance's answer counts before it stops (its metrics go with it)."""
        if self.running():
            self.statuses_of_stopped.update(statuses_of_metrics(await scrape_metrics(self.port)))

    async def statuses(self) -> dict[str, float]:
        """The service's answers by status over every instance of this run so far (best effort)."""
        now = Counter(statuses_of_metrics(await scrape_metrics(self.port))) if self.running() else Counter()
        return dict(self.statuses_of_stopped + now)

    def running(self) -> bool:
        return self.server is not None and self.server.process is not None and self.server.process.poll() is None

    async def ensure(self, env: dict[str, str]) -> bool:
        """Serve with ``env``, restarting when the settings differ or the instance lost a worker; whether it did."""
        now = sample(self.server)
        workers = int(env.get("WEB_CONCURRENCY", "2"))
        if self.running() and env == self.env and now is not None and len(now.workers) >= workers:
            return False
        await self.stop()
        await self.start(env)
        return True

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


class LoadGroup:
    """The client processes of one load (``bench.abuse_load``), ``Scale.per_process`` connections at most each."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes
        self.readies: list[dict] = []

    @classmethod
    async def start(cls, bench: Bench, kind: str, count: int, *options: str) -> LoadGroup:
        processes = []
        parts = max(1, math.ceil(count / bench.scale.per_process))
        first = 0
        for part in range(parts):
            share = count // parts + (1 if part < count % parts else 0)
            command = [str(PYTHON), "-m", "bench.abuse_load", kind, "--port", str(bench.port), "--count", str(share)]
            command += ["--first", str(first), "--sources", ",".join(LOAD_SOURCES)]
            command += ["--setup-seconds", str(bench.scale.setup_s), "--max-seconds", str(bench.max_load_seconds)]
            command += list(options)
            first += share
            with (bench.log_dir / f"load-{kind}.log").open("ab") as errors:
                process = await asyncio.create_subprocess_exec(
                    *command, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=errors, limit=1 << 24
                )
            processes.append(process)
            bench.loads.add(process)
        return cls(processes)

    async def _line(self, process: asyncio.subprocess.Process, key: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(process.stdout.readline(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if not line:
                break
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if key in message:
                    return message[key]
        return {}

    async def ready(self, timeout: float) -> dict:
        """Wait until every process has opened its connections (or given up); what they opened."""
        self.readies = list(await asyncio.gather(*(self._line(p, "ready", timeout) for p in self.processes)))
        opened = merge_tallies(self.readies)
        opened.pop("answer_times")
        return opened

    async def stop(self, bench: Bench) -> dict:
        """Close every connection, end the processes (by their ids), and return what the connections met."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        done = list(await asyncio.gather(*(self._line(p, "done", 30) for p in self.processes)))
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            bench.loads.discard(process)
        return merge_tallies(done)


def merge_tallies(tallies: Iterable[dict]) -> dict:
    """The sum of several processes' ``ready`` or ``done`` reports."""
    merged: dict = {"processes": 0, "statuses": Counter(), "connect_errors": Counter(), "answer_times": []}
    for tally in tallies:
        merged["processes"] += tally.get("processes", 1)
        for key, value in tally.items():
            if key == "processes":
                continue
            if key in ("statuses", "connect_errors"):
                merged[key].update(value)
            elif key == "answer_times":
                merged[key] += value
            elif isinstance(value, int | float) and not isinstance(value, bool) and key != "closed_after_s_median":
                merged[key] = merged.get(key, 0) + value
            elif key == "closed_after_s_median" and value is not None:
                merged.setdefault("closed_after_s_medians", []).append(value)
    merged["statuses"] = dict(merged["statuses"])
    merged["connect_errors"] = dict(merged["connect_errors"])
    return merged


# --- rounds, phases and their figures ---


@dataclass
class Round:
    """One round of a scenario: its phases as (name, start, end) in monotonic time, and what it found."""

    phases: list[tuple[str, float, float]] = field(default_factory=list)
    current: tuple[str, float] | None = None
    found: dict = field(default_factory=dict)
    log_start: int = 0
    log_end: int = 0
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)

    def begin(self, name: str) -> None:
        self.end()
        self.current = (name, time.monotonic())

    def end(self) -> None:
        if self.current is not None:
            self.phases.append((self.current[0], self.current[1], time.monotonic()))
            self.current = None

    def windows(self, *names: str) -> list[tuple[float, float]]:
        return [(start, end) for name, start, end in self.phases if name in names]

    @property
    def start(self) -> float:
        return self.phases[0][1]

    @property
    def stop(self) -> float:
        return self.phases[-1][2]


# The phases during which the scenario's load exists (a restart of the instance by the harness is not one).
LOADED = ("setup", "disturbed", "teardown")


def within(at: float, windows: list[tuple[float, float]]) -> bool:
    return any(start <= at < end for start, end in windows)


def _service_address(figures: dict) -> str:
    """The service-address probe's p99 and late answers, for the table (older saved figures have none)."""
    service = figures.get("healthz_service_address")
    if not service:
        return "n/a"
    return f"{_ms(service.get('p99_ms'))} ms, {service.get('over_1s', 0):,} of {service.get('probes', 0):,}"


def healthz_summary(probes: list[ProbeResult]) -> dict:
    """Percentiles in ms of the probes (an unanswered one counts as PROBE_TIMEOUT), and how many failed."""
    if not probes:
        return {"probes": 0}
    seconds = [p.seconds if p.status == 200 and p.seconds is not None else PROBE_TIMEOUT for p in probes]
    return {
        "probes": len(probes),
        "p50_ms": round(percentile(seconds, 0.5) * 1000, 1),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
        "unanswered": sum(1 for p in probes if p.status != 200),
        "over_1s": sum(1 for p in probes if not p.good),
        "errors": dict(Counter(p.error or str(p.status) for p in probes if p.status != 200)),
    }


def longest_gap(probes: list[ProbeResult], windows: list[tuple[float, float]]) -> float:
    """The longest time, in seconds, within ``windows`` during which no probe sent got a good answer.

    Measured between the sending times of consecutive probes answered 200 within ANSWERED_WITHIN
    (and from each window's start and to its end).
    """
    longest = 0.0
    for start, end in windows:
        last = start
        for probe in sorted((p for p in probes if start <= p.sent < end), key=lambda p: p.sent):
            if probe.good:
                longest = max(longest, probe.sent - last)
                last = probe.sent
        longest = max(longest, end - last)
    return round(longest, 2)


def list_rps(completed: list[tuple[float, int]], windows: list[tuple[float, float]]) -> float:
    seconds = sum(end - start for start, end in windows)
    done = sum(1 for at, status in completed if status == 200 and within(at, windows))
    return round(done / seconds, 1) if seconds else 0.0


def log_findings(text: str) -> dict:
    """What a slice of the server's log holds: worker timeouts, tracebacks (by their last line), open-file errors."""
    lines = text.splitlines()
    endings: Counter = Counter()
    for number, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            ending = next((later for later in lines[number + 1 :] if later and not later[0].isspace()), "?")
            endings[ending[:120]] += 1
    return {
        "worker_timeouts": text.count("WORKER TIMEOUT"),
        "tracebacks": sum(endings.values()),
        "too_many_open_files": text.count("Too many open files"),
        "traceback_endings": dict(endings.most_common(3)),
    }


def statuses_of_metrics(text: str) -> dict[str, float]:
    """Requests answered by the service, summed by status, from a /metrics page."""
    totals: Counter = Counter()
    for match in re.finditer(r'^scale_nodes_http_requests_total\{[^}]*status="(\d+)"[^}]*\} ([0-9.e+]+)$', text, re.M):
        totals[match.group(1)] += float(match.group(2))
    return dict(totals)


async def scrape_metrics(port: int) -> str:
    """The service's /metrics page, read from 127.0.0.1 (allowed by default); empty when it does not answer in time."""
    loop = asyncio.get_running_loop()
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    data = b""
    try:
        sock = await asyncio.wait_for(open_socket(port=port, source="127.0.0.1"), 5)
        try:
            await loop.sock_sendall(sock, request)
            while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), 5):
                data += chunk
        finally:
            sock.close()
    except (OSError, TimeoutError):
        return ""
    return data.decode("utf-8", "replace")


def gauge_of_metrics(text: str, name: str) -> float | None:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else None


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    if not after or not before:
        return {}
    return {
        status: int(after[status] - before.get(status, 0))
        for status in sorted(after)
        if after[status] > before.get(status, 0)
    }


# --- the benchmark ---


class Bench:
    """What every scenario shares: the instance, the probe, the list meter, the sampler and the rounds so far."""

    def __init__(
        self,
        *,
        args: argparse.Namespace,
        scale: Scale,
        instance: Instance,
        token: str,
        node_ids: list[int],
        log_dir: Path,
    ) -> None:
        self.args = args
        self.node_ids = node_ids
        self.scale = scale
        self.instance = instance
        self.port = instance.port
        self.token = token
        self.log_dir = log_dir
        # The load balancer's probe, on the instance's probe address; the same probe on the address the
        # load comes to, for comparison (no target applies to it).
        self.probe = Probe(self.port + 1)
        self.service_probe = Probe(self.port)
        self.meter = ListMeter(self.port)
        self.samples: list[Sample] = []
        self.loads: set[asyncio.subprocess.Process] = set()
        self.notes: list[str] = []
        # Client processes end by themselves after this, whatever happens here.
        self.max_load_seconds = 2 * scale.setup_s + 6 * scale.disturbed_s + 2 * scale.trickle_s + 300

    async def sampling(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = await asyncio.to_thread(sample, self.instance.server)
            if now is not None:
                self.samples.append(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)

    async def stop_loads(self) -> None:
        """Kill the client processes still running (by their ids): those of a scenario that failed."""
        for process in list(self.loads):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
            self.loads.discard(process)

    def latest_sample(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    async def run_round(
        self,
        name: str,
        *,
        setup: Callable[[Round], Awaitable[dict]],
        disturb: Callable[[Round, dict], Awaitable[None]],
        teardown: Callable[[Round, dict], Awaitable[dict]],
    ) -> Round:
        """One round: undisturbed, then the scenario's setup, disturbed phase and teardown, then recovery."""
        env = self.instance.settings(name)
        if await self.instance.ensure(env):
            await asyncio.sleep(1)
        record = Round(log_start=self.instance.log_size())
        record.begin("undisturbed")
        await asyncio.sleep(self.scale.undisturbed_s)
        record.metrics_before = await self.instance.statuses()
        record.begin("setup")
        state = await setup(record)
        record.begin("disturbed")
        await disturb(record, state)
        record.begin("teardown")
        record.found["load"] = await teardown(record, state)
        record.found["load"].pop("answer_times", None)
        record.begin("recovery")
        await self.recover(record, env)
        record.end()
        await self.probe.settled()
        record.metrics_after = await self.instance.statuses()
        record.log_end = self.instance.log_size()
        return record

    async def recover(self, record: Round, env: dict[str, str]) -> None:
        """Wait until the instance answers /healthz quickly again with its files back near their number before,
        restarting it when it has not within ``recovery_s``."""
        started = time.monotonic()
        deadline = started + self.scale.recovery_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            recent = [p for p in self.probe.results[-10:] if p.sent > started]
            now = self.latest_sample()
            files_back = now is not None and now.open_files <= self.instance.baseline_files + 200
            if len(recent) >= 5 and all(p.status == 200 and (p.seconds or 1) < 0.1 for p in recent) and files_back:
                record.found["recovered_after_s"] = round(time.monotonic() - started, 1)
                return
        record.found["recovered_after_s"] = None
        record.begin("restart")
        await self.instance.stop()
        await self.instance.start(env)
        self.notes.append(f"the instance had not recovered within {self.scale.recovery_s:.0f} s: restarted")

    def figures(self, name: str, rounds: list[Round]) -> dict:
        """The scenario's figures over its rounds (pooled probes, medians of the list's rounds)."""
        loaded = [w for r in rounds for w in r.windows(*LOADED)]
        undisturbed = [w for r in rounds for w in r.windows("undisturbed")]
        probes_loaded = [p for p in self.probe.results if within(p.sent, loaded)]
        probes_calm = [p for p in self.probe.results if within(p.sent, undisturbed)]
        service_loaded = [p for p in self.service_probe.results if within(p.sent, loaded)]
        calm = [list_rps(self.meter.completed, r.windows("undisturbed")) for r in rounds]
        busy = [list_rps(self.meter.completed, r.windows("disturbed")) for r in rounds]
        samples = [s for s in self.samples if within(s.at, loaded)]
        text = ""
        log = self.instance.log
        if log.exists():
            with log.open("rb") as handle:
                for r in rounds:
                    handle.seek(r.log_start)
                    text += handle.read(max(0, r.log_end - r.log_start)).decode("utf-8", "replace")
        client_statuses: Counter = Counter()
        for r in rounds:
            client_statuses.update({str(k): v for k, v in r.found.get("load", {}).get("statuses", {}).items()})
        client_statuses.update(str(p.status) for p in probes_loaded if p.status)
        client_statuses.update(str(status) for at, status in self.meter.completed if within(at, loaded))
        server_statuses: Counter = Counter()
        for r in rounds:
            server_statuses.update(_diff(r.metrics_after, r.metrics_before))
        median_calm, median_busy = statistics.median(calm), statistics.median(busy)
        return {
            "rounds": len(rounds),
            "healthz_undisturbed": healthz_summary(probes_calm),
            "healthz": healthz_summary(probes_loaded),
            "healthz_service_address": healthz_summary(service_loaded),
            "longest_gap_s": max(longest_gap(self.probe.results, r.windows(*LOADED)) for r in rounds),
            "list_rps_undisturbed": calm,
            "list_rps_disturbed": busy,
            "list_ratio": round(median_busy / median_calm, 3) if median_calm else None,
            "list_errors": dict(Counter(kind for at, kind in self.meter.errors if within(at, loaded))),
            "rss_mb_peak": round(max(s.rss_mb for s in samples), 1) if samples else None,
            "rss_mb_before": [round(self._rss_before(r), 1) for r in rounds],
            "open_files_peak": max((s.open_files for s in samples), default=0),
            "fewest_workers": min((len(s.workers) for s in samples), default=0),
            "client_statuses": dict(sorted(client_statuses.items())),
            "server_statuses": dict(sorted(server_statuses.items())),
            "log": log_findings(text),
            "per_round": [r.found for r in rounds],
            "timeline": self.timeline(rounds[0]),
        }

    def _rss_before(self, record: Round) -> float:
        setup = record.windows("setup")[0][0]
        before = [s for s in self.samples if s.at < setup]
        return before[-1].rss_mb if before else 0.0

    def timeline(self, record: Round) -> dict:
        """The first round for the plot: probes in 0.25 s bins (worst latency, unanswered), list requests per second."""
        start, stop = record.start, record.stop
        bins: dict[int, list[ProbeResult]] = {}
        for probe in self.probe.results:
            if start <= probe.sent < stop:
                bins.setdefault(int((probe.sent - start) / 0.25), []).append(probe)
        probes = [
            [
                round(n * 0.25, 2),
                round(max((p.seconds or 0) for p in group if p.status == 200) * 1000, 1)
                if any(p.status == 200 for p in group)
                else None,
                sum(1 for p in group if p.status != 200),
            ]
            for n, group in sorted(bins.items())
        ]
        per_second = Counter(
            int(at - start) for at, status in self.meter.completed if start <= at < stop and status == 200
        )
        return {
            "phases": [[name, round(a - start, 2), round(b - start, 2)] for name, a, b in record.phases],
            "probes": probes,
            "list_rps": [[second, per_second.get(second, 0)] for second in range(int(stop - start) + 1)],
        }


# --- the scenarios ---


async def scenario_idle(bench: Bench) -> list[Round]:
    """Connections that send nothing, re-opened when the server closes them."""

    async def setup(record: Round) -> dict:
        group = await LoadGroup.start(bench, "idle", bench.scale.idle, "--reopen")
        record.found["opened"] = await group.ready(bench.scale.setup_s + 30)
        return {"group": group}

    async def disturb(record: Round, state: dict) -> None:
        await asyncio.sleep(bench.scale.disturbed_s)

    async def teardown(record: Round, state: dict) -> dict:
        return await state["group"].stop(bench)

    return [
        await bench.run_round("idle", setup=setup, disturb=disturb, teardown=teardown)
        for _ in range(bench.scale.rounds)
    ]


async def scenario_bodies(bench: Bench) -> list[Round]:
    """Anonymous POSTs that send most of a large declared body at once, then a byte every ``trickle_s``."""
    scale = bench.scale

    async def setup(record: Round) -> dict:
        group = await LoadGroup.start(
            bench,
            "bodies",
            scale.bodies,
            "--trickle", str(scale.trickle_s), "--declared", str(scale.body_declared), "--sent", str(scale.body_sent),
        )  # fmt: skip
        record.found["opened"] = await group.ready(scale.setup_s + 30)
        return {"group": group}

    async def disturb(record: Round, state: dict) -> None:
        # Long enough for a few trickled bytes, and for a body timeout to end them.
        await asyncio.sleep(max(scale.disturbed_s, 2 * scale.trickle_s + 5))

    async def teardown(record: Round, state: dict) -> dict:
        return await state["group"].stop(bench)

    return [
        await bench.run_round("bodies", setup=setup, disturb=disturb, teardown=teardown) for _ in range(scale.rounds)
    ]


async def _run_command(bench: Bench, *args: str, timeout: float = 300) -> float:
    """Run ``manage.py`` with the instance's settings in a subprocess; the seconds it took (it must succeed)."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        str(PYTHON), "manage.py", *args, cwd=REPO, env=_env(bench.instance.database_url, **INSTANCE_ENV),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, errors = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode:
        raise RuntimeError(errors.decode()[-2000:])
    return time.monotonic() - started


# A read every 5 s through a 4 KB buffer; an ended stream resumes from its last event, as an EventSource would.
SLOW_STREAMS = ("--slow", "--trickle", "5", "--reconnect", "--max-reopens", "3")


async def scenario_streams(bench: Bench) -> list[Round]:
    """Event streams that barely read, while ``manage.py nodes pause`` changes ``bulk`` nodes at once."""
    scale = bench.scale
    ids = [str(n) for n in bench.node_ids[: scale.bulk]]

    async def setup(record: Round) -> dict:
        half = scale.streams // 2
        first = await LoadGroup.start(bench, "streams", half, *SLOW_STREAMS)
        opened = [await first.ready(scale.setup_s + 30)]
        await asyncio.sleep(2)
        now = bench.latest_sample()
        record.found["rss_mb_half_streams"] = round(now.rss_mb, 1) if now else None
        record.found["half_streams"] = opened[0].get("statuses", {}).get("200", 0)
        second = await LoadGroup.start(bench, "streams", scale.streams - half, *SLOW_STREAMS)
        opened.append(await second.ready(scale.setup_s + 30))
        record.found["opened"] = merge_tallies(opened)
        record.found["opened"].pop("answer_times")
        return {"groups": [first, second]}

    async def disturb(record: Round, state: dict) -> None:
        started = time.monotonic()
        pausing = asyncio.create_task(
            _run_command(bench, "nodes", "pause", *ids, "--reason", f"abuse bench {time.time()}")
        )
        record.found["bulk_command_s"] = round(await pausing, 2)
        await asyncio.sleep(max(0.0, started + scale.disturbed_s - time.monotonic(), 5.0))

    async def teardown(record: Round, state: dict) -> dict:
        done = merge_tallies([await group.stop(bench) for group in state["groups"]])
        await _run_command(bench, "nodes", "resume", *ids)
        return done

    rounds = []
    for _ in range(scale.rounds):
        record = await bench.run_round("streams", setup=setup, disturb=disturb, teardown=teardown)
        now = bench.latest_sample()
        record.found["rss_mb_after"] = round(now.rss_mb, 1) if now else None
        rounds.append(record)
    return rounds


async def scenario_longpolls(bench: Bench) -> list[Round]:
    """``changes?wait=60`` long-polls, all woken at once by one PATCH."""
    scale = bench.scale

    async def setup(record: Round) -> dict:
        after = await asyncio.wait_for(newest_index(bench.port), 60)
        group = await LoadGroup.start(
            bench, "longpolls", scale.long_polls, "--path", f"/v6/nodes/changes/?after={after}&wait=60"
        )
        record.found["opened"] = await group.ready(scale.setup_s + 30)
        # Until the service has taken them all in: the waiting count stops rising.
        deadline, last, steady = time.monotonic() + scale.setup_s, -1.0, 0
        while time.monotonic() < deadline and steady < 4:
            await asyncio.sleep(0.5)
            waiting = gauge_of_metrics(await scrape_metrics(bench.port), "scale_nodes_long_polls_waiting")
            steady = steady + 1 if waiting is not None and waiting == last else 0
            last = waiting if waiting is not None else last
        record.found["waiting_before_change"] = last
        return {"group": group}

    async def disturb(record: Round, state: dict) -> None:
        started = time.monotonic()
        try:
            change = patch(bench.port, bench.token, bench.node_ids[0], f"long-polls {time.time()}")
            record.found["patch_answered"] = await asyncio.wait_for(change, 60)
        except (OSError, RuntimeError, TimeoutError) as exc:
            record.found["patch_error"] = repr(exc)[:200]
        await asyncio.sleep(max(0.0, started + scale.disturbed_s - time.monotonic()))

    async def teardown(record: Round, state: dict) -> dict:
        done = await state["group"].stop(bench)
        answered = record.found.get("patch_answered")
        times = sorted(t - answered for t in done.pop("answer_times", []) if answered is not None)
        record.found["answered"] = len(times)
        if times:
            record.found["answer_after_change_s"] = {
                "p50": round(percentile(times, 0.5), 3),
                "p99": round(percentile(times, 0.99), 3),
                "max": round(times[-1], 3),
            }
        record.found.pop("patch_answered", None)
        return done

    return [
        await bench.run_round("longpolls", setup=setup, disturb=disturb, teardown=teardown) for _ in range(scale.rounds)
    ]


def recycle_after(*, streams: int, list_rps: float, workers: int = 2) -> int:
    """A ``max_requests`` that each worker reaches about 10 s into the disturbed phase, with its streams open."""
    return max(100, int(streams / workers + (list_rps + 1 / PROBE_EVERY) / workers * 10))


async def scenario_recycle(bench: Bench) -> list[Round]:
    """Streams open (reconnecting when ended) while the workers reach ``max_requests`` and are replaced."""
    scale = bench.scale

    async def setup(record: Round) -> dict:
        calm = list_rps(bench.meter.completed, record.windows("undisturbed"))
        max_requests = recycle_after(streams=scale.restart_streams, list_rps=calm)
        record.found["max_requests"] = max_requests
        record.begin("restart")
        env = bench.instance.settings("recycle") | {"GUNICORN_MAX_REQUESTS": str(max_requests)}
        await bench.instance.stop()
        await bench.instance.start(env)
        record.begin("setup")
        group = await LoadGroup.start(bench, "streams", scale.restart_streams, "--reconnect", "--max-reopens", "20")
        record.found["opened"] = await group.ready(scale.setup_s + 30)
        now = bench.latest_sample()
        return {"group": group, "workers": set(now.workers) if now else set()}

    async def disturb(record: Round, state: dict) -> None:
        # Until every first worker has been replaced (and 5 s more), within a bound that leaves room for a
        # jitter as large as max_requests and for workers that recycle in turn.
        started = time.monotonic()
        deadline = started + max(scale.disturbed_s * 6, 120)
        replaced_at = None
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = bench.latest_sample()
            if replaced_at is None and now is not None and not state["workers"] & set(now.workers):
                replaced_at = time.monotonic()
            if replaced_at is not None and time.monotonic() > max(replaced_at + 5, started + scale.disturbed_s):
                break
        record.found["all_replaced_after_s"] = round(replaced_at - started, 1) if replaced_at else None
        seen = {pid for s in bench.samples if s.at >= started for pid in s.workers}
        record.found["new_workers_seen"] = len(seen - state["workers"])

    async def teardown(record: Round, state: dict) -> dict:
        done = await state["group"].stop(bench)
        record.begin("restart")
        await bench.instance.stop()
        await bench.instance.start(bench.instance.settings("recycle"))
        return done

    return [
        await bench.run_round("recycle", setup=setup, disturb=disturb, teardown=teardown) for _ in range(scale.rounds)
    ]


def _started_at(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot): tells it apart from a later process given its id."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


async def scenario_sigterm(bench: Bench) -> list[Round]:
    """Streams open (reconnecting when ended), SIGTERM to the master; a replacement starts when it has exited."""
    scale = bench.scale

    async def setup(record: Round) -> dict:
        group = await LoadGroup.start(bench, "streams", scale.restart_streams, "--reconnect", "--max-reopens", "20")
        record.found["opened"] = await group.ready(scale.setup_s + 30)
        return {"group": group}

    async def disturb(record: Round, state: dict) -> None:
        server = bench.instance.server
        workers = {pid: _started_at(pid) for pid in server.workers()}
        await bench.instance.retire_statuses()
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(server.process.wait, 60)
            record.found["master_exit_s"] = round(time.monotonic() - sent, 2)
        except subprocess.TimeoutExpired:
            record.found["master_exit_s"] = None
            server.process.kill()
            await asyncio.to_thread(server.process.wait, 10)
            # Its workers outlive it: end those still running (the same processes, not others given their ids since).
            for pid, started in workers.items():
                if started is not None and _started_at(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        launched = time.monotonic()
        await bench.instance.start(bench.instance.settings("sigterm"))
        answers = [p.sent + p.seconds for p in bench.probe.results if p.sent >= launched and p.good]
        record.found["replacement_start_s"] = round(min(answers) - launched, 2) if answers else None
        await asyncio.sleep(5)

    async def teardown(record: Round, state: dict) -> dict:
        done = await state["group"].stop(bench)
        record.found["streams_ended_by_server"] = done.get("closed_by_server", 0)
        record.found["streams_ended_cleanly"] = done.get("closed_clean", 0)
        return done

    return [
        await bench.run_round("sigterm", setup=setup, disturb=disturb, teardown=teardown) for _ in range(scale.rounds)
    ]


SCENARIO_FUNCTIONS: dict[str, Callable[[Bench], Awaitable[list[Round]]]] = {
    "idle": scenario_idle,
    "bodies": scenario_bodies,
    "streams": scenario_streams,
    "longpolls": scenario_longpolls,
    "recycle": scenario_recycle,
    "sigterm": scenario_sigterm,
}


# --- targets and the report ---


@dataclass(frozen=True)
class Verdict:
    """A target of one scenario, what was measured and whether it is met (None: it does not apply)."""

    scenario: str
    target: str
    measured: str
    met: bool | None

    @property
    def mark(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.met]


def describe(name: str, scale: dict) -> str:
    """The scenario's load in words, at the scale it ran."""
    return {
        "idle": f"{scale['idle']:,} idle connections",
        "bodies": f"{scale['bodies']:,} trickling bodies",
        "streams": f"{scale['streams']:,} slow-reading streams, {scale['bulk']:,}-node bulk pause",
        "longpolls": f"{scale['long_polls']:,} long-polls woken by one PATCH",
        "recycle": f"process recycle with {scale['restart_streams']:,} streams",
        "sigterm": f"SIGTERM with {scale['restart_streams']:,} streams",
    }[name]


def _at_most(value: float | None, bound: float) -> bool | None:
    """Whether ``value`` is within ``bound``; None when it was not measured."""
    return None if value is None else value <= bound


def verdicts(name: str, figures: dict, scale: dict) -> list[Verdict]:
    """The targets of one scenario on its figures.

    The SIGTERM scenario stops the instance, so the /healthz and list targets do not apply to it; the
    recycle's /healthz p99 is not held to 100 ms (the every-probe target still holds it to 1 s).
    """
    h, log, ratio = figures["healthz"], figures["log"], figures["list_ratio"]
    stops = name == "sigterm"
    rows = [
        Verdict(
            name,
            "/healthz answered within 1 s, every probe",
            f"{h['over_1s']} of {h['probes']:,} not answered within 1 s (longest gap {figures['longest_gap_s']} s)",
            None if stops else h["over_1s"] == 0,
        ),
        Verdict(
            name,
            "/healthz p99 <= 100 ms",
            f"p99 {h['p99_ms']} ms",
            None if name in ("recycle", "sigterm") else h["p99_ms"] <= HEALTHZ_P99_BOUND_S * 1000,
        ),
        Verdict(
            name,
            "list >= 0.5x undisturbed",
            "no list answered undisturbed" if ratio is None else f"{ratio}x",
            None if stops else ratio is not None and ratio >= LIST_RATIO_BOUND,
        ),
    ]
    peak = figures["rss_mb_peak"]
    if name == "streams":
        half = [r["rss_mb_half_streams"] for r in figures["per_round"] if r.get("rss_mb_half_streams") is not None]
        worst = max(half, default=None)
        rows.append(
            Verdict(
                name,
                f"RSS <= 300 MB with {scale['streams'] // 2:,} streams",
                f"{worst} MB",
                _at_most(worst, RSS_BOUND_MB),
            )
        )
        rows.append(
            Verdict(
                name,
                f"RSS <= 600 MB at the peak, {scale['streams']:,} streams",
                f"{peak} MB",
                _at_most(peak, RSS_PEAK_BOUND_MB),
            )
        )
    else:
        rows.append(Verdict(name, "RSS <= 300 MB", f"{peak} MB", _at_most(peak, RSS_BOUND_MB)))
    client500 = int(figures["client_statuses"].get("500", 0))
    server500 = int(figures["server_statuses"].get("500", 0))
    rows.append(
        Verdict(
            name,
            "no 500",
            f"{client500} seen by clients, {server500} counted by the service",
            client500 + server500 == 0,
        )
    )
    rows.append(
        Verdict(
            name,
            "no WORKER TIMEOUT",
            f"{log['worker_timeouts']} (tracebacks: {log['tracebacks']})",
            log["worker_timeouts"] == 0,
        )
    )
    if stops:
        exits = [r.get("master_exit_s") for r in figures["per_round"]]
        worst = None if None in exits else max(exits, default=None)
        rows.append(
            Verdict(
                name,
                f"master exits within {SIGTERM_EXIT_BOUND_S:.0f} s of SIGTERM",
                "did not exit within 60 s" if worst is None else f"{worst} s",
                worst is not None and worst <= SIGTERM_EXIT_BOUND_S,
            )
        )
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _statuses(statuses: dict) -> str:
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items())) or "none"


def _outcome(name: str, figures: dict) -> str:
    """What the load met, in words: answers by status, refusals, the scenario's own figures."""
    first = figures["per_round"][0]
    load = first.get("load", {})
    opened = first.get("opened", {})
    parts = [
        f"opened {opened.get('opened', 0):,} of {opened.get('attempted', 0):,} "
        f"(connect errors: {_statuses(opened.get('connect_errors', {}))})",
        f"answers: {_statuses(load.get('statuses', {}))}",
        f"closed by the server: {load.get('closed_by_server', 0):,}",
    ]
    if name == "idle":
        parts.append(f"the workers' open files at the peak: {figures['open_files_peak']:,}")
    if name == "streams":
        parts.append(f"bulk pause took {first.get('bulk_command_s')} s; RSS after: {first.get('rss_mb_after')} MB")
    if name == "longpolls":
        parts.append(
            f"{first.get('waiting_before_change') or 0:,.0f} waiting before the change; "
            f"{first.get('answered', 0):,} answered, after it (s): {first.get('answer_after_change_s')}"
        )
    if name == "recycle":
        parts.append(
            f"max_requests {first.get('max_requests')}; every first worker replaced after "
            f"{first.get('all_replaced_after_s')} s; fewest live workers {figures['fewest_workers']}"
        )
    if name == "sigterm":
        parts.append(
            f"master exited after {first.get('master_exit_s')} s; the replacement answered "
            f"{first.get('replacement_start_s')} s after its launch; streams ended cleanly: "
            f"{first.get('streams_ended_cleanly')}"
        )
    return "; ".join(parts)


def report(results: dict) -> str:
    """The BENCHMARKS.md section of a run."""
    meta = results["meta"]
    scale = meta["scale"]
    lines = [
        SECTION,
        "",
        f"`{meta['command']}` on {meta['started'][:16].replace('T', ' ')} UTC ({meta['machine']}), revision "
        f"`{meta['revision']}`: one instance of `make serve` ({meta['workers']} ASGI worker processes, open-file "
        f"limit {meta['open_file_limit']:,} each) on {meta['database']}, {scale['nodes']:,} nodes. Throughout, "
        "a probe opens a connection for `GET /healthz` every 50 ms and 4 keep-alive clients read "
        "`GET /v6/nodes/?page_size=100`; each scenario runs in "
        f"{scale['rounds']} interleaved round{'s' if scale['rounds'] != 1 else ''} of an undisturbed phase "
        f"({scale['undisturbed_s']:.0f} s) and the "
        "disturbed one, the load coming from separate client processes on 17 loopback addresses. /healthz "
        "figures are over every probe sent while the load existed (an unanswered probe counts as 30 s), list "
        "figures are medians of the rounds, RSS is the sum of the worker processes.",
        "",
        f"Instance settings: `{' '.join(f'{k}={v}' for k, v in meta['instance_env'].items())}`"
        + (
            "; raised for single scenarios: "
            + "; ".join(
                f"{n}: `{' '.join(f'{k}={v}' for k, v in env.items())}`"
                for n, env in meta["scenario_env"].items()
                if env
            )
            if any(meta["scenario_env"].values())
            else ""
        )
        + ".",
        "",
        "| scenario | /healthz p50 / p99 / max (ms) | undisturbed p99 | probes over 1 s / unanswered | longest gap "
        "| /healthz on the service address: p99, over 1 s "
        "| list req/s undisturbed → disturbed | ratio | RSS peak | 5xx answers | log |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in results["scenarios"].items():
        h, log = figures["healthz"], figures["log"]
        fivexx = {s: c for s, c in figures["client_statuses"].items() if s.startswith("5")}
        lines.append(
            f"| {describe(name, scale)} | {_ms(h.get('p50_ms'))} / {_ms(h.get('p99_ms'))} / {_ms(h.get('max_ms'))} "
            f"| {_ms(figures['healthz_undisturbed'].get('p99_ms'))} ms "
            f"| {h.get('over_1s', 0):,} / {h.get('unanswered', 0):,} of {h.get('probes', 0):,} "
            f"| {figures['longest_gap_s']} s "
            f"| {_service_address(figures)} "
            f"| {statistics.median(figures['list_rps_undisturbed']):,.0f} → "
            f"{statistics.median(figures['list_rps_disturbed']):,.0f} "
            f"| {figures['list_ratio']}x | {_ms(figures['rss_mb_peak'])} MB | {_statuses(fivexx)} "
            f"| {log['worker_timeouts']} WORKER TIMEOUT, {log['tracebacks']} tracebacks |"
        )
    lines += [
        "",
        f"![/healthz latency and list throughput per scenario](bench/{STEM}.png)",
        "",
        "| scenario | target | measured | result |",
        "|---|---|---|---|",
    ]
    for row in results["verdicts"]:
        lines.append(f"| {row['scenario']} | {row['target']} | {row['measured']} | {Verdict(**row).mark} |")
    lines += ["", "What each load met (first round):", ""]
    for name, figures in results["scenarios"].items():
        endings = figures["log"]["traceback_endings"]
        tail = (
            f" Tracebacks in the log end with: {'; '.join(f'`{e}` ({n})' for e, n in endings.items())}."
            if endings
            else ""
        )
        lines.append(f"- {describe(name, scale)}: {_outcome(name, figures)}.{tail}")
    for note in results.get("notes", []):
        lines.append(f"- {note}")
    lines += [
        "",
        "The SIGTERM scenario stops the instance, so a gap in /healthz is unavoidable there: it is the drain "
        "(SIGTERM to the master's exit) plus the replacement's start, both reported; targets that do not apply "
        "are n/a. `make bench-abuse BENCH_ABUSE_ARGS=--render` writes this section and the plot again from "
        f"`bench/{STEM}.json`.",
        "",
    ]
    return "\n".join(lines)


def write_section(results: dict, *, out_dir: Path) -> None:
    """Write the run's section of BENCHMARKS.md, in place of an earlier run's, keeping every other section."""
    benchmarks = out_dir / "BENCHMARKS.md"
    section = report(results)
    text = benchmarks.read_text() if benchmarks.exists() else ""
    if SECTION in text:
        before, _, rest = text.partition(SECTION)
        after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
        text = before + section + ("\n" + after if after else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    benchmarks.write_text(text)


PHASE_COLOURS = {"setup": "#fff3c4", "disturbed": "#f8d0d0", "teardown": "#e6e6e6", "restart": "#d6e4f5"}


def plot(results: dict, path: Path) -> None:
    """/healthz latency over time and list throughput per second, one panel per scenario (first round)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    names = list(results["scenarios"])
    figure, axes = plt.subplots(len(names), 1, figsize=(9, 2.3 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        timeline = results["scenarios"][name]["timeline"]
        for phase, start, end in timeline["phases"]:
            if phase in PHASE_COLOURS:
                axis.axvspan(start, end, color=PHASE_COLOURS[phase], lw=0)
        answered = [(t, ms) for t, ms, _ in timeline["probes"] if ms is not None]
        failed = [t for t, _, missing in timeline["probes"] if missing]
        axis.plot([t for t, _ in answered], [max(ms, 0.1) for _, ms in answered], ".", ms=2, color="#4c72b0")
        if failed:
            axis.plot(failed, [PROBE_TIMEOUT * 1000] * len(failed), "x", ms=3, color="#c44e52")
        axis.set_yscale("log")
        axis.set_ylim(0.5, PROBE_TIMEOUT * 2000)
        axis.set_ylabel("ms")
        axis.set_title(describe(name, results["meta"]["scale"]), fontsize=9)
        other = axis.twinx()
        other.plot([s for s, _ in timeline["list_rps"]], [n for _, n in timeline["list_rps"]], color="#55a868", lw=1)
        other.set_ylabel("list req/s", color="#55a868")
        other.set_ylim(bottom=0)
    axes[-1, 0].set_xlabel("seconds (yellow: load set up, red: disturbed, grey: torn down, blue: restart)")
    axes[0, 0].legend(
        handles=[
            Line2D([], [], marker=".", ls="", color="#4c72b0", label="/healthz, slowest answer per 0.25 s"),
            Line2D([], [], marker="x", ls="", color="#c44e52", label="/healthz unanswered"),
            Line2D([], [], color="#55a868", label="list requests per second"),
        ],
        loc="upper left",
        fontsize=7,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_outputs(results: dict, *, out_dir: Path) -> None:
    (out_dir / "bench").mkdir(parents=True, exist_ok=True)
    (out_dir / "bench" / f"{STEM}.json").write_text(json.dumps(results, indent=1) + "\n")
    write_section(results, out_dir=out_dir)
    plot(results, out_dir / "bench" / f"{STEM}.png")


def print_targets(rows: list[Verdict]) -> None:
    for row in rows:
        print(f"{row.mark:4}  {row.scenario:9}  {row.target}: {row.measured}")


# --- the run ---


def prepare(database_url: str, *, nodes: int) -> tuple[str, list[int]]:
    """A fresh database with ``nodes`` nodes (``manage.py seed_nodes``); a superuser's token and the nodes' ids."""
    recreate_database(database_url)
    env = _env(database_url, **INSTANCE_ENV)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_nodes", "--count", str(nodes), "--prefix", "abuse-", "--domain", "bench.test", "--quiet")
    manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; "
           "get_user_model().objects.create_user('abuse-bench', is_superuser=True)")  # fmt: skip
    manage(env, "collectstatic", "--noinput", "-v", "0")
    ids = manage(env, "shell", "-v", "0", "-c", "from node.models import Node; "
                 "print(*Node.objects.order_by('id').values_list('id', flat=True))")  # fmt: skip
    token = manage(env, "create_api_token", "abuse-bench", "--expires", "P1D").strip()
    return token, [int(n) for n in ids.split() if n.isdigit()]


def _revision() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


async def measure(args: argparse.Namespace, scale: Scale, database_url: str, log_dir: Path) -> dict:
    token, ids = await asyncio.to_thread(prepare, database_url, nodes=scale.nodes)
    instance = Instance(
        database_url=database_url,
        log=log_dir / "instance.log",
        port=args.port,
        extra_env=args.instance_env,
        scenario_env=args.scenario_env,
    )
    bench = Bench(args=args, scale=scale, instance=instance, token=token, node_ids=ids, log_dir=log_dir)
    stop = asyncio.Event()
    background: list[asyncio.Task] = []
    scenarios: dict[str, dict] = {}
    try:
        await instance.start(instance.settings())
        workers = len(instance.server.workers())
        background = [
            asyncio.create_task(job(stop))
            for job in (bench.probe.run, bench.service_probe.run, bench.meter.run, bench.sampling)
        ]
        for name in args.only:
            print(f"  {name}: {describe(name, asdict(scale))} ...", file=sys.stderr, flush=True)
            try:
                rounds = await SCENARIO_FUNCTIONS[name](bench)
            except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
                # One scenario that could not run leaves the others their instance and their figures.
                bench.notes.append(f"the {name} scenario could not complete: {exc!r}"[:500])
                print(bench.notes[-1], file=sys.stderr)
                await bench.stop_loads()
                await instance.stop()
                await instance.start(instance.settings())
                continue
            scenarios[name] = bench.figures(name, rounds)
            print_targets(verdicts(name, scenarios[name], asdict(scale)))
    finally:
        stop.set()
        for task, outcome in zip(background, await asyncio.gather(*background, return_exceptions=True), strict=True):
            if isinstance(outcome, Exception):
                bench.notes.append(f"{task.get_coro().__qualname__} stopped early: {outcome!r}"[:300])
        await bench.stop_loads()
        await instance.stop()
    command = "make bench-abuse" + (f" BENCH_ABUSE_ARGS='{' '.join(args.argv)}'" if args.argv else "")
    results = {
        "meta": {
            "command": command,
            "started": args.started,
            "revision": args.revision,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
            "workers": workers,
            "open_file_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "scale": asdict(scale),
            "instance_env": {**INSTANCE_ENV, **args.instance_env},
            "scenario_env": {name: args.scenario_env[name] for name in scenarios},
            "log_dir": str(log_dir),
        },
        "scenarios": scenarios,
        "verdicts": [asdict(v) for name, figures in scenarios.items() for v in verdicts(name, figures, asdict(scale))],
        "notes": bench.notes,
    }
    return results


async def until_terminated(work: Coroutine[object, object, dict]) -> dict:
    """Await ``work``, cancelling it on SIGTERM: its ``finally`` stops the client processes and the instance,
    which would otherwise outlive the benchmark. Raises CancelledError then."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _scale(args: argparse.Namespace) -> Scale:
    scale = SMOKE if args.smoke else Scale()
    overrides = {
        key: value
        for key, value in {
            "nodes": args.nodes, "idle": args.idle, "bodies": args.bodies, "streams": args.streams, "bulk": args.bulk,
            "long_polls": args.long_polls, "restart_streams": args.restart_streams, "rounds": args.rounds,
            "undisturbed_s": args.undisturbed, "disturbed_s": args.disturbed,
        }.items()
        if value is not None
    }  # fmt: skip
    return replace(scale, **overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="A few seconds per scenario at a tiny scale; writes nothing without --out-dir.",
    )
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), metavar="NAME",
                        help=f"Only these scenarios ({', '.join(SCENARIOS)}).")  # fmt: skip
    parser.add_argument(
        "--render", action="store_true", help="Write the section and the plot again from bench/abuse.json."
    )
    parser.add_argument("--sqlite", action="store_true", help="An embedded SQLite file instead of PostgreSQL.")
    parser.add_argument("--port", type=int, default=PORT, help="The instance's port (ABUSE_BENCH_PORT, default 8860).")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="Where BENCHMARKS.md and bench/abuse.* go (default: the repository; --smoke: nowhere).",
    )
    parser.add_argument("--instance-env", action="append", default=[], metavar="NAME=VALUE",
                        help="An instance setting for all scenarios (repeatable), stated in the output.")  # fmt: skip
    parser.add_argument("--scenario-env", action="append", default=[], metavar="SCENARIO:NAME=VALUE",
                        help="An instance setting for one scenario (repeatable), e.g. a higher cap on streams per "
                        "client; stated in the output.")  # fmt: skip
    for name in ("nodes", "idle", "bodies", "streams", "bulk", "long-polls", "restart-streams", "rounds"):
        parser.add_argument(f"--{name}", type=int, help="Override the scale.")
    parser.add_argument("--undisturbed", type=float, help="Seconds of each undisturbed phase.")
    parser.add_argument("--disturbed", type=float, help="Seconds of each disturbed phase (at least).")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = [a for a in raw if a not in ("--render",)]
    if "--out-dir" in args.argv:
        at = args.argv.index("--out-dir")
        del args.argv[at : at + 2]
    args.instance_env = dict(item.split("=", 1) for item in args.instance_env)
    scenario_env = {name: dict(env) for name, env in SCENARIO_ENV.items()}
    for item in args.scenario_env:
        name, _, setting = item.partition(":")
        if name not in scenario_env or "=" not in setting:
            parser.error(f"--scenario-env takes SCENARIO:NAME=VALUE, got {item!r}")
        scenario_env[name].update([setting.split("=", 1)])
    args.scenario_env = scenario_env
    if args.render:
        args.out_dir = args.out_dir or REPO
        results = json.loads((args.out_dir / "bench" / f"{STEM}.json").read_text())
        write_section(results, out_dir=args.out_dir)
        plot(results, args.out_dir / "bench" / f"{STEM}.png")
        return 0
    scale = _scale(args)
    args.started = dt.datetime.now(dt.UTC).isoformat()
    # The code the instances load is the code at the start (one started later would load newer code).
    args.revision = _revision()
    log_dir = Path(tempfile.mkdtemp(prefix="abuse-bench-"))
    database_url = (
        f"sqlite:///{log_dir / 'abuse.sqlite3'}"
        if args.sqlite
        else os.environ.get("ABUSE_BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    try:
        results = asyncio.run(until_terminated(asyncio.wait_for(measure(args, scale, database_url, log_dir), 7200)))
    except asyncio.CancelledError:
        print(f"stopped by SIGTERM: client processes and the instance stopped, nothing written; logs: {log_dir}",
              file=sys.stderr)  # fmt: skip
        return 128 + signal.SIGTERM
    summary = {name: {k: v for k, v in f.items() if k != "timeline"} for name, f in results["scenarios"].items()}
    print(json.dumps({"meta": results["meta"], "scenarios": summary, "verdicts": results["verdicts"]}, indent=1))
    print(f"server and client logs: {log_dir}", file=sys.stderr)
    if args.out_dir or not args.smoke:
        args.out_dir = args.out_dir or REPO
        write_outputs(results, out_dir=args.out_dir)
        print(f"wrote {args.out_dir / 'BENCHMARKS.md'} and bench/{STEM}.json, bench/{STEM}.png there", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
