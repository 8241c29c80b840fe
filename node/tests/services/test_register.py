"""node_register and node_create: new nodes, their hostnames and initial states."""

import itertools
import select
import time
from unittest import mock

import dj_database_url
import psycopg2
import pytest
from django.conf import settings as django_settings
from django.db import connection

from node import selectors
from node.actors import Actor
from node.models import Node, NodeChange, RegistryClock
from node.selectors import current_change_index, known_hostname_keys
from node.services import (
    clock,
    history,
    node_create,
    node_register,
    registration,
)
from node.services.rules import initial_state, state_of, validate_changes
from node.tests.helpers import assert_counts_are_exact, create_node, needs_kept_counts


@pytest.mark.django_db
class TestNodeRegister:
    def test_new_hostnames_are_inserted_and_known_ones_skipped_in_any_case(self) -> None:
        create_node(hostname="Known.Test")
        result = node_register(hostnames=["a.test", "known.test", "b.test", "A.TEST"])
        assert result.created == ["a.test", "b.test"]
        assert result.existing == ["known.test"]
        assert sorted(Node.objects.values_list("hostname", flat=True)) == ["Known.Test", "a.test", "b.test"]

    def test_one_bad_hostname_inserts_nothing(self) -> None:
        with pytest.raises(ValueError, match="not a valid hostname"):
            node_register(hostnames=["good.test", "bad_host.test"])
        assert not Node.objects.exists()

    def test_initial_states_follow_the_update_rules(self) -> None:
        node_register(
            hostnames=["p.test", "i.test", "u.test"],
            states={
                "p.test": {"is_paused": True, "pause_reason": "disk"},
                "i.test": {"is_active": False},
                "u.test": {"pause_reason": "not paused, not stored"},
            },
        )
        nodes = {node.hostname: node for node in Node.objects.all()}
        assert (nodes["p.test"].is_paused, nodes["p.test"].pause_reason) == (True, "disk")
        assert nodes["i.test"].deprecated == nodes["i.test"].created
        assert nodes["u.test"].pause_reason is None

    def test_batches_insert_everything(self) -> None:
        result = node_register(hostnames=[f"n{i}.test" for i in range(25)], batch_size=10)
        assert len(result.created) == 25
        assert Node.objects.count() == 25


@pytest.mark.django_db
class TestNodeRegisterProgress:
    def test_progress_is_reported_after_each_batch_with_distinct_hostnames_done(self) -> None:
        seen: list[int] = []
        names = [f"n{i}.test" for i in range(25)] + ["N0.TEST"]
        node_register(hostnames=names, batch_size=10, progress=seen.append)
        assert seen == [10, 20, 25]

    def test_a_batch_mixing_new_and_known_hostnames_reports_each_in_input_order(self) -> None:
        create_node(hostname="B.test")
        result = node_register(hostnames=["c.test", "b.TEST", "a.test"], batch_size=2)
        assert (result.created, result.existing) == (["c.test", "a.test"], ["b.TEST"])


@pytest.mark.django_db
class TestNodeCreate:
    def test_create_applies_the_initial_state_by_the_update_rules(self) -> None:
        node = node_create(hostname="new.test", changes={"is_active": False, "pause_reason": "dropped"})
        assert (node.is_active, node.pause_reason, node.deprecated) == (False, None, node.created)
        assert node.last_modified == node.created

    def test_create_refuses_a_known_hostname_in_any_case(self) -> None:
        create_node(hostname="known.test")
        with pytest.raises(ValueError, match="exists already"):
            node_create(hostname="KNOWN.test")
        assert Node.objects.count() == 1


STATES = {
    "paused.test": {"is_paused": True, "pause_reason": "disk"},
    "gone.test": {"is_active": False},
    "gone-paused.test": {"is_active": False, "is_paused": True, "pause_reason": "moved"},
    "blank.test": {"is_paused": True, "pause_reason": "   "},
    "unpaused.test": {"pause_reason": "not paused, not stored"},
}
PLAIN = [f"plain-{n:02d}.test" for n in range(12)]


def _clock() -> RegistryClock:
    return RegistryClock.objects.get(pk=1)


