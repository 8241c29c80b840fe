"""validate_hostname: RFC 1123 hostnames, one spelling per host."""

import pytest

from node.hostnames import validate_hostname


@pytest.mark.parametrize(
    "hostname",
    ["a", "node-01.cluster.local", "A1.B2", "x" * 63 + ".test", "1.2.3.4", "a-b.c-d.e"],
)
def test_valid_hostnames_are_returned_as_they_are(hostname: str) -> None:
    assert validate_hostname(hostname) == hostname


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("", "must not be empty"),
        ("host.", "not a valid hostname"),
        (".host", "not a valid hostname"),
        ("a..b", "not a valid hostname"),
        ("-a.test", "not a valid hostname"),
        ("a-.test", "not a valid hostname"),
        ("x" * 64 + ".test", "not a valid hostname"),
        ("bad_host.test", "not a valid hostname"),
        ("a.test\n", "not a valid hostname"),
        ("a.test\nb.test", "not a valid hostname"),
        ("nöde.test", "not a valid hostname"),
        ("a b.test", "not a valid hostname"),
    ],
)
def test_invalid_hostnames_are_refused_saying_why(hostname: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_hostname(hostname)


def test_a_hostname_longer_than_the_limit_is_refused_with_its_length() -> None:
    with pytest.raises(ValueError, match="at most 10 characters, this one has 11"):
        validate_hostname("abcde.fghij", max_length=10)
