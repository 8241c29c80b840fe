"""The history the services record: one record per effective change, in the same transaction as the change."""

import datetime as dt
from collections.abc import Callable

import pytest

from node.actors import Actor
from node.models import Node, NodeChange
from node.services import node_create, node_update
from node.tests.helpers import T0, records, registration


@pytest.mark.django_db
class TestNodeHistoryRecording:
    def test_a_failed_update_rolls_back_its_record_too(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        with pytest.raises(ValueError):
            node_update(node=node, changes={"is_paused": True, "hostname": "x"})
        assert records(node) == [registration(node.hostname)]

    def test_create_records_the_registration_in_the_initial_state_with_its_actor(self) -> None:
        actor = Actor(name="operator", channel=NodeChange.Channel.CLI, request_id="req-7")
        node = node_create(hostname="new.test", changes={"is_paused": True, "pause_reason": "burn-in"}, actor=actor)
        record = NodeChange.objects.get(node=node)
        assert (record.action, record.actor, record.channel, record.request_id) == (
            "register",
            "operator",
            "cli",
            "req-7",
        )
        assert record.time == node.created == node.last_modified
        assert record.changes == registration("new.test", is_paused=True, pause_reason="burn-in")["changes"]

    def test_fixture_nodes_have_their_registration_record_dated_when_they_were_created(
        self, make_node: Callable[..., Node]
    ) -> None:
        node = make_node("made.test", is_active=False, created=T0, last_modified=T0 + dt.timedelta(hours=1))
        assert records(node) == [registration("made.test", is_active=False)]
        assert NodeChange.objects.get(node=node).time == T0
        assert (node.created, node.last_modified, node.deprecated) == (T0, T0 + dt.timedelta(hours=1), T0)
