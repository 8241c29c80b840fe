"""``manage.py seed_nodes``: register nodes by hostname, or a demo set."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from node.demo import demo_nodes
from node.models import Node
from node.services import node_register


class Command(BaseCommand):
    help = "Register nodes: hostnames as arguments, --count generated ones, or --demo. Known hostnames are skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hostnames", nargs="*", help="Hostnames to register.")
        parser.add_argument("--count", type=int, default=0, help="Generate this many hostnames.")
        parser.add_argument("--prefix", default="node-", help="Prefix of generated hostnames (default: node-).")
        parser.add_argument("--domain", default="cluster.local", help="Domain of generated hostnames.")
        parser.add_argument(
            "--demo", action="store_true", help="Register a demo mix of active, paused and inactive nodes."
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any node exists already.")

    def handle(self, *args: object, **options: object) -> None:
        if options["if_empty"] and Node.objects.exists():
            self.stdout.write("Nodes exist already; nothing seeded.")
            return
        if options["count"] < 0:
            raise CommandError("--count must be >= 0.")
        hostnames = list(options["hostnames"])
        width = len(str(options["count"]))
        hostnames += [f"{options['prefix']}{n:0{width}d}.{options['domain']}" for n in range(1, options["count"] + 1)]
        states = demo_nodes() if options["demo"] else {}
        hostnames += list(states)
        if not hostnames:
            raise CommandError("Give hostnames, --count N or --demo.")
        try:
            result = node_register(hostnames=hostnames, states=states, actor="manage.py seed_nodes")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{len(result.created)} nodes registered, {len(result.existing)} already known.")
