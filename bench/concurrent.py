"""8 clients PATCHing at once on 4 workers: the cost of the registry clock, which orders every write.

Serves the code before the clock (a git revision, checked out to a temporary folder, on a database it
prepares itself) and the current code (on the benchmark database of the same size), each gunicorn
with 4 sync workers, and drives both in turn, for several rounds, with wrk: 8 connections, each
request a PATCH of a random node. The clock lets one writer commit at a time; without it, writers
of different nodes overlap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.cases import PATCH_BODY
from bench.servers import sync_server

ROOT = Path(__file__).resolve().parent.parent
# The last revision before the registry clock.
BEFORE_CLOCK = "bd6844f"
CLIENTS = 8
WORKERS = 4


def _lua(token: str, nodes: int) -> str:
    return (
        'wrk.method = "PATCH"\n'
        f"wrk.body = [[{PATCH_BODY}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Token {token}"\n'
        "request = function()\n"
        f'  return wrk.format(nil, "/v6/nodes/" .. math.random(1, {nodes}) .. "/")\n'
        "end\n"
    )


def _drive(base: str, *, token: str, nodes: int, seconds: int) -> tuple[float, int]:
    """Requests per second and failed requests of ``CLIENTS`` connections PATCHing random nodes."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(_lua(token, nodes))
        lua.flush()
        command = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "30s", "-s", lua.name, base]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)), errors


def _prepare(checkout: Path, *, size: int, server_url: str, suffix: str, workdir: Path) -> dict:
    out = workdir / f"cases{suffix}.json"
    command = [sys.executable, "-m", "bench.prepare", f"--size={size}", f"--server-url={server_url}"]
    command += [f"--suffix={suffix}", f"--out={out}"]
    subprocess.run(command, check=True, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)})
    return json.loads(out.read_text())


def measure(*, size: int, server_url: str, rounds: int, seconds: int, port: int, env: dict[str, str]) -> dict:
    """Throughput of the code before the clock and of the current code, medians over ``rounds``, and their ratio."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-concurrent-"))
    checkout = workdir / "before"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", str(checkout), BEFORE_CLOCK], cwd=ROOT, check=True)
        prepared = {
            "before": (
                _prepare(checkout, size=size, server_url=server_url, suffix="_before", workdir=workdir),
                checkout,
            ),
            "after": (_prepare(ROOT, size=size, server_url=server_url, suffix="", workdir=workdir), ROOT),
        }
        runs: dict[str, list[float]] = {"before": [], "after": []}
        errors = 0
        with ExitStack() as stack:
            bases = {}
            for offset, (label, (cases, folder)) in enumerate(prepared.items()):
                server_env = {**env, "DATABASE_URL": cases["database_url"], "PYTHONPATH": str(folder)}
                bases[label] = stack.enter_context(
                    sync_server(
                        "scale_nodes.wsgi:application", port=port + offset, env=server_env, workers=WORKERS, cwd=folder
                    )
                )
            for round_number in range(rounds):
                for label in ("before", "after") if round_number % 2 == 0 else ("after", "before"):
                    rps, failed = _drive(bases[label], token=prepared[label][0]["token"], nodes=size, seconds=seconds)
                    runs[label].append(rps)
                    errors += failed
        before_rps, after_rps = (statistics.median(runs[label]) for label in ("before", "after"))
        return {
            "size": size,
            "clients": CLIENTS,
            "workers": WORKERS,
            "before_revision": BEFORE_CLOCK,
            "before_rps": before_rps,
            "after_rps": after_rps,
            "ratio": after_rps / before_rps if before_rps else None,
            "rounds": runs,
            "errors": errors,
        }
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
