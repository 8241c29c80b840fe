"""Benchmark databases: one PostgreSQL database per table size, named ``scale_nodes_bench_<size>``.

``BENCH_DATABASE_PREFIX`` replaces ``scale_nodes_bench_`` (so that runs sharing one PostgreSQL server
keep apart); only databases with the prefix are ever created or dropped here.
"""

from __future__ import annotations

import os

import dj_database_url
import psycopg2
from psycopg2 import sql

BENCH_DB_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "").strip() or "scale_nodes_bench_"


def bench_database_url(server_url: str, size: int, *, suffix: str = "") -> str:
    """The URL of the benchmark database of ``size`` nodes on the server of ``server_url``."""
    config = dj_database_url.parse(server_url)
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgres://{auth}@{config['HOST']}:{config['PORT'] or 5432}/{BENCH_DB_PREFIX}{size}{suffix}"


def _admin_connection(url: str) -> psycopg2.extensions.connection:
    config = dj_database_url.parse(url)
    connection = psycopg2.connect(
        dbname="postgres",
        user=config["USER"],
        password=config["PASSWORD"] or None,
        host=config["HOST"],
        port=config["PORT"] or 5432,
        connect_timeout=5,
    )
    connection.autocommit = True
    return connection


def ensure_database(url: str, *, recreate: bool = False) -> None:
    """Create the benchmark database of ``url`` when missing (dropping it first with ``recreate``)."""
    name = dj_database_url.parse(url)["NAME"]
    if not name.startswith(BENCH_DB_PREFIX):
        raise ValueError(f"refusing to manage {name!r}: benchmark databases are named {BENCH_DB_PREFIX}*")
    connection = _admin_connection(url)
    try:
        with connection.cursor() as cursor:
            if recreate:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def drop_database(url: str) -> None:
    """Drop the benchmark database of ``url`` (used for the throw-away smoke database)."""
    name = dj_database_url.parse(url)["NAME"]
    if not name.startswith(BENCH_DB_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: benchmark databases are named {BENCH_DB_PREFIX}*")
    connection = _admin_connection(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        connection.close()
