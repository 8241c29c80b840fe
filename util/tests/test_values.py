import pytest

from util.values import parse_boolean, parse_int_in_range


@pytest.mark.parametrize(
    ("value", "expected"),
    [(word, True) for word in ("true", "TRUE", "True", "t", "T", "1")]
    + [(word, False) for word in ("false", "FALSE", "False", "f", "F", "0")],
)
def test_boolean_words_are_parsed(value: str, expected: bool) -> None:
    assert parse_boolean(value) is expected


@pytest.mark.parametrize("value", ["", "yes", "no", "2", "tru", " true", "true ", "null", "none", "on"])
def test_other_boolean_words_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="expected a boolean"):
        parse_boolean(value)


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("1000", 1000), ("0042", 42), ("500", 500)])
def test_integer_in_range_is_parsed(value: str, expected: int) -> None:
    assert parse_int_in_range(value, minimum=1, maximum=1000) == expected


@pytest.mark.parametrize(
    "value", ["0", "1001", "-1", "+5", "1e3", "1.0", " 5", "5 ", "", "abc", "1_000", "\u0663", "10" * 50]
)
def test_integer_outside_range_or_malformed_is_refused_naming_the_range(value: str) -> None:
    with pytest.raises(ValueError, match="expected an integer from 1 to 1000"):
        parse_int_in_range(value, minimum=1, maximum=1000)


def test_unbounded_integer_accepts_huge_values_as_huge() -> None:
    assert parse_int_in_range("9" * 5000, minimum=1) >= 10**18
    assert parse_int_in_range("123", minimum=1) == 123


def test_unbounded_integer_names_the_minimum() -> None:
    with pytest.raises(ValueError, match="expected an integer >= 1, got '0'"):
        parse_int_in_range("0", minimum=1)
