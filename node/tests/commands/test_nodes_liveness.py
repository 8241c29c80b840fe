"""The manage.py command ``nodes``: heartbeats, liveness and the reaper from the shell."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.core.management import CommandError
from django.test import override_settings
from django.utils import timezone

from node.models import Node, NodeChange, NodeLiveness
from node.services import node_heartbeat
from node.tests.helpers import run_command as run


@pytest.mark.django_db
class TestNodesHeartbeat:
    def test_heartbeat_sees_the_nodes_and_writes_no_record(self, make_node: Callable[..., Node]) -> None:
        node = make_node("a.test")
        records = NodeChange.objects.count()
        assert run("nodes", "heartbeat", "A.TEST") == "1 node seen.\n"
        assert NodeLiveness.objects.get(node=node).state == "online"
        assert NodeChange.objects.count() == records

    def test_unknown_hostnames_are_named_after_the_known_are_seen(self, make_node: Callable[..., Node]) -> None:
        make_node("a.test")
        with pytest.raises(CommandError, match=r"^Unknown hostnames: x\.test, y\.test\.$"):
            run("nodes", "heartbeat", "x.test", "a.test", "y.test")
        assert NodeLiveness.objects.count() == 1

    def test_a_bad_hostname_is_refused_and_nothing_recorded(self, make_node: Callable[..., Node]) -> None:
        make_node("a.test")
        with pytest.raises(CommandError, match="not a valid hostname"):
            run("nodes", "heartbeat", "a.test", "bad_name")
        assert not NodeLiveness.objects.exists()


@pytest.mark.django_db
class TestNodesLiveness:
    @pytest.fixture
    def nodes(self, make_node: Callable[..., Node]) -> list[Node]:
        nodes = [make_node("never.test"), make_node("up.test"), make_node("down.test")]
        node_heartbeat(hostnames=["up.test"])
        node_heartbeat(hostnames=["down.test"], now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        return nodes

    def test_liveness_prints_a_table_ordered_by_id(self, nodes: list[Node]) -> None:
        lines = run("nodes", "liveness").splitlines()
        assert lines[0].split() == ["ID", "HOSTNAME", "STATE", "LAST", "SEEN"]
        rows = [line.split() for line in lines[1:-1]]
        assert [row[:3] for row in rows] == [
            [str(nodes[0].pk), "never.test", "never"],
            [str(nodes[1].pk), "up.test", "online"],
            [str(nodes[2].pk), "down.test", "offline"],
        ]
        assert rows[2][3] == "2025-01-01T00:00:00+00:00"
        assert lines[-1] == "3 nodes."

    def test_state_selects_the_nodes_in_that_state(self, nodes: list[Node]) -> None:
        lines = run("nodes", "liveness", "--state", "offline").splitlines()
        assert [line.split()[1] for line in lines[1:-1]] == ["down.test"]
        assert lines[-1] == "1 node."

    def test_limit_says_how_many_are_left_out(self, nodes: list[Node]) -> None:
        lines = run("nodes", "liveness", "--limit", "2").splitlines()
        assert lines[-1] == "2 of 3 nodes shown; --limit 0 shows all."

    def test_an_unknown_state_is_refused(self) -> None:
        with pytest.raises(CommandError, match="invalid choice"):
            run("nodes", "liveness", "--state", "asleep")


@pytest.mark.django_db
class TestNodesReap:
    def test_reap_records_the_nodes_gone_offline_once(self, make_node: Callable[..., Node]) -> None:
        node = make_node("quiet.test")
        node_heartbeat(hostnames=["quiet.test"], now=timezone.now() - dt.timedelta(minutes=5))
        assert run("nodes", "reap") == "1 went offline, 0 came back online.\n"
        assert run("nodes", "reap") == "0 went offline, 0 came back online.\n"
        assert NodeChange.objects.filter(node=node, changes__has_key="state").count() == 1

    @override_settings(NODE_OFFLINE_DEACTIVATE_SECONDS=60)
    def test_reap_deactivates_when_set(self, make_node: Callable[..., Node]) -> None:
        node = make_node("quiet.test")
        node_heartbeat(hostnames=["quiet.test"], now=timezone.now() - dt.timedelta(minutes=5))
        assert run("nodes", "reap").splitlines() == [
            "1 went offline, 0 came back online.",
            "1 deactivated after 0:01:00.",
        ]
        node.refresh_from_db()
        assert not node.is_active
