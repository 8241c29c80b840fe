"""Whether the database has every migration the code knows applied, and what to say when it has not.

An unmigrated database makes the first query fail deep inside whatever ran it (``relation "node"
does not exist``, hidden on PostgreSQL behind a later ``InvalidCursorName``); the commands
(``MigratedDatabaseCommand``) and ``/readyz`` tell the operator the cause in one line instead.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

NOT_MIGRATED = "the database is not migrated: run manage.py migrate"


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations the code knows that the database ``alias`` has not applied, as ``app.name``, in order.

    Raises ``DatabaseError`` when the database cannot be read.
    """
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def not_migrated_detail(pending: list[str]) -> str:
    """``NOT_MIGRATED``, with how many migrations are pending and the first of them."""
    count = f"{len(pending)} migration{'s' if len(pending) != 1 else ''} not applied, from {pending[0]}"
    return f"{NOT_MIGRATED} ({count})."


class MigratedDatabaseCommand(BaseCommand):
    """A management command that fails with ``NOT_MIGRATED`` in one line when it fails on an unmigrated database.

    The migrations are read only once the command has failed with a database error: a command
    that succeeds costs no extra query. Any other failure is raised as it is.
    """

    def execute(self, *args: Any, **options: Any) -> Any:
        # The driver's own errors too: on PostgreSQL the missing table's error is followed, while the
        # cursor of an iteration is closed, by one Django does not wrap (InvalidCursorName).
        try:
            return super().execute(*args, **options)
        except (DatabaseError, connections[DEFAULT_DB_ALIAS].Database.Error) as exc:
            try:
                pending = unapplied_migrations()
            except DatabaseError:
                pending = []
            if pending:
                raise CommandError(not_migrated_detail(pending)) from exc
            raise
