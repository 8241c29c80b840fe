"""``manage.py prune_node_history --older-than P90D``: delete old records of node changes."""

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from node.services import node_history_prune
from serving.migrations import MigratedDatabaseCommand
from util.iso8601 import parse_iso8601_instant


class Command(MigratedDatabaseCommand):
    help = "Delete node history records older than an ISO-8601 duration (e.g. P90D). History is kept forever otherwise."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", required=True, metavar="DURATION", help="ISO-8601 duration, e.g. P90D or P1Y."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted, delete nothing.")

    def handle(self, *args: object, **options: object) -> None:
        value = options["older_than"]
        if not value.startswith("P"):
            raise CommandError(f"--older-than takes an ISO-8601 duration such as P90D, got {value!r}.")
        try:
            cutoff = parse_iso8601_instant(value, now=timezone.now())
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from None
        count = node_history_prune(before=cutoff, dry_run=options["dry_run"])
        verb = "would be deleted" if options["dry_run"] else "deleted"
        self.stdout.write(f"{count} history records older than {cutoff.isoformat()} {verb}.")
