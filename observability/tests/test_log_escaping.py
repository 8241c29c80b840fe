"""The plain log format escapes what clients send: no forged lines, no NUL bytes, no terminal escapes."""

import logging
import sys

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from observability.logging import PlainFormatter, escape_for_log, field_for_log
from serving.middleware import RequestLogMiddleware


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("request", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("/v6/nodes/\n2026-01-01 INFO request answered", "/v6/nodes/\\n2026-01-01 INFO request answered"),
        ("a\rb", "a\\rb"),
        ("nul\x00byte", "nul\\x00byte"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("del\x7f c1\x85", "del\\x7f c1\\x85"),
        ("line\u2028separator", "line\\u2028separator"),
        ("back\\slash", "back\\\\slash"),
        ("tab\there", "tab\\there"),
        ("plain /v6/nodes/ é ✓", "plain /v6/nodes/ é ✓"),
    ],
)
def test_control_characters_are_escaped(raw: str, escaped: str) -> None:
    assert escape_for_log(raw) == escaped


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("/v6/nodes/", "/v6/nodes/"),
        ("/a b", '"/a b"'),
        ("x status=200", '"x status=200"'),
        ('q"', '"q\\""'),
        ("", '""'),
    ],
)
def test_field_values_that_could_read_as_other_fields_are_quoted(value: str, shown: str) -> None:
    assert field_for_log(value) == shown


class TestPlainFormatter:
    def test_a_path_with_a_newline_stays_on_one_line(self) -> None:
        line = PlainFormatter().format(record("answered", path="/v6/x\n2026-01-01 00:00:00 INFO forged", status=404))
        assert "\n" not in line
        assert 'path="/v6/x\\n2026-01-01 00:00:00 INFO forged"' in line

    def test_message_arguments_are_escaped(self) -> None:
        line = PlainFormatter().format(record("refused a suspicious request: %s", "Host\x00\x1b[2J\nforged"))
        assert line.endswith("refused a suspicious request: Host\\x00\\x1b[2J\\nforged")

    def test_a_traceback_keeps_its_lines_indented_so_no_line_can_pass_for_a_record(self) -> None:
        try:
            raise ValueError("bad\n2026-01-01 00:00:00 INFO forged")
        except ValueError:
            made = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
        first, *rest = PlainFormatter().format(made).split("\n")
        assert first.endswith("ERROR x failed")
        assert rest and all(line.startswith("    ") for line in rest)

    def test_the_record_itself_is_not_changed_for_other_handlers(self) -> None:
        made = record("path %s", "a\nb")
        PlainFormatter().format(made)
        assert made.getMessage() == "path a\nb"


def test_the_request_line_of_a_url_with_an_encoded_newline_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().get("/v6/nodes/%0a2026-01-01%2000:00:00%20INFO%20forged%00%1b[2J")
    with caplog.at_level(logging.INFO, logger="request"):
        RequestLogMiddleware(lambda request: HttpResponse(status=404))(request)
    (line,) = [PlainFormatter().format(r) for r in caplog.records if r.name == "request"]
    assert "\n" not in line and "\x00" not in line and "\x1b" not in line
    assert 'path="/v6/nodes/\\n2026-01-01 00:00:00 INFO forged\\x00\\x1b[2J"' in line