@pytest.mark.django_db
class TestNodeRegisterStamps:
    """Each registered node takes its own index and time from the clock, in batches that follow each other."""

    def test_indexes_are_consecutive_unique_and_above_the_clock_and_times_later_than_any_before(self) -> None:
        create_node(hostname="before.test")
        before = _clock()
        node_register(hostnames=[*PLAIN, *STATES], states=STATES, batch_size=5)
        nodes = list(Node.objects.exclude(hostname="before.test").order_by("change_index"))
        indexes = [node.change_index for node in nodes]
        assert indexes == list(range(before.change_index + 1, before.change_index + 1 + len(PLAIN) + len(STATES)))
        times = [clock.to_time_us(node.last_modified) for node in nodes]
        assert times[0] > before.time_us
        assert all(later > earlier for earlier, later in itertools.pairwise(times)), times
        assert all(node.created == node.last_modified for node in nodes)
        after = _clock()
        assert (after.change_index, after.time_us) == (indexes[-1], times[-1])

    def test_each_batch_takes_indexes_after_the_batch_before(self) -> None:
        node_register(hostnames=PLAIN, batch_size=5)
        index = dict(Node.objects.values_list("hostname", "change_index"))
        batches = [PLAIN[0:5], PLAIN[5:10], PLAIN[10:]]
        for earlier, later in itertools.pairwise(batches):
            assert max(index[name] for name in earlier) < min(index[name] for name in later), index

    def test_initial_states_and_registration_records_follow_the_rules_of_a_single_registration(self) -> None:
        actor = Actor(name="bulk-test", channel=NodeChange.Channel.CLI)
        node_register(hostnames=[*PLAIN, *STATES], states=STATES, batch_size=7, actor=actor)
        nodes = list(Node.objects.all())
        records = {record.node_id: record for record in NodeChange.objects.all()}
        assert len(records) == NodeChange.objects.count() == len(nodes) == len(PLAIN) + len(STATES)
        for node in nodes:
            expected = initial_state(
                validate_changes(STATES[node.hostname]) if node.hostname in STATES else {}, now=node.created
            )
            assert state_of(node) == expected, node.hostname
            record = records[node.pk]
            assert (record.change_index, record.time, record.action) == (
                node.change_index,
                node.last_modified,
                NodeChange.Action.REGISTER,
            )
            assert (record.actor, record.channel, record.request_id) == ("bulk-test", "cli", None)
            assert record.changes == history.registration_changes(node.hostname, expected), node.hostname

    def test_a_batch_that_collides_with_a_node_written_behind_the_clock_is_run_again_and_skips_it(self) -> None:
        create_node(hostname="B.test")
        real = registration.known_hostname_keys
        # The first lookup misses the node, as if it had been inserted after it: the insert then collides.
        lookups = iter([lambda names: set(), real, real])
        with mock.patch.object(registration, "known_hostname_keys", lambda names: next(lookups)(names)):
            result = node_register(hostnames=["a.test", "b.test", "c.test"])
        assert (result.created, result.existing) == (["a.test", "c.test"], ["b.test"])
        indexes = sorted(Node.objects.values_list("change_index", flat=True))
        # The rolled-back attempt left no gap: its advance of the clock was rolled back with it.
        assert indexes == list(range(indexes[0], indexes[0] + 3))
        assert _clock().change_index == indexes[-1]
        assert NodeChange.objects.filter(action=NodeChange.Action.REGISTER).count() == 2


@pytest.mark.django_db
class TestKnownHostnameKeys:
    def test_known_hostnames_are_found_in_any_case_as_lower_case_keys(self) -> None:
        create_node(hostname="Known.Test")
        create_node(hostname="other.test")
        assert known_hostname_keys(["KNOWN.test", "new.test", "known.TEST"]) == {"known.test"}

    def test_no_hostnames_find_nothing(self) -> None:
        assert known_hostname_keys([]) == set()

    def test_a_name_with_a_line_break_is_looked_up_whole(self) -> None:
        create_node(hostname="a.test")
        assert known_hostname_keys(["a.test\nb.test", "A.test"]) == {"a.test"}


@needs_kept_counts
@pytest.mark.django_db
class TestNodeRegisterOnPostgresql:
    def test_the_kept_counts_are_exact_after_a_bulk_registration_with_states(self) -> None:
        node_register(hostnames=[*PLAIN, *STATES], states=STATES, batch_size=4)
        assert_counts_are_exact()

    def test_known_hostnames_are_probed_through_the_unique_index_in_a_table_never_analysed(self) -> None:
        node_register(hostnames=[f"n{n:04d}.test" for n in range(2000)])
        keys = "\n".join(f"n{n:04d}.test" for n in range(0, 4000, 2))
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + selectors._KNOWN_KEYS_SQL, [keys])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "node_hostname_unique_ci" in plan, plan
        assert "Seq Scan on node" not in plan, plan


@needs_kept_counts
@pytest.mark.django_db(transaction=True)
def test_each_committed_batch_notifies_the_change_listeners_once_with_its_last_index() -> None:
    """What the change feed's waits and the event stream wake on: one notice per batch, in commit order."""
    database = connection.settings_dict
    # LISTEN cannot pass a transaction pooler: the listener goes to PostgreSQL directly, by the route
    # the change feed's own listener takes (LISTEN_DATABASE_URL), to the same database.
    route = (
        dj_database_url.parse(django_settings.LISTEN_DATABASE_URL) if django_settings.LISTEN_DATABASE_URL else database
    )
    listener = psycopg2.connect(
        dbname=database["NAME"],
        user=route["USER"],
        host=route["HOST"],
        port=route["PORT"] or 5432,
        connect_timeout=5,
    )
    listener.autocommit = True
    try:
        with listener.cursor() as cursor:
            cursor.execute("LISTEN node_changes")
        # A flushed table has no clock row yet: the first advance puts it back at the newest index, none here.
        before = current_change_index()
        node_register(hostnames=PLAIN, batch_size=5)
        deadline = time.monotonic() + 5
        notices: list[int] = []
        while len(notices) < 3 and time.monotonic() < deadline:
            select.select([listener], [], [], 0.2)
            listener.poll()
            notices.extend(int(notice.payload) for notice in listener.notifies)
            listener.notifies.clear()
    finally:
        listener.close()
    assert notices == [before + 5, before + 10, before + 12]
