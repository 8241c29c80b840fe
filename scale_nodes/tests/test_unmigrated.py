"""A database nobody has migrated yet: every node command says so in one line, and ``/readyz`` in JSON (503).

On a new, empty database of the configured kind (a SQLite file, or on PostgreSQL a database of its
own next to the test database, dropped at the end); ``/readyz`` over real HTTP from gunicorn on
127.0.0.1:``UNMIGRATED_PORT`` (default 8450), stopped by its process id at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.served import REPO, GunicornInstance, fresh_database_url, request
from serving.migrations import NOT_MIGRATED

PORT = int(os.environ.get("UNMIGRATED_PORT", "8450"))

COMMANDS = [
    ("nodes", "list"),
    ("nodes", "list", "--search", "disk"),
    ("nodes", "watch", "--timeout", "0.1"),
    ("nodes", "pause", "node-1", "--reason", "disk"),
    ("create_api_token", "admin"),
    ("revoke_api_tokens", "admin"),
    ("prune_node_history", "--older-than", "P30D"),
    ("seed_nodes", "--count", "1", "--quiet"),
]


@pytest.fixture(scope="module")
def unmigrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    directory = tmp_path_factory.mktemp("unmigrated")
    with fresh_database_url(directory, name="unmigrated") as url:
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "scale_nodes.settings"}
        yield {"url": url, "env": env, "directory": directory}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_command_on_an_unmigrated_database_says_so_in_one_line(unmigrated: dict, command: tuple[str, ...]) -> None:
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *command],
        cwd=REPO,
        env=unmigrated["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    # Django's start-up notices aside (INFO log lines), the error is one line.
    errors = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"CommandError: {NOT_MIGRATED} ("), result.stderr


def test_readyz_on_an_unmigrated_database_is_a_json_503_saying_so(unmigrated: dict) -> None:
    instance = GunicornInstance(
        port=PORT,
        database_url=unmigrated["url"],
        log_path=Path(unmigrated["directory"]) / "gunicorn.log",
        workers=1,
        extra_env={"ALLOWED_HOSTS": "127.0.0.1", "SECURE_HSTS_SECONDS": "0"},
    ).start()
    try:
        reply = request(PORT, "GET", "/readyz")
    finally:
        instance.stop()
    assert reply.status == 503, reply
    body = reply.json()
    assert body["status"] == "unavailable" and body["database"] == "ok", body
    assert body["detail"].startswith(f"{NOT_MIGRATED} ("), body
    assert "node.0001_initial" in body["unapplied_migrations"], body
