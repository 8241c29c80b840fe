"""``manage.py seed_nodes``: register nodes in bulk, from arguments, a file, generated names or a demo set."""

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from django.core.management.base import CommandError, CommandParser

from node.actors import command_actor
from node.demo import demo_nodes
from node.hostnames import validate_hostname
from node.management.progress import ProgressBar, wants_progress
from node.models import HOSTNAME_MAX_LENGTH, Node
from node.services import node_register
from serving.migrations import MigratedDatabaseCommand

# How many already-known hostnames are listed by name at normal verbosity (-v 2 lists all).
LISTED_NAMES = 20


@dataclass
class Hostnames:
    """Hostnames gathered from every source: the valid ones, and each bad one with where it came from."""

    valid: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)

    def add(self, hostname: str, *, where: str) -> None:
        try:
            self.valid.append(validate_hostname(hostname, max_length=HOSTNAME_MAX_LENGTH))
        except ValueError as exc:
            self.bad.append((where, str(exc)))


class Command(MigratedDatabaseCommand):
    help = (
        "Register nodes by hostname: as arguments, one per line from --file (- for standard input), "
        "--count generated ones, or --demo. Hostnames already known (in any letter case) are skipped. "
        "Bad hostnames are reported with their line numbers; the valid ones are registered anyway, "
        "or none with --strict. Exits with status 1 when any hostname was bad."
    )
    # Tests hand in their own standard input for --file -.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hostnames", nargs="*", help="Hostnames to register.")
        parser.add_argument(
            "--file",
            metavar="PATH",
            help="Read hostnames from PATH, one per line (- for standard input); blank lines and lines "
            "starting with # are ignored.",
        )
        parser.add_argument("--count", type=int, default=0, help="Generate this many hostnames: PREFIX<n>.DOMAIN.")
        parser.add_argument("--prefix", default="node-", help="Prefix of generated hostnames (default: node-).")
        parser.add_argument("--domain", default="cluster.local", help="Domain of generated hostnames.")
        parser.add_argument(
            "--demo", action="store_true", help="Register a demo mix of active, paused and inactive nodes."
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any node exists already.")
        parser.add_argument("--strict", action="store_true", help="Register nothing at all when any hostname is bad.")
        parser.add_argument("--quiet", action="store_true", help="No progress bar and no lists of names.")

    def handle(self, *args: object, **options: object) -> None:
        if options["if_empty"] and Node.objects.exists():
            self.stdout.write("Nodes exist already; nothing seeded.")
            return
        if options["count"] < 0:
            raise CommandError("--count must be >= 0.")
        quiet = options["quiet"]
        verbosity = options["verbosity"]

        hostnames = Hostnames()
        for position, hostname in enumerate(options["hostnames"], start=1):
            hostnames.add(hostname, where=f"argument {position}")
        if options["file"]:
            for number, hostname in self._read_lines(options["file"], options.get("stdin") or sys.stdin):
                hostnames.add(hostname, where=f"line {number}")
        hostnames.valid.extend(_generated(options["count"], prefix=options["prefix"], domain=options["domain"]))
        states = demo_nodes() if options["demo"] else {}
        hostnames.valid.extend(states)
        if not hostnames.valid and not hostnames.bad:
            raise CommandError("Give hostnames, --file PATH, --count N or --demo.")

        for where, message in hostnames.bad:
            self.stderr.write(f"{where}: {message}")
        if hostnames.bad and options["strict"]:
            raise CommandError(f"{_count(len(hostnames.bad), 'bad hostname')}; nothing registered (--strict).")

        # The bar goes to the raw stream: Django's wrapper would end every redraw with a newline.
        progress_stream: TextIO = self.stderr._out
        bar = None
        if hostnames.valid and wants_progress(progress_stream, quiet=quiet or verbosity == 0):
            distinct = len({hostname.lower() for hostname in hostnames.valid})
            bar = ProgressBar(total=distinct, stream=progress_stream, label="hostnames")
        try:
            result = node_register(
                hostnames=hostnames.valid,
                states=states,
                actor=command_actor("seed_nodes"),
                progress=bar.update if bar else None,
            )
        finally:
            if bar:
                bar.close()

        if verbosity > 0:
            self.stdout.write(f"{len(result.created)} nodes registered, {len(result.existing)} already known.")
            repeated = len(hostnames.valid) - len(result.created) - len(result.existing)
            if repeated:
                self.stdout.write(f"{_count(repeated, 'repeated hostname')} in the input counted once.")
            if result.existing and not quiet:
                self.stdout.write("Already known: " + _listed(result.existing, everything=verbosity > 1))
        if hostnames.bad:
            raise CommandError(f"{_count(len(hostnames.bad), 'bad hostname')} skipped; the valid ones were registered.")

    def _read_lines(self, path: str, stdin: TextIO) -> Iterator[tuple[int, str]]:
        """The hostnames of a file (or standard input for ``-``) with their line numbers."""
        if path == "-":
            yield from _hostname_lines(stdin)
            return
        try:
            # Undecodable bytes become U+FFFD, which then fails validation on its own line.
            with open(path, encoding="utf-8", errors="replace") as lines:
                yield from _hostname_lines(lines)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None


def _hostname_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield number, text


def _generated(count: int, *, prefix: str, domain: str) -> list[str]:
    """``count`` numbered hostnames, zero-padded to one width; checked once, as all share one pattern."""
    if count == 0:
        return []
    width = len(str(count))
    names = [f"{prefix}{number:0{width}d}.{domain}" for number in range(1, count + 1)]
    try:
        # Only the digits differ, so the first name is valid exactly when all are.
        validate_hostname(names[0], max_length=HOSTNAME_MAX_LENGTH)
    except ValueError as exc:
        raise CommandError(f"--prefix/--domain give bad hostnames: {exc}") from None
    return names


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _listed(names: list[str], *, everything: bool) -> str:
    if everything or len(names) <= LISTED_NAMES:
        return ", ".join(names) + "."
    return ", ".join(names[:LISTED_NAMES]) + f" and {len(names) - LISTED_NAMES} more (-v 2 lists all)."
