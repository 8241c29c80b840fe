"""``make bench``: measure the project against the plain-DRF reference and the bare floor.

For each table size: prepare and seed the database (``bench.prepare``), serve the project, the
reference and the floor with gunicorn (one sync worker each, DEBUG off, on loopback), check that
they answer every case with the same bytes, then drive each case on each server in turn, for
several rounds, and keep the median. Writes BENCHMARKS.md and the latency plot; ``--smoke`` is the
few-second version run by CI, on a throw-away database, writing nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from bench.load import drive, ensure_wrk
from bench.report import Measurement, write_markdown, write_report
from bench.servers import sync_server

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("project", "reference", "floor")


def _fetch(base: str, case: dict, headers: dict[str, str]) -> tuple[int, bytes]:
    import http.client

    host, port = base.split("://", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=300)
    connection.request(case["method"], case["path"], body=case["body"], headers=headers)
    response = connection.getresponse()
    content = response.read()
    connection.close()
    return response.status, content.replace(f"{host}:{port}".encode(), b"SERVER")


def _headers(case: dict, prepared: dict, target: str) -> dict[str, str]:
    """The request headers of ``case`` on ``target``: a PATCH carries the token of that server's own kind."""
    if case["method"] != "PATCH":
        return {}
    token = prepared["reference_token"] if target == "reference" else prepared["token"]
    return {"Authorization": f"Token {token}", "Content-Type": "application/json"}


def _verify(bases: dict[str, str], cases: list[dict], prepared: dict) -> list[str]:
    """Every case answers without error everywhere, reads give the project's bytes on all three servers, and
    a PATCH without a token is refused by the project and the reference alike."""
    problems = []
    for case in cases:
        answers = {target: _fetch(base, case, _headers(case, prepared, target)) for target, base in bases.items()}
        for target, (status, content) in answers.items():
            if status >= 300:
                problems.append(f"{target} {case['name']}: HTTP {status} {content[:200]!r}")
        if case["method"] == "PATCH":
            # Both services authenticate the write (the floor only replays SQL): without a token, a 401.
            for target in ("project", "reference"):
                status, content = _fetch(bases[target], case, {"Content-Type": "application/json"})
                if status != 401:
                    problems.append(f"{target} {case['name']} without a token: HTTP {status} {content[:200]!r}")
        if case["method"] == "GET":
            for target in ("floor", "reference"):
                if answers[target][1] != answers["project"][1]:
                    problems.append(f"{case['name']}: the {target}'s body differs from the project's")
    return problems


