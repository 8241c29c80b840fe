"""``python -m bench.memory``: the memory of gunicorn's workers under full list pages (docs/deployment.md's sizing).

Serves the service as ``make serve`` does (the repository's gunicorn config, ``WEB_CONCURRENCY``
sync workers) on an existing benchmark database, sends ``--clients`` concurrent clients asking for
random pages of ``page_size=1000`` for ``--seconds`` (bounded in requests too), and samples every
worker's resident memory (``/proc/<pid>/status``) as it goes. Prints per worker: at start (after a
warm-up request each), the peak, and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import sys
import threading
import time
from pathlib import Path


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--nodes", type=int, required=True, help="how many nodes the database holds")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=8350)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server, repeatable")
    args = parser.parse_args(argv)

    from bench.run import server_env
    from bench.servers import SERVED_STACK, child_pids, start_gunicorn, stop_gunicorn

    env = {
        **server_env(args.database_url),
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_BIND": f"127.0.0.1:{args.port}",
    }
    env.update(dict(item.split("=", 1) for item in args.env))
    server = start_gunicorn(SERVED_STACK, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        pages = max(1, args.nodes // 1000)

        def get(page: int) -> int:
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
            connection.request("GET", f"/v6/nodes/?page_size=1000&page={page}")
            response = connection.getresponse()
            response.read()
            connection.close()
            return response.status

        for _ in range(args.workers * 4):
            get(1)
        workers = sorted(child_pids(server.pid))
        start = {pid: _rss_mb(pid) for pid in workers}
        peak = dict(start)
        sent = [0]
        errors = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client() -> None:
            while time.monotonic() < stop_at:
                with lock:
                    if sent[0] >= args.max_requests:
                        return
                    sent[0] += 1
                if get(random.randint(1, pages)) != 200:  # noqa: S311 (load, not security)
                    with lock:
                        errors[0] += 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for pid in workers:
                with contextlib.suppress(FileNotFoundError):
                    peak[pid] = max(peak[pid], _rss_mb(pid))
            time.sleep(1)
        end = {}
        for pid in workers:
            try:
                end[pid] = _rss_mb(pid)
            except FileNotFoundError:
                end[pid] = None
        print(
            json.dumps(
                {
                    "requests": sent[0],
                    "errors": errors[0],
                    "workers": [
                        {
                            "pid": pid,
                            "start_mb": round(start[pid], 1),
                            "peak_mb": round(peak[pid], 1),
                            "end_mb": None if end[pid] is None else round(end[pid], 1),
                        }
                        for pid in workers
                    ],
                },
                indent=1,
            )
        )
        return 0
    finally:
        stop_gunicorn(server, timeout=30)


if __name__ == "__main__":
    sys.exit(main())
