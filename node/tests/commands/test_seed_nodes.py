"""The manage.py command ``seed_nodes``, run with ``call_command``."""

import getpass
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from node.demo import demo_nodes
from node.management.commands.seed_nodes import LISTED_NAMES
from node.models import Node, NodeChange
from node.tests.helpers import T0, records
from node.tests.helpers import run_command as run


class Terminal(io.StringIO):
    """Captured output that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def hostnames() -> list[str]:
    return sorted(Node.objects.values_list("hostname", flat=True))


@pytest.fixture
def hosts_file(tmp_path: Path) -> Callable[[str], str]:
    """Write a file of hostnames and return its path."""

    def write(text: str) -> str:
        path = tmp_path / "hosts.txt"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


@pytest.mark.django_db
class TestSeedNodes:
    def test_hostnames_as_arguments_are_registered_once(self) -> None:
        assert run("seed_nodes", "a.test", "b.test") == "2 nodes registered, 0 already known.\n"
        output = run("seed_nodes", "A.test", "c.test")
        assert output == "1 nodes registered, 1 already known.\nAlready known: A.test.\n"
        assert hostnames() == ["a.test", "b.test", "c.test"]

    def test_count_generates_numbered_hostnames_with_prefix_and_domain(self) -> None:
        run("seed_nodes", "--count", "12", "--prefix", "web-", "--domain", "dc1.test")
        names = hostnames()
        assert (names[0], names[-1], len(names)) == ("web-01.dc1.test", "web-12.dc1.test", 12)

    def test_demo_gives_a_mix_of_states_and_only_when_empty_with_if_empty(self) -> None:
        run("seed_nodes", "--demo", "--if-empty")
        assert Node.objects.count() == len(demo_nodes())
        assert Node.objects.filter(is_paused=True).exclude(pause_reason=None).exists()
        assert Node.objects.filter(is_active=False).exclude(deprecated=None).exists()
        assert Node.objects.filter(is_active=True, is_paused=False).exists()
        assert run("seed_nodes", "--demo", "--if-empty") == "Nodes exist already; nothing seeded.\n"

    def test_file_gives_one_hostname_per_line_ignoring_blanks_comments_and_spaces(
        self, hosts_file: Callable[[str], str]
    ) -> None:
        path = hosts_file("a.test\n\n# spare nodes\n  b.test \r\nc.test")
        assert run("seed_nodes", "--file", path) == "3 nodes registered, 0 already known.\n"
        assert hostnames() == ["a.test", "b.test", "c.test"]

    def test_dash_reads_the_hostnames_from_standard_input(self) -> None:
        run("seed_nodes", "--file", "-", stdin=io.StringIO("x.test\ny.test\n"))
        assert hostnames() == ["x.test", "y.test"]

    def test_seeding_the_same_file_twice_inserts_nothing_the_second_time(
        self, hosts_file: Callable[[str], str]
    ) -> None:
        path = hosts_file("a.test\nb.test\n")
        run("seed_nodes", "--file", path)
        before = list(Node.objects.order_by("pk").values_list("pk", "hostname", "last_modified"))
        output = run("seed_nodes", "--file", path)
        assert output == "0 nodes registered, 2 already known.\nAlready known: a.test, b.test.\n"
        assert list(Node.objects.order_by("pk").values_list("pk", "hostname", "last_modified")) == before

    def test_known_hostnames_in_another_case_are_skipped_not_overwritten(self, make_node: Callable[..., Node]) -> None:
        make_node("Known.test", is_paused=True, pause_reason="disk", last_modified=T0)
        run("seed_nodes", "KNOWN.TEST")
        node = Node.objects.get()
        assert (node.hostname, node.pause_reason, node.last_modified) == ("Known.test", "disk", T0)

    def test_repeated_hostnames_in_the_input_count_once(self) -> None:
        output = run("seed_nodes", "a.test", "A.TEST", "a.test")
        assert output == "1 nodes registered, 0 already known.\n2 repeated hostnames in the input counted once.\n"
        assert hostnames() == ["a.test"]

    def test_a_long_list_of_known_hostnames_is_cut_short_unless_verbose(self) -> None:
        names = [f"n{number:02d}.test" for number in range(LISTED_NAMES + 5)]
        run("seed_nodes", *names)
        assert run("seed_nodes", *names).endswith(" and 5 more (-v 2 lists all).\n")
        assert run("seed_nodes", *names, "-v", "2").endswith(f"{names[-1]}.\n")
        assert run("seed_nodes", *names, "--quiet") == f"0 nodes registered, {len(names)} already known.\n"

    def test_bad_lines_are_reported_with_line_numbers_and_the_valid_ones_registered(
        self, hosts_file: Callable[[str], str]
    ) -> None:
        path = hosts_file("good.test\nbad_name.test\n\n-dash.test\n" + "h" * 251 + "\nalso-good.test\n")
        errors = io.StringIO()
        with pytest.raises(CommandError, match=r"^3 bad hostnames skipped; the valid ones were registered\.$"):
            run("seed_nodes", "--file", path, stderr=errors)
        lines = errors.getvalue().splitlines()
        assert [line.split(":")[0] for line in lines] == ["line 2", "line 4", "line 5"]
        assert "'bad_name.test' is not a valid hostname" in lines[0]
        assert "at most 250 characters" in lines[2]
        assert hostnames() == ["also-good.test", "good.test"]

    def test_strict_registers_nothing_when_any_line_is_bad(self, hosts_file: Callable[[str], str]) -> None:
        path = hosts_file("good.test\nbad_name.test\n")
        errors = io.StringIO()
        with pytest.raises(CommandError, match=r"^1 bad hostname; nothing registered \(--strict\)\.$"):
            run("seed_nodes", "--file", path, "--strict", stderr=errors)
        assert errors.getvalue().startswith("line 2: ")
        assert not Node.objects.exists()

    def test_bad_arguments_are_reported_by_position(self) -> None:
        errors = io.StringIO()
        with pytest.raises(CommandError, match="1 bad hostname skipped"):
            run("seed_nodes", "ok.test", "bad_name.test", stderr=errors)
        assert errors.getvalue().startswith("argument 2: 'bad_name.test' is not a valid hostname")
        assert hostnames() == ["ok.test"]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((), r"Give hostnames, --file PATH, --count N or --demo\."),
            (("--count", "-1"), r"--count must be >= 0\."),
            (("--count", "3", "--prefix", "bad_"), r"--prefix/--domain give bad hostnames: 'bad_1\.cluster\.local'"),
            (("--count", "3", "--domain", "x..test"), r"--prefix/--domain give bad hostnames"),
            (("--file", "/nonexistent/hosts.txt"), r"Cannot read /nonexistent/hosts\.txt: No such file or directory\."),
        ],
    )
    def test_bad_options_are_a_command_error_and_insert_nothing(self, args: tuple[str, ...], message: str) -> None:
        with pytest.raises(CommandError, match=message):
            run("seed_nodes", *args)
        assert not Node.objects.exists()

    def test_an_empty_file_is_a_command_error(self, hosts_file: Callable[[str], str]) -> None:
        with pytest.raises(CommandError, match="Give hostnames"):
            run("seed_nodes", "--file", hosts_file("\n# nothing\n"))

    def test_a_progress_bar_is_drawn_on_a_terminal(self) -> None:
        terminal = Terminal()
        run("seed_nodes", "--count", "3", stderr=terminal)
        assert terminal.getvalue().endswith("\r[##############################] 100%  3/3 hostnames\n")
        assert Node.objects.count() == 3

    @pytest.mark.parametrize(("stream", "args"), [(Terminal, ("--quiet",)), (io.StringIO, ())])
    def test_no_progress_bar_with_quiet_or_off_a_terminal(self, stream: type[io.StringIO], args: tuple) -> None:
        errors = stream()
        run("seed_nodes", "--count", "3", *args, stderr=errors)
        assert errors.getvalue() == ""
        assert Node.objects.count() == 3

    def test_seeding_records_each_registration_with_the_command_and_os_user(self) -> None:
        call_command("seed_nodes", "a.test", "b.test", stdout=io.StringIO())
        call_command("seed_nodes", "a.test", stdout=io.StringIO())
        node = Node.objects.get(hostname="a.test")
        assert records(node) == [
            {
                "action": "register",
                "channel": "cli",
                "actor": f"manage.py seed_nodes (os user {getpass.getuser()})",
                "changes": {
                    "hostname": {"old": None, "new": "a.test"},
                    "is_paused": {"old": None, "new": False},
                    "pause_reason": {"old": None, "new": None},
                    "is_active": {"old": None, "new": True},
                },
            }
        ]
        assert NodeChange.objects.count() == 2
