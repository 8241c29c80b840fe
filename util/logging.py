"""Log formatters that carry the request id and the structured fields of a log call.

Fields passed with ``extra=`` (for example ``method``, ``path``, ``status`` and ``duration_ms`` of
the request log line) appear as ``key=value`` pairs in the plain format, or as keys of the JSON
object in the JSON format. Once ``stamp_request_ids`` has run (``util.middleware`` does), every
record logged while a request is served carries its id as ``request_id``, so a request's log lines
can be found together.
"""

import json
import logging
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


class PlainFormatter(logging.Formatter):
    """``<time> <level> <logger> <message> key=value ...`` on one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in record_fields(record).items())
        if not fields:
            return line
        # A traceback, if any, follows the first line; the fields stay on it.
        first, newline, rest = line.partition("\n")
        return f"{first} {fields}{newline}{rest}"


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
