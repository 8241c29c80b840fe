import datetime as dt

import pytest
from django.db import DataError, IntegrityError, transaction

from node.models import Node
from node.services import node_create, node_rename, node_update
from node.tests.helpers import T0, create_node


def insert(**fields: object) -> None:
    with transaction.atomic():
        create_node(**{"hostname": "n.test", **fields})


@pytest.mark.django_db
class TestNodeConstraints:
    def test_hostname_is_unique_regardless_of_letter_case(self) -> None:
        insert(hostname="Host.Example")
        with pytest.raises(IntegrityError):
            insert(hostname="host.example")

    @pytest.mark.parametrize("hostname", ["", "h" * 251])
    def test_hostname_must_be_1_to_250_characters(self, hostname: str) -> None:
        # PostgreSQL's varchar(250) refuses a longer value before the check constraint does.
        with pytest.raises((IntegrityError, DataError)):
            insert(hostname=hostname)

    def test_hostname_of_250_characters_is_stored(self) -> None:
        insert(hostname="h" * 250)
        assert Node.objects.get().hostname == "h" * 250

    def test_pause_reason_needs_a_paused_node(self) -> None:
        with pytest.raises(IntegrityError):
            insert(is_paused=False, pause_reason="why")

    def test_pause_reason_is_at_most_250_characters(self) -> None:
        with pytest.raises((IntegrityError, DataError)):
            insert(is_paused=True, pause_reason="r" * 251)

    @pytest.mark.parametrize(("is_active", "deprecated"), [(True, T0), (False, None)])
    def test_deprecated_is_set_exactly_when_inactive(self, is_active: bool, deprecated: dt.datetime | None) -> None:
        with pytest.raises(IntegrityError):
            insert(is_active=is_active, deprecated=deprecated)

    def test_new_node_gets_equal_created_and_last_modified(self) -> None:
        node = node_create(hostname="fresh.test")
        assert node.created == node.last_modified
        assert (node.is_active, node.is_paused, node.pause_reason, node.deprecated) == (True, False, None, None)

    def test_every_write_advances_last_modified_even_one_that_changes_nothing(self) -> None:
        node = node_create(hostname="saved.test")
        first = node.last_modified
        node = node_rename(node=node, hostname="saved.test")
        assert node.last_modified > first
        second = node.last_modified
        node = node_update(node=node, changes={"is_active": True})
        node.refresh_from_db()
        assert node.last_modified > second
