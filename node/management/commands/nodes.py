"""``manage.py nodes``: list nodes, watch their changes, and pause, resume, deactivate or reactivate them; send
heartbeats, show liveness and record the nodes that went offline or came back."""

import datetime as dt
import time
from collections.abc import Sequence
from types import SimpleNamespace

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils.text import capfirst

from node.actions import NODE_ACTIONS, STATE_FILTERS, state_words
from node.actors import command_actor
from node.hostnames import validate_hostname
from node.live import follow
from node.models import HOSTNAME_MAX_LENGTH, NODE_FIELDS, Node, NodeChange, NodeLiveness
from node.selectors import (
    NodeListQuery,
    RecordedChange,
    liveness_cutoff,
    node_liveness_rows,
    nodes_with_hostnames,
    search_text,
)
from node.services import node_deactivate_offline, node_heartbeat, node_liveness_reap, node_update_many
from serving.migrations import MigratedDatabaseCommand

STATES = tuple(STATE_FILTERS)


class Command(MigratedDatabaseCommand):
    help = (
        "List nodes, or pause/resume/deactivate/reactivate nodes given by id or hostname "
        "(a value of digits only is an id; hostnames ignore letter case)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        listing = commands.add_parser("list", help="List nodes in a table, ordered by hostname.")
        listing.add_argument("--state", choices=STATES, help="Only nodes in this state.")
        listing.add_argument(
            "--search",
            metavar="TEXT",
            help="Only nodes whose hostname or pause reason contains TEXT (any letter case; 3 characters or more), "
            "as the API's search and the admin's search box find them.",
        )
        listing.add_argument("--limit", type=int, default=100, help="Show at most this many (default 100; 0: all).")
        watch = commands.add_parser(
            "watch", help="Print node changes as they commit (time, hostname, state, what changed), until interrupted."
        )
        watch.add_argument("--after", type=int, help="Start with the changes after this change index (default: now).")
        watch.add_argument("--timeout", type=float, help="Stop after this many seconds (default: never).")
        heartbeat = commands.add_parser("heartbeat", help="Send a heartbeat for nodes by hostname: they are seen now.")
        heartbeat.add_argument("hostnames", nargs="+", metavar="HOST", help="Hostname (any letter case).")
        liveness = commands.add_parser(
            "liveness", help="List nodes with their liveness (state, last heartbeat), ordered by id."
        )
        liveness.add_argument("--state", choices=NodeLiveness.State.values, help="Only nodes in this state.")
        liveness.add_argument("--limit", type=int, default=100, help="Show at most this many (default 100; 0: all).")
        commands.add_parser(
            "reap",
            help="Record now the nodes that went offline (no heartbeat for NODE_HEARTBEAT_TTL) or came back online, "
            "once each; the server processes do this by themselves every NODE_REAP_SECONDS.",
        )
        for action in NODE_ACTIONS.values():
            sub = commands.add_parser(action.name, help=f"{action.name.capitalize()} nodes by id or hostname.")
            sub.add_argument("nodes", nargs="+", metavar="NODE", help="Node id or hostname.")
            if action.needs_reason:
                sub.add_argument("--reason", required=True, help="Why the nodes are paused (stored on each).")

    def handle(self, *args: object, **options: object) -> None:
        if options["command"] == "watch":
            self._watch(after=options["after"], timeout=options["timeout"])
            return
        if options["command"] == "list":
            self._list(state=options["state"], search=options["search"], limit=options["limit"])
            return
        if options["command"] == "heartbeat":
            self._heartbeat(options["hostnames"])
            return
        if options["command"] == "liveness":
            self._liveness(state=options["state"], limit=options["limit"])
            return
        if options["command"] == "reap":
            self._reap()
            return
        action = NODE_ACTIONS[options["command"]]
        nodes = _resolve(options["nodes"])
        try:
            changes = action.changes_with(options.get("reason"))
            result = node_update_many(nodes=nodes, changes=changes, actor=command_actor(f"nodes {action.name}"))
        except ValueError as exc:
            raise CommandError(capfirst(str(exc))) from None
        self.stdout.write(action.describe(result))

    def _list(self, *, state: str | None, search: str | None, limit: int) -> None:
        if limit < 0:
            raise CommandError("--limit must be >= 0.")
        nodes = Node.objects.all()
        if state:
            nodes = nodes.filter(STATE_FILTERS[state])
        if search:
            try:
                nodes = NodeListQuery(search=search_text(search)).filter(nodes)
            except ValueError as exc:
                raise CommandError(f"--search: {exc}") from None
        # Served in order by the case-insensitive unique index on hostname.
        nodes = nodes.order_by(Lower("hostname"), "id")
        shown = nodes[:limit] if limit else nodes
        rows = [
            (
                str(node.id),
                node.hostname,
                ",".join(state_words(node)),
                node.last_modified.isoformat(),
                node.pause_reason or "",
            )
            for node in shown.iterator(chunk_size=2000)
        ]
        header = ("ID", "HOSTNAME", "STATE", "LAST MODIFIED", "PAUSE REASON")
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
        total = nodes.count() if limit and len(rows) == limit else len(rows)
        if total > len(rows):
            self.stdout.write(f"{len(rows)} of {total} nodes shown; --limit 0 shows all.")
        else:
            self.stdout.write(f"{total} node{'s' if total != 1 else ''}.")

    def _heartbeat(self, hostnames: Sequence[str]) -> None:
        for hostname in hostnames:
            try:
                validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH)
            except ValueError as exc:
                raise CommandError(f"{capfirst(str(exc))} Nothing was recorded.") from None
        result = node_heartbeat(hostnames=hostnames)
        self.stdout.write(f"{result.seen} node{'s' if result.seen != 1 else ''} seen.")
        if result.unknown:
            raise CommandError(
                f"Unknown hostname{'s' if len(result.unknown) != 1 else ''}: {', '.join(result.unknown)}."
            )

    def _liveness(self, *, state: str | None, limit: int) -> None:
        if limit < 0:
            raise CommandError("--limit must be >= 0.")
        rows = node_liveness_rows(cutoff=liveness_cutoff())
        if state:
            rows = rows.filter(state=state)
        shown = list(rows[:limit] if limit else rows)
        table = [
            (str(row["id"]), row["hostname"], row["state"], row["last_seen"].isoformat() if row["last_seen"] else "")
            for row in shown
        ]
        header = ("ID", "HOSTNAME", "STATE", "LAST SEEN")
        widths = [max(len(row[column]) for row in [header, *table]) for column in range(len(header))]
        for row in [header, *table]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        total = rows.count() if limit and len(shown) == limit else len(shown)
        if total > len(shown):
            self.stdout.write(f"{len(shown)} of {total} nodes shown; --limit 0 shows all.")
        else:
            self.stdout.write(f"{total} node{'s' if total != 1 else ''}.")

    def _reap(self) -> None:
        done = node_liveness_reap(ttl=dt.timedelta(seconds=settings.NODE_HEARTBEAT_TTL))
        self.stdout.write(f"{len(done.offline)} went offline, {len(done.online)} came back online.")
        if settings.NODE_OFFLINE_DEACTIVATE_SECONDS > 0:
            offline_for = dt.timedelta(seconds=settings.NODE_OFFLINE_DEACTIVATE_SECONDS)
            self.stdout.write(f"{node_deactivate_offline(offline_for=offline_for)} deactivated after {offline_for}.")

    def _watch(self, *, after: int | None, timeout: float | None) -> None:
        """Follow the changes in this process, as ``GET /v6/nodes/events/`` does, and print each one."""
        until = None if timeout is None else time.monotonic() + timeout
        self.stdout.write("TIME  INDEX  HOSTNAME  STATE  CHANGES")
        try:
            for page in follow(after, until=until):
                for event in page.events:
                    node = dict(zip(NODE_FIELDS, event.node, strict=True))
                    self.stdout.write(_watch_line(node=node, index=event.index, record=event.record))
                self.stdout.flush()
        except KeyboardInterrupt:
            pass


