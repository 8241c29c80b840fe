import pytest
from rest_framework import serializers

from util.closed import BooleanField, ClosedObject, InvalidObject, TextField
from util.serializers import ClosedObjectSerializer

SAMPLE = ClosedObject(
    fields=(TextField("name", description="A name.", max_length=5), BooleanField("ready", description="Ready?")),
    min_fields=1,
    description="A sample body.",
)


def errors(data: dict) -> dict[str, list[str]]:
    with pytest.raises(InvalidObject) as raised:
        SAMPLE.validate(data)
    return raised.value.errors


def test_declared_fields_are_accepted_and_text_is_trimmed() -> None:
    assert SAMPLE.validate({"name": " ab ", "ready": False}) == {"name": "ab", "ready": False}


@pytest.mark.parametrize(("value", "cleaned"), [(None, None), ("", ""), ("   ", "")])
def test_text_may_be_null_or_blank(value: str | None, cleaned: str | None) -> None:
    assert SAMPLE.validate({"name": value}) == {"name": cleaned}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ready": "true"}, {"ready": ["Must be a JSON boolean (true or false)."]}),
        ({"ready": 1}, {"ready": ["Must be a JSON boolean (true or false)."]}),
        ({"ready": None}, {"ready": ["This field may not be null."]}),
        ({"name": 5}, {"name": ["Not a valid string."]}),
        ({"name": ["a"]}, {"name": ["Not a valid string."]}),
        ({"name": "abcdef"}, {"name": ["Ensure this field has no more than 5 characters."]}),
        ({"name": "a\x00b"}, {"name": ["Null characters are not allowed."]}),
        (
            {"name": "abcde\x00"},
            {"name": ["Ensure this field has no more than 5 characters.", "Null characters are not allowed."]},
        ),
        ({"name": "a\ud800"}, {"name": ["Must be valid Unicode text; lone surrogate characters are not allowed."]}),
    ],
)
def test_bad_values_are_refused_per_field(data: dict, expected: dict) -> None:
    assert errors(data) == expected


def test_every_bad_field_is_named_before_any_unknown_field() -> None:
    assert errors({"name": 1, "ready": "no", "colour": "red"}) == {
        "name": ["Not a valid string."],
        "ready": ["Must be a JSON boolean (true or false)."],
    }


def test_undeclared_fields_are_refused_by_name() -> None:
    assert errors({"name": "a", "colour": "red", "id": 1}) == {
        "non_field_errors": ["Unknown field(s): colour, id. Only name, ready can be changed."]
    }


def test_many_or_long_unknown_names_are_cut_short() -> None:
    data = {f"k{i:02d}": 1 for i in range(12)} | {"x" * 100: 1}
    assert errors(data) == {
        "non_field_errors": [
            "Unknown field(s): k00, k01, k02, k03, k04, k05, k06, k07, k08, k09 and 3 more. "
            "Only name, ready can be changed."
        ]
    }
    assert errors({"y" * 100: 1}) == {
        "non_field_errors": [f"Unknown field(s): {'y' * 40}.... Only name, ready can be changed."]
    }


def test_fewer_than_min_fields_is_refused() -> None:
    assert errors({}) == {"non_field_errors": ["Give at least one of name, ready."]}


def test_the_error_text_names_each_field() -> None:
    with pytest.raises(InvalidObject, match=r"^name: Not a valid string\. ready: This field may not be null\.$"):
        SAMPLE.validate({"name": 1, "ready": None})


def test_the_schema_is_closed_and_describes_each_field() -> None:
    assert SAMPLE.json_schema() == {
        "type": "object",
        "description": "A sample body.",
        "properties": {
            "name": {"type": "string", "nullable": True, "description": "A name.", "maxLength": 5},
            "ready": {"type": "boolean", "description": "Ready?"},
        },
        "additionalProperties": False,
        "minProperties": 1,
    }


class SampleSerializer(ClosedObjectSerializer):
    body = SAMPLE


def test_the_serializer_answers_the_bodys_errors_per_field() -> None:
    sample = SampleSerializer(data={"ready": "x"})
    assert not sample.is_valid()
    assert sample.errors == {"ready": ["Must be a JSON boolean (true or false)."]}
    good = SampleSerializer(data={"ready": True})
    assert good.is_valid(), good.errors
    assert good.validated_data == {"ready": True}


@pytest.mark.parametrize("data", [[{"name": "a"}], "name", 3])
def test_a_body_that_is_not_an_object_is_refused(data: object) -> None:
    sample = SampleSerializer(data=data)
    assert not sample.is_valid()
    assert "Invalid data. Expected a dictionary" in str(sample.errors["non_field_errors"][0])


def test_a_null_body_is_refused_as_no_data() -> None:
    sample = SampleSerializer(data=None)
    assert not sample.is_valid()
    assert sample.errors == {"non_field_errors": [serializers.ErrorDetail("No data provided", code="null")]}
