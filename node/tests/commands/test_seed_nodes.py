"""The manage.py commands ``seed_nodes`` and ``nodes``, run with ``call_command``."""

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from node.demo import demo_nodes
from node.management.commands.seed_nodes import LISTED_NAMES
from node.models import Node

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Terminal(io.StringIO):
    """Captured output that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def run(command: str, *args: str, stdin: io.StringIO | None = None, stderr: io.StringIO | None = None) -> str:
    """Run ``command`` and return what it printed on standard output."""
    out = io.StringIO()
    extra = {"stdin": stdin} if stdin is not None else {}
    call_command(command, *args, stdout=out, stderr=stderr if stderr is not None else io.StringIO(), **extra)
    return out.getvalue()


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


@pytest.mark.django_db
class TestNodesCommand:
    @pytest.fixture
    def nodes(self, make_node: Callable[..., Node]) -> dict[str, Node]:
        return {
            "web": make_node("Web-1.test", last_modified=T0),
            "db": make_node("db-1.test", is_paused=True, pause_reason="disk", last_modified=T0),
            "old": make_node("old-1.test", is_active=False, last_modified=T0),
        }

    def test_list_prints_a_table_ordered_by_hostname(self, nodes: dict[str, Node]) -> None:
        lines = run("nodes", "list").splitlines()
        assert lines[0].split() == ["ID", "HOSTNAME", "STATE", "LAST", "MODIFIED", "PAUSE", "REASON"]
        rows = [line.split() for line in lines[1:-1]]
        assert rows == [
            [str(nodes["db"].pk), "db-1.test", "active,paused", T0.isoformat(), "disk"],
            [str(nodes["old"].pk), "old-1.test", "inactive", T0.isoformat()],
            [str(nodes["web"].pk), "Web-1.test", "active", T0.isoformat()],
        ]
        assert lines[-1] == "3 nodes."

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (("--state", "active"), ["Web-1.test"]),
            (("--state", "paused"), ["db-1.test"]),
            (("--state", "inactive"), ["old-1.test"]),
            (("--search", "WEB"), ["Web-1.test"]),
        ],
    )
    def test_list_filters_by_state_and_search(
        self, nodes: dict[str, Node], args: tuple[str, ...], expected: list[str]
    ) -> None:
        lines = run("nodes", "list", *args).splitlines()
        assert [line.split()[1] for line in lines[1:-1]] == expected

    def test_list_limit_says_how_many_are_not_shown(self, nodes: dict[str, Node]) -> None:
        lines = run("nodes", "list", "--limit", "2").splitlines()
        assert len(lines) == 4
        assert lines[-1] == "2 of 3 nodes shown; --limit 0 shows all."
        assert run("nodes", "list", "--limit", "0").splitlines()[-1] == "3 nodes."

    def test_pause_by_id_and_hostname_stores_the_reason(self, nodes: dict[str, Node]) -> None:
        output = run("nodes", "pause", str(nodes["web"].pk), "OLD-1.TEST", "--reason", "Rack work")
        assert output == "Paused 2 nodes.\n"
        for name in ("web", "old"):
            nodes[name].refresh_from_db()
            assert (nodes[name].is_paused, nodes[name].pause_reason) == (True, "Rack work")
            assert nodes[name].last_modified > T0

    def test_resume_clears_the_reason_and_counts_nodes_already_running(self, nodes: dict[str, Node]) -> None:
        assert run("nodes", "resume", "db-1.test", "web-1.test") == "Resumed 2 nodes; 1 of them was already running.\n"
        nodes["db"].refresh_from_db()
        assert (nodes["db"].is_paused, nodes["db"].pause_reason) == (False, None)

    def test_deactivate_and_reactivate_set_and_clear_deprecated(self, nodes: dict[str, Node]) -> None:
        assert run("nodes", "deactivate", "web-1.test") == "Deactivated 1 node.\n"
        nodes["web"].refresh_from_db()
        assert nodes["web"].deprecated == nodes["web"].last_modified
        assert run("nodes", "reactivate", "web-1.test", "old-1.test") == "Reactivated 2 nodes.\n"
        assert not Node.objects.exclude(deprecated=None).exists()

    def test_unknown_nodes_are_all_named_and_nothing_changes(self, nodes: dict[str, Node]) -> None:
        with pytest.raises(CommandError, match=r"^Unknown nodes: nope\.test, 999999\. Nothing changed\.$"):
            run("nodes", "deactivate", "web-1.test", "nope.test", "999999")
        assert Node.objects.filter(is_active=True).count() == 2

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("pause", "web-1.test"), "the following arguments are required: --reason"),
            (("pause", "web-1.test", "--reason", "  "), r"^Pause needs a reason\.$"),
            (("pause", "web-1.test", "--reason", "r" * 251), "at most 250 characters"),
            (("resume",), "the following arguments are required: NODE"),
            (("list", "--limit", "-1"), r"--limit must be >= 0\."),
            (("list", "--state", "broken"), "invalid choice: 'broken'"),
            (("reboot", "web-1.test"), "invalid choice: 'reboot'"),
        ],
    )
    def test_bad_input_is_a_command_error_and_changes_nothing(
        self, nodes: dict[str, Node], args: tuple[str, ...], message: str
    ) -> None:
        with pytest.raises(CommandError, match=message):
            run("nodes", *args)
        assert not Node.objects.exclude(last_modified=T0).exists()
