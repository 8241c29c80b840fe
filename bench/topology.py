"""List and PATCH throughput with 1, 2 and 4 gunicorn instances through PgBouncer, and the PostgreSQL connections used.

``make topology-bench`` runs it. It creates (or reuses) the database of ``--database-url``, migrates
it and seeds ``--nodes`` nodes, starts its own PgBouncer (``deploy/pgbouncer/pgbouncer.sh``, transaction
pooling, on ``--pgbouncer-port``) and four gunicorn instances of ``--workers`` workers on 127.0.0.1
(ports from ``--port-base``), all on PgBouncer. A configuration of N instances sends the load to the
first N of them only (the others stay idle and hold no PostgreSQL connection). Rounds interleave the
configurations and loads, in a new order each round, so that the machine's noise spreads over all of
them; the table shows medians, and the ratio to one instance. During each load, PostgreSQL's
``pg_stat_activity`` is sampled for the connections to the database. Everything it started is stopped,
by process id, when it ends; the database is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import dj_database_url
import psycopg2

REPO = Path(__file__).resolve().parent.parent
INSTANCE_COUNTS = (1, 2, 4)
LOADS = ("list", "patch")
# One more instance connects to PostgreSQL directly, for the cost of the extra hop; its connections
# carry this application_name, so that each configuration counts only its own.
DIRECT = "direct"
DIRECT_APPLICATION = "topology-direct"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TOPOLOGY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scale_nodes_topology"),
        help="PostgreSQL database to create, seed and measure on (direct; PgBouncer is put in front)",
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port-base", type=int, default=8450, help="instances on port-base+1 .. +4")
    parser.add_argument("--pgbouncer-port", type=int, default=6442)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "topology.json")
    return parser.parse_args()


def prepare_database(url: str, nodes: int) -> str:
    """Create, migrate and seed the database when needed; the token of a staff user for the PATCHes."""
    config = dj_database_url.parse(url)
    admin = psycopg2.connect(
        dbname="postgres", user=config["USER"], host=config["HOST"], port=config["PORT"] or 5432, connect_timeout=5
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{config["NAME"]}"')
    admin.close()
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "scale_nodes.settings"}
    python = sys.executable

    def manage(*args: str) -> str:
        return subprocess.run(
            [python, "manage.py", *args], cwd=REPO, env=env, check=True, capture_output=True, text=True, timeout=600
        ).stdout

    manage("migrate", "--noinput", "--verbosity", "0")
    # A superuser (staff, and every model permission, so node.change_node), with a token of the
    # service's own kind (accounts.tokens), created anew each run: only its digest is stored.
    script = (
        "from django.contrib.auth import get_user_model; from accounts.tokens import create_api_token;"
        "from node.models import Node;"
        "user, _ = get_user_model().objects.update_or_create(username='topology-bench',"
        " defaults={'is_staff': True, 'is_superuser': True});"
        "print(create_api_token(user=user, expires_in=None)[1], Node.objects.count())"
    )
    token, count = manage("shell", "--no-imports", "-c", script).split()
    if int(count) < nodes:
        manage("seed_nodes", "--count", str(nodes - int(count)), "--prefix", f"topo-{count}-", "--quiet")
    return token


def connections_to(url: str, *, direct: bool = False) -> tuple[int, int]:
    """PostgreSQL's connections to the database of ``url`` (PgBouncer's, or the direct instance's): open, and busy.

    Busy ones run a statement or hold a transaction open; PgBouncer keeps idle ones for
    ``server_idle_timeout`` after a busier moment, so the open count remembers earlier loads.
    """
    config = dj_database_url.parse(url)
    with (
        psycopg2.connect(
            dbname="postgres", user=config["USER"], host=config["HOST"], port=config["PORT"] or 5432, connect_timeout=5
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity"
            " WHERE datname = %s AND (application_name = %s) = %s",
            [config["NAME"], DIRECT_APPLICATION, direct],
        )
        counts = cursor.fetchone()
    conn.close()
    return counts[0], counts[1]


def measure(
    ports: list[int],
    load: str,
    *,
    ids: list[int],
    token: str,
    clients: int,
    seconds: float,
    database_url: str,
    direct: bool,
) -> dict:
    """Send ``load`` from ``clients`` threads to ``ports`` in turn for ``seconds``; rate, statuses, peak connections."""
    from bench.served import request

    statuses: Counter = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    auth = {"Authorization": f"Token {token}"}

    def client(number: int) -> None:
        rng = random.Random(number)  # noqa: S311 (load pattern)
        sequence = 0
        while not stop.is_set():
            port = ports[(number + sequence) % len(ports)]
            sequence += 1
            if load == "list":
                reply = request(port, "GET", "/v6/nodes/?page_size=100")
            else:
                body = {"is_paused": rng.random() < 0.5, "pause_reason": "topology"}
                reply = request(port, "PATCH", f"/v6/nodes/{rng.choice(ids)}/", body=body, headers=auth)
            with lock:
                statuses[reply.status] += 1

    peak = [0, 0]

    def sample() -> None:
        while not stop.is_set():
            opened, busy = connections_to(database_url, direct=direct)
            peak[0], peak[1] = max(peak[0], opened), max(peak[1], busy)
            time.sleep(0.1)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    sampler = threading.Thread(target=sample)
    started = time.monotonic()
    for thread in [*threads, sampler]:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in [*threads, sampler]:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    return {
        "rps": sum(statuses.values()) / elapsed,
        "statuses": dict(statuses),
        "pg_connections_open": peak[0],
        "pg_connections_busy": peak[1],
    }


def main() -> int:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scale_nodes.settings_test")
    import django

    django.setup()
    from bench.served import GunicornInstance

    token = prepare_database(args.database_url, args.nodes)
    config = dj_database_url.parse(args.database_url)
    pooled_url = f"postgres://{config['USER']}@127.0.0.1:{args.pgbouncer_port}/{config['NAME']}"
    run_dir = Path("/tmp") / f"scale-nodes-topology-pgbouncer-{args.pgbouncer_port}"  # noqa: S108 (our own run dir)
    bouncer_env = {**os.environ, "PGBOUNCER_PORT": str(args.pgbouncer_port), "PGBOUNCER_RUN_DIR": str(run_dir)}
    script = str(REPO / "deploy" / "pgbouncer" / "pgbouncer.sh")
    subprocess.run([script, "start"], env=bouncer_env, check=True, timeout=30)
    instances: list[GunicornInstance] = []
    results: dict[str, list[dict]] = {}
    try:
        with psycopg2.connect(args.database_url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT id FROM node ORDER BY id LIMIT 1000")
            ids = [row[0] for row in cursor.fetchall()]
        conn.close()
        for number in range(max(INSTANCE_COUNTS)):
            instance = GunicornInstance(
                port=args.port_base + 1 + number,
                database_url=pooled_url,
                log_path=run_dir / f"gunicorn-{number}.log",
                workers=args.workers,
                extra_env={"DB_TRANSACTION_POOLING": "true", "CONN_MAX_AGE": "60"},
            )
            instances.append(instance)
            instance.start()
        separator = "&" if "?" in args.database_url else "?"
        direct_instance = GunicornInstance(
            port=args.port_base + 1 + max(INSTANCE_COUNTS),
            database_url=f"{args.database_url}{separator}application_name={DIRECT_APPLICATION}",
            log_path=run_dir / "gunicorn-direct.log",
            workers=args.workers,
            extra_env={"CONN_MAX_AGE": "60"},
        )
        instances.append(direct_instance)
        direct_instance.start()
        configurations = {str(count): [i.port for i in instances[:count]] for count in INSTANCE_COUNTS}
        configurations[DIRECT] = [direct_instance.port]
        idle = connections_to(args.database_url)[0] + connections_to(args.database_url, direct=True)[0]
        print(f"{len(instances)} instances of {args.workers} workers up; PostgreSQL connections at rest: {idle}")
        for round_number in range(args.rounds):
            plan = [(count, load) for count in configurations for load in LOADS]
            random.Random(round_number).shuffle(plan)  # noqa: S311 (an order, not a secret)
            for count, load in plan:
                result = measure(
                    configurations[count],
                    load,
                    ids=ids,
                    token=token,
                    clients=args.clients,
                    seconds=args.seconds,
                    database_url=args.database_url,
                    direct=count == DIRECT,
                )
                results.setdefault(f"{count}:{load}", []).append(result)
                print(f"round {round_number + 1}: {count} instance(s) {load}: {result}", flush=True)
    finally:
        for instance in instances:
            instance.stop()
        subprocess.run([script, "stop"], env=bouncer_env, check=False, timeout=30)

    summary = {
        "workers_per_instance": args.workers,
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "nodes": args.nodes,
        "cores": os.cpu_count(),
        "pgbouncer_default_pool_size": 20,
        "results": {},
    }
    print("\n| instances (workers) | list rps (ratio) | PATCH rps (ratio) | PostgreSQL connections: busy, open |")
    print("|---|---|---|---|")
    base = {load: statistics.median(r["rps"] for r in results[f"1:{load}"]) for load in LOADS}
    for count in [*map(str, INSTANCE_COUNTS), DIRECT]:
        row = {}
        for load in LOADS:
            runs = results[f"{count}:{load}"]
            errors = 0
            for run in runs:
                errors += sum(n for status, n in run["statuses"].items() if status not in (200, 204))
            row[load] = {
                "rps_median": round(statistics.median(r["rps"] for r in runs), 1),
                "rps_runs": [round(r["rps"], 1) for r in runs],
                "pg_connections_open_peak": max(r["pg_connections_open"] for r in runs),
                "pg_connections_busy_peak": max(r["pg_connections_busy"] for r in runs),
                "errors": errors,
            }
        summary["results"][count] = row
        if count == DIRECT:
            label = f"1 ({args.workers}), direct to PostgreSQL"
        else:
            label = f"{count} ({int(count) * args.workers})"
        print(
            f"| {label} "
            f"| {row['list']['rps_median']:.0f} ({row['list']['rps_median'] / base['list']:.2f}) "
            f"| {row['patch']['rps_median']:.0f} ({row['patch']['rps_median'] / base['patch']:.2f}) "
            f"| {max(row[load]['pg_connections_busy_peak'] for load in LOADS)}, "
            f"{max(row[load]['pg_connections_open_peak'] for load in LOADS)} |"
        )
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    failures = sum(row[load]["errors"] for row in summary["results"].values() for load in LOADS)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