def _watch_line(*, node: dict, index: int, record: RecordedChange | None) -> str:
    """One line of ``nodes watch``: when, which change, the node, its state, and what changed by whom."""
    time_text = node["last_modified"].astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    state = ",".join(state_words(SimpleNamespace(**node)))
    if record is None:
        changed = "no value changed"
    elif record.action == NodeChange.Action.UPDATE:
        changed = ", ".join(f"{field}: {value['old']!r} -> {value['new']!r}" for field, value in record.changes.items())
        changed += f" (by {record.actor} via {record.channel})"
    else:
        changed = f"{record.action} (by {record.actor} via {record.channel})"
    reason = f" ({node['pause_reason']})" if node["pause_reason"] else ""
    return f"{time_text}  {index}  {node['hostname']}  {state}{reason}  {changed}"


def _is_id(reference: str) -> bool:
    return reference.isascii() and reference.isdigit()


def _resolve(references: list[str]) -> QuerySet[Node]:
    """The nodes named by ids and hostnames; raises ``CommandError`` naming every unknown one."""
    ids = {int(reference) for reference in references if _is_id(reference)}
    names = {reference.lower() for reference in references if not _is_id(reference)}
    known_ids = set(Node.objects.filter(pk__in=ids).values_list("pk", flat=True))
    by_name = dict(nodes_with_hostnames(names).values_list("hostname_key", "pk"))
    unknown = [
        reference
        for reference in references
        if (int(reference) not in known_ids if _is_id(reference) else reference.lower() not in by_name)
    ]
    if unknown:
        raise CommandError(f"Unknown node{'s' if len(unknown) != 1 else ''}: {', '.join(unknown)}. Nothing changed.")
    return Node.objects.filter(pk__in=known_ids | set(by_name.values()))