def server_env(database_url: str) -> dict[str, str]:
    """The environment of a benchmarked server: production settings on ``database_url``, plain HTTP, quiet logs."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback, as behind a load balancer that ends TLS.
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _bench_size(size: int, *, args: argparse.Namespace, workdir: Path, log: list[str]) -> list[Measurement]:
    cases_file = workdir / f"cases-{size}.json"
    command = [sys.executable, "-m", "bench.prepare", f"--size={size}", f"--server-url={args.server_url}"]
    command += [f"--suffix={args.suffix}", f"--out={cases_file}"]
    subprocess.run(command, check=True, cwd=ROOT)
    prepared = json.loads(cases_file.read_text())
    if args.cases:
        prepared["cases"] = [case for case in prepared["cases"] if case["name"] in args.cases]
    env = server_env(prepared["database_url"])
    servers = {
        "project": ("scale_nodes.wsgi:application", env),
        "reference": ("scale_nodes.wsgi:application", {**env, "DJANGO_SETTINGS_MODULE": "bench.reference_settings"}),
        "floor": ("bench.floor:application", {**env, "BENCH_FLOOR_CASES": str(cases_file)}),
    }
    with ExitStack() as stack:
        bases = {
            target: stack.enter_context(sync_server(app, port=args.port + index, env=server_env))
            for index, (target, (app, server_env)) in enumerate(servers.items())
        }
        problems = _verify(bases, prepared["cases"], prepared)
        log += [f"{size:,} nodes: {problem}" for problem in problems]
        runs: dict[tuple[str, str], list] = {}
        for round_number in range(args.rounds):
            for case in prepared["cases"]:
                # Rotate the order so that no server always runs right after another.
                order = TARGETS[round_number % 3 :] + TARGETS[: round_number % 3]
                for target in order:
                    result = drive(
                        bases[target] + case["path"],
                        method=case["method"],
                        body=case["body"],
                        headers=_headers(case, prepared, target),
                        seconds=args.seconds,
                    )
                    if result.errors:
                        log.append(f"{size:,} nodes: {target} {case['name']}: {result.errors} failed requests")
                    runs.setdefault((case["name"], target), []).append(result)
            print(f"  {size:,} nodes: round {round_number + 1} of {args.rounds} done", file=sys.stderr)
    measurements = []
    for case in prepared["cases"]:
        for target in TARGETS:
            results = runs[(case["name"], target)]
            measurements.append(
                Measurement(
                    size=size,
                    case=case["name"],
                    target=target,
                    rps=statistics.median(r.rps for r in results),
                    p50_ms=statistics.median(r.p50_ms for r in results),
                    p99_ms=statistics.median(r.p99_ms for r in results),
                    queries=case["queries"]["reference" if target == "reference" else "project"],
                    requests=sum(r.requests for r in results),
                )
            )
    return measurements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seconds", type=int, default=2, help="load time in seconds per case, server and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="only these cases (by name, e.g. detail PATCH)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("BENCH_PORT", "8300")),
        help="first of three consecutive ports (BENCH_PORT; the concurrent run takes those from 10 above it)",
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL; the benchmark databases are created on its server",
    )
    parser.add_argument("--out-dir", default=str(ROOT), help="where BENCHMARKS.md and bench/latency.png go")
    parser.add_argument("--smoke", action="store_true", help="a few seconds on a throw-away database")
    parser.add_argument(
        "--concurrent-size",
        type=int,
        default=10_000,
        help="table size of the 8-client PATCH run before and after the registry clock (0: skip it)",
    )
    args = parser.parse_args(argv)
    args.suffix = ""
    if args.smoke:
        args.sizes, args.seconds, args.rounds, args.suffix = [2000], 1, 1, "_smoke"

    from bench.database import bench_database_url, drop_database

    loader = ensure_wrk()
    log: list[str] = []
    measurements: list[Measurement] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    started = dt.datetime.now(dt.UTC)
    concurrent_patch = None
    try:
        for size in args.sizes:
            measurements += _bench_size(size, args=args, workdir=workdir, log=log)
        if not args.smoke and args.concurrent_size:
            from bench import concurrent

            print(f"  concurrent PATCH at {args.concurrent_size:,} nodes, before and after the clock", file=sys.stderr)
            concurrent_patch = concurrent.measure(
                size=args.concurrent_size,
                server_url=args.server_url,
                rounds=args.rounds,
                seconds=max(args.seconds, 3),
                port=args.port + 10,
                env=server_env(""),
            )
            if concurrent_patch["errors"]:
                log.append(f"concurrent PATCH: {concurrent_patch['errors']} failed requests")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if args.smoke:
            drop_database(bench_database_url(args.server_url, args.sizes[0], suffix=args.suffix))
    results = {
        "meta": {
            "command": "make bench-smoke" if args.smoke else "make bench",
            "started": started.isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"{platform.python_implementation()} {platform.python_version()}",
            "loader": loader,
            "rounds": args.rounds,
            "seconds": args.seconds,
        },
        "measurements": [asdict(measurement) for measurement in measurements],
        "concurrent_patch": concurrent_patch,
        "log": log,
    }
    print(write_markdown(results))
    if not args.smoke and not args.cases:
        # A run of some cases only prints its report: the page and the plot are those of a full run.
        write_report(results, out_dir=Path(args.out_dir))
        print(f"wrote BENCHMARKS.md, bench/latency.png and bench/results.json in {args.out_dir}", file=sys.stderr)
    # Failed requests or differing bytes are errors; a missed performance target is reported, not fatal.
    return 1 if log else 0


if __name__ == "__main__":
    sys.exit(main())
