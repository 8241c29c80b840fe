"""The repeatable and text filter fields: every value read strictly, a clear error for the first bad one."""

import pytest
from django import forms
from django.http import QueryDict

from util.filters import RepeatedField, TextField, positive_int_parser, text_parser


class ProbeForm(forms.Form):
    ids = RepeatedField(parse=positive_int_parser, max_values=3, required=False)
    names = RepeatedField(parse=text_parser(max_length=5), max_values=3, required=False)
    text = TextField(max_length=5, required=False)


def cleaned(query: str) -> dict:
    form = ProbeForm(QueryDict(query))
    assert form.is_valid(), form.errors
    return form.cleaned_data


def errors(query: str) -> dict:
    form = ProbeForm(QueryDict(query))
    assert not form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"ids": None, "names": None, "text": None}),
        ("ids=3&ids=1&ids=3", {"ids": (3, 1, 3), "names": None, "text": None}),
        ("names=a&names=B.c", {"ids": None, "names": ("a", "B.c"), "text": None}),
        ("text=%20ab%20", {"ids": None, "names": None, "text": " ab "}),
    ],
)
def test_values_are_read_in_the_order_given(query: str, expected: dict) -> None:
    assert cleaned(query) == expected


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("ids=1&ids=x", "ids", "expected an integer >= 1, got 'x'."),
        ("ids=0", "ids", "expected an integer >= 1, got '0'."),
        ("ids=-1", "ids", "expected an integer >= 1, got '-1'."),
        ("ids=", "ids", "expected an integer >= 1, got ''."),
        ("ids=1&ids=2&ids=3&ids=4", "ids", "at most 3 values are accepted, got 4."),
        ("names=", "names", "expected 1 to 5 characters, got ''."),
        ("names=abcdef", "names", "expected 1 to 5 characters, got 'abcdef'."),
        ("text=", "text", "expected 1 to 5 characters, got 0."),
        ("text=abcdef", "text", "expected 1 to 5 characters, got 6."),
        ("text=100%25", "text", None),
    ],
)
def test_bad_values_are_refused_with_what_is_accepted(query: str, field: str, message: str | None) -> None:
    if message is None:
        assert cleaned(query)[field] == "100%"
    else:
        assert errors(query) == {field: [message]}
