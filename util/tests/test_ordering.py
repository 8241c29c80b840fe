import pytest
from django.db import models
from django.db.models.functions import Lower

from util.ordering import OrderTerm, order_by_expressions, parse_ordering

ALLOWED = ("id", "name", "note", "created")


class Thing(models.Model):
    """A model of this test module only (never migrated): ordering reads its field metadata."""

    name = models.CharField(max_length=10)
    note = models.CharField(max_length=10, null=True)  # noqa: DJ001
    created = models.DateTimeField()

    class Meta:
        app_label = "util_tests"
        managed = False

    def __str__(self) -> str:
        return self.name


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        (["name"], [OrderTerm("name")]),
        (["-created", "name"], [OrderTerm("created", True), OrderTerm("name")]),
        (["title"], [OrderTerm("name")]),
        (["-title"], [OrderTerm("name", True)]),
        (["name", "-name", "id"], [OrderTerm("name"), OrderTerm("id")]),
    ],
)
def test_order_values_are_parsed_with_aliases_and_repeats_dropped(values: list[str], expected: list[OrderTerm]) -> None:
    assert parse_ordering(values, allowed=ALLOWED, aliases={"title": "name"}) == expected


@pytest.mark.parametrize("value", ["colour", "", "-", "--name", "Name", "name ", "x" * 10_000])
def test_unknown_order_field_is_rejected_with_allowed_fields(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_ordering([value], allowed=ALLOWED, aliases={"title": "name"})
    message = str(caught.value)
    assert "allowed fields: id, name, note, created, title" in message
    assert len(message) < 300


def test_text_sorts_case_insensitively_nullable_sorts_nulls_last_and_id_ends() -> None:
    expressions = order_by_expressions([OrderTerm("note", True), OrderTerm("created")], model=Thing)
    assert expressions == [
        Lower("note").desc(nulls_last=True),
        models.F("created").asc(),
        models.F("id").asc(),
    ]


def test_tie_breaker_is_not_repeated_when_already_ordered() -> None:
    assert order_by_expressions([OrderTerm("id", True)], model=Thing) == [models.F("id").desc()]
