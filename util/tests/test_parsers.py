import io

import pytest
from rest_framework.exceptions import ParseError, UnsupportedMediaType

from util.parsers import StrictJSONParser


def parse(raw: bytes, media_type: str = "application/json") -> object:
    return StrictJSONParser().parse(io.BytesIO(raw), media_type, {})


@pytest.mark.parametrize(
    ("raw", "media_type", "expected"),
    [
        (b'{"a": [1, 2.5, null, true]}', "application/json", {"a": [1, 2.5, None, True]}),
        ('{"r": "café 🚧"}'.encode(), "application/json; charset=utf-8", {"r": "café 🚧"}),
        (b'{"r": "\\ud83d\\udea7"}', "application/json; charset=UTF8", {"r": "🚧"}),
        (b'{"a": {"b": 1}, "b": {"b": 2}}', "application/json", {"a": {"b": 1}, "b": {"b": 2}}),
        (b"[" * 3 + b"]" * 3, "application/json", [[[]]]),
    ],
)
def test_utf8_json_is_parsed(raw: bytes, media_type: str, expected: object) -> None:
    assert parse(raw, media_type) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1, "a": 2}', "JSON parse error - duplicate key 'a' in an object."),
        (b'[{"x": {"y": 1, "y": 1}}]', "JSON parse error - duplicate key 'y' in an object."),
        (b'{"a": NaN}', "JSON parse error - NaN is not valid JSON."),
        (b'{"a": -Infinity}', "JSON parse error - -Infinity is not valid JSON."),
        (b'{"a": ' + b"1" * 101 + b"}", "JSON parse error - a number has more than 100 digits."),
        (b"[" * 100_000 + b"]" * 100_000, "JSON parse error - the body is nested too deeply."),
        ('{"a": "é"}'.encode("latin-1"), "JSON parse error - the body is not UTF-8 (invalid byte at position 7)."),
        (
            b"\xef\xbb\xbf{}",
            "JSON parse error - Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0).",
        ),
        (b"{", "JSON parse error - Expecting property name enclosed in double quotes"),
    ],
)
def test_bad_json_is_a_parse_error_saying_why(raw: bytes, message: str) -> None:
    with pytest.raises(ParseError) as error:
        parse(raw)
    assert str(error.value.detail).startswith(message)


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "utf-8-sig", "bz2", "", "no-such-charset"])
def test_a_charset_other_than_utf8_is_an_unsupported_media_type(charset: str) -> None:
    with pytest.raises(UnsupportedMediaType) as error:
        parse(b"{}", f"application/json; charset={charset}")
    assert str(error.value.detail) == f"JSON bodies must be UTF-8 (RFC 8259); charset {charset!r} is not supported."
