"""The manage.py command ``nodes``: list, pause, resume, deactivate and reactivate from the shell."""

import getpass
import threading
from collections.abc import Callable, Iterator

import pytest
from django.core.management import CommandError

from node import live
from node.models import Node
from node.selectors import current_change_index
from node.services import node_create, node_update
from node.tests.helpers import T0, records, registration
from node.tests.helpers import run_command as run


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
            (("pause", "web-1.test", "--reason", "r" * 251), "no more than 250 characters"),
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

    def test_nodes_command_records_the_command_and_os_user(self, make_node: Callable[..., Node]) -> None:
        node = make_node("shell.test")
        run("nodes", "deactivate", "shell.test")
        assert records(node) == [
            registration("shell.test"),
            {
                "action": "update",
                "channel": "cli",
                "actor": f"manage.py nodes deactivate (os user {getpass.getuser()})",
                "changes": {"is_active": {"old": True, "new": False}},
            },
        ]


@pytest.mark.django_db(transaction=True)
class TestNodesWatch:
    @pytest.fixture(autouse=True)
    def no_listener_left(self) -> Iterator[None]:
        live.reset()
        yield
        live.reset()

    def test_watch_from_an_index_prints_each_change_with_its_time_node_state_and_what_changed(self) -> None:
        start = current_change_index()
        node = node_create(hostname="watched-1.test")
        node_update(node=node, changes={"is_paused": True, "pause_reason": "fan swap"})
        other = node_create(hostname="watched-2.test")
        lines = run("nodes", "watch", "--after", str(start), "--timeout", "0.5").splitlines()
        assert lines[0].split() == ["TIME", "INDEX", "HOSTNAME", "STATE", "CHANGES"]
        # Each change once, with the node as it was right after it.
        assert len(lines) == 4, lines
        assert f"  {start + 1}  watched-1.test  active  register" in lines[1]
        assert f"  {start + 2}  watched-1.test  active,paused (fan swap)  " in lines[2]
        assert "is_paused: False -> True" in lines[2]
        assert lines[2].startswith(node.__class__.objects.get(pk=node.pk).last_modified.strftime("%Y-%m-%dT%H:%M:%S"))
        assert f"  {start + 3}  watched-2.test  active  register" in lines[3]
        assert other.hostname in lines[3]

    def test_watch_prints_each_of_ten_quick_changes_of_one_node_in_order(self) -> None:
        node = node_create(hostname="watched-10.test")
        start = current_change_index()
        for n in range(10):
            node_update(node=node, changes={"is_paused": n % 2 == 0, "pause_reason": f"step {n}"})
        lines = run("nodes", "watch", "--after", str(start), "--timeout", "0.5").splitlines()[1:]
        indexes = [int(line.split()[1]) for line in lines]
        assert indexes == list(range(start + 1, start + 11)), lines
        assert ["(step 0)" in lines[0], "paused" in lines[1].split()[3]] == [True, False], lines
        assert "(step 8)" in lines[8], lines

    def test_watch_prints_changes_that_commit_while_it_waits(self) -> None:
        node = node_create(hostname="watched-3.test")
        timer = threading.Timer(0.5, lambda: node_update(node=node, changes={"is_active": False}))
        timer.start()
        try:
            output = run("nodes", "watch", "--timeout", "2")
        finally:
            timer.join()
        assert "watched-3.test  inactive  is_active: True -> False" in output, output
