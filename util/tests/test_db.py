import pytest
from django.contrib.auth.models import Group
from django.db import connection

from util.db import insert_skipping_conflicts

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="INSERT ... SELECT FROM unnest is PostgreSQL only"),
]


def test_rows_are_inserted_and_their_returning_field_given_back() -> None:
    inserted = insert_skipping_conflicts(model=Group, columns=["name"], rows=[("ops",), ("dev",)], returning=["name"])
    assert sorted(inserted) == [("dev",), ("ops",)]
    assert sorted(Group.objects.values_list("name", flat=True)) == ["dev", "ops"]


def test_rows_breaking_a_unique_constraint_are_skipped_not_raised() -> None:
    Group.objects.create(name="ops")
    inserted = insert_skipping_conflicts(
        model=Group, columns=["name"], rows=[("ops",), ("dev",), ("dev",)], returning=["name"]
    )
    assert inserted == [("dev",)]
    assert Group.objects.count() == 2


def test_no_rows_is_no_statement() -> None:
    assert insert_skipping_conflicts(model=Group, columns=["name"], rows=[], returning=["name"]) == []


def test_several_returning_fields_come_back_as_tuples() -> None:
    inserted = insert_skipping_conflicts(model=Group, columns=["name"], rows=[("ops",)], returning=["id", "name"])
    assert inserted == [(Group.objects.get().pk, "ops")]
