"""Log formatters that carry the request id and the structured fields of a log call.

Fields passed with ``extra=`` (for example ``method``, ``path``, ``status`` and ``duration_ms`` of
the request log line) appear as ``key=value`` pairs in the plain format, or as keys of the JSON
object in the JSON format. Once ``stamp_request_ids`` has run (``serving.middleware`` does), every
record logged while a request is served carries its id as ``request_id``, so a request's log lines
can be found together.
"""

import json
import logging
import re
import time
from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


_stamping = False


def stamp_request_ids() -> None:
    """Make every log record created from now on carry ``request_id``: the id of the request being served.

    The id is taken when the record is created, in the thread serving the request, so it stays
    right whenever and wherever the record is formatted. Idempotent.
    """
    global _stamping
    if _stamping:
        return
    make_record = logging.getLogRecordFactory()

    def make_stamped_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id.get()
        return record

    logging.setLogRecordFactory(make_stamped_record)
    _stamping = True


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields of ``record``: its ``extra=`` values and request id, leaving out unset ones."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES and value is not None}


# Characters that would break a line apart, forge another, or drive a terminal: C0 and C1 controls,
# DEL, and Unicode's line and paragraph separators; the backslash too, so an escape is unambiguous.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# A field value is quoted when it could be read as several fields or as nothing.
_NEEDS_QUOTES = re.compile(r'[\s="]|^$')
_CONTINUATION = "    "


def _escape_character(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_for_log(text: str) -> str:
    """``text`` with every control character (and backslash) written as an escape: it stays on one line."""
    return _UNSAFE.sub(_escape_character, text)


def field_for_log(value: object) -> str:
    """A ``key=value`` value: escaped, and quoted (``"..."``, inner quotes as ``\\"``) when it has spaces or ``=``."""
    text = escape_for_log(str(value))
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '\\"') + '"'
    return text


class PlainFormatter(logging.Formatter):
    """``<time> <level> <logger> <message> key=value ...`` on one line.

    The message and the field values often hold what a client sent (a path, a header, a user
    name), so their control characters are escaped (``\\n``, ``\\x00``, ``\\x1b``): a client cannot
    start a forged line or send escape codes to an operator's terminal. A traceback follows on the
    next lines, each indented and with its control characters (but not backslashes) escaped.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return self._style.format(_EscapedRecord(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={field_for_log(value)}" for key, value in record_fields(record).items())
        # A traceback, if any, follows the first line; the fields stay on it. Its lines are indented,
        # so only the first line of a record starts at the margin, whatever an exception's text holds.
        first, _, rest = line.partition("\n")
        head = f"{first} {fields}" if fields else first
        if not rest:
            return head
        lines = (_CONTINUATION + escape_for_log(part).replace("\\\\", "\\") for part in rest.split("\n"))
        return "\n".join((head, *lines))


class _EscapedRecord:
    """A view of a record whose ``message`` is escaped, for the format string; the record is untouched."""

    def __init__(self, record: logging.LogRecord) -> None:
        self.__dict__.update(vars(record))
        self.message = escape_for_log(record.message)
        self.name = escape_for_log(record.name)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the structured fields, any traceback."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
