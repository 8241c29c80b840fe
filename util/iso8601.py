"""ISO-8601 parsing for query parameters: datetimes with an explicit zone, and durations.

Every function raises ``ValueError`` with a message a client can act on; callers add the name of
the parameter.
"""

import datetime as dt
import re

import isodate

from util.values import shown

# isodate reads "P" and "PT" (no component at all) as a zero duration; ISO-8601 wants at least one.
_DURATION_HAS_COMPONENT = re.compile(r"\d")


def _refuse_mixed_formats(value: str) -> None:
    """ISO 8601 writes a whole datetime in the basic (``20150101T000000Z``) or the extended format
    (``2015-01-01T00:00:00Z``), never a mixture; Scale refuses one, so this does too."""
    date, separator, time = value.partition("T")
    if not separator or not time:
        return
    date_extended = "-" in date
    time_extended = ":" in time
    if date_extended != time_extended:
        raise ValueError(
            f"the datetime {shown(value)} mixes the basic and the extended ISO-8601 formats, which ISO 8601 "
            "does not allow; write 2015-01-01T00:00:00Z (or 20150101T000000Z)."
        )


def parse_iso8601_datetime(value: str) -> dt.datetime:
    """Parse an ISO-8601 datetime that names its zone (``Z`` or ``+hh:mm``) into an aware UTC datetime.

    Raises ``ValueError`` for anything else, including a datetime without a zone, because a naive
    time would silently mean whatever the server's zone happens to be.
    """
    _refuse_mixed_formats(value)
    try:
        parsed = isodate.parse_datetime(value)
    except (isodate.ISO8601Error, ValueError, OverflowError):
        raise ValueError(
            f"expected an ISO-8601 datetime (e.g. 2015-01-01T00:00:00Z) or duration (e.g. P3D), got {shown(value)}."
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"the datetime {shown(value)} has no time zone; add Z or an offset such as +00:00.")
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"the datetime {shown(value)} is outside the supported range.") from None


def parse_iso8601_duration(value: str) -> dt.timedelta | isodate.Duration:
    """Parse a non-negative ISO-8601 duration such as ``PT3H0M0S``, ``P3D`` or ``P1M``.

    Returns a ``timedelta``, or an ``isodate.Duration`` when the value has years or months (whose
    length depends on the date they are applied to). Raises ``ValueError`` when the value is not a
    duration, has no component, is negative, or has a fraction of a year or month (which has no
    calendar meaning).
    """
    if not value.startswith("P") or not _DURATION_HAS_COMPONENT.search(value):
        raise ValueError(f"expected an ISO-8601 duration (e.g. PT3H0M0S, P3D, P1M), got {shown(value)}.")
    try:
        duration = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError, OverflowError):
        raise ValueError(f"expected an ISO-8601 duration (e.g. PT3H0M0S, P3D, P1M), got {shown(value)}.") from None
    if isinstance(duration, isodate.Duration) and (duration.years % 1 or duration.months % 1):
        raise ValueError(
            f"the duration {shown(value)} has a fraction of a year or month; use whole years and months, "
            "or days (e.g. P18M or P547D)."
        )
    return duration


def parse_iso8601_instant(value: str, *, now: dt.datetime) -> dt.datetime:
    """Parse a point in time given either as an ISO-8601 datetime or as a duration before ``now``.

    ``P3D`` means three days before ``now``. Raises ``ValueError`` for an unparseable value, a
    datetime without a zone, or a duration reaching outside the supported range of datetimes.
    """
    if not value.startswith("P"):
        return parse_iso8601_datetime(value)
    duration = parse_iso8601_duration(value)
    try:
        return now - duration
    except (OverflowError, ValueError):
        raise ValueError(f"the duration {shown(value)} reaches outside the supported range of datetimes.") from None
