import pytest
from rest_framework import serializers

from util.serializers import ClosedObjectSerializer


class Sample(ClosedObjectSerializer):
    min_fields = 1

    name = serializers.CharField(required=False)
    size = serializers.IntegerField(required=False)


def errors(data: object) -> list[str]:
    sample = Sample(data=data)
    assert not sample.is_valid()
    return [str(message) for message in sample.errors["non_field_errors"]]


def test_declared_fields_are_accepted() -> None:
    sample = Sample(data={"name": "a", "size": 2})
    assert sample.is_valid(), sample.errors
    assert sample.validated_data == {"name": "a", "size": 2}


def test_undeclared_fields_are_refused_by_name() -> None:
    assert errors({"name": "a", "colour": "red", "id": 1}) == [
        "Unknown field(s): colour, id. Only name, size can be changed."
    ]


def test_many_or_long_unknown_names_are_cut_short() -> None:
    data = {f"k{i:02d}": 1 for i in range(12)} | {"x" * 100: 1}
    (message,) = errors(data)
    assert message == (
        "Unknown field(s): k00, k01, k02, k03, k04, k05, k06, k07, k08, k09 and 3 more. Only name, size can be changed."
    )
    assert errors({"y" * 100: 1}) == [f"Unknown field(s): {'y' * 40}.... Only name, size can be changed."]


def test_fewer_than_min_fields_is_refused() -> None:
    assert errors({}) == ["Give at least one of name, size."]


@pytest.mark.parametrize("data", [[{"name": "a"}], "name", 3])
def test_a_body_that_is_not_an_object_is_refused(data: object) -> None:
    sample = Sample(data=data)
    assert not sample.is_valid()
    assert "Invalid data. Expected a dictionary" in str(sample.errors["non_field_errors"][0])
