import datetime as dt

import pytest

from util.iso8601 import parse_iso8601_datetime, parse_iso8601_duration, parse_iso8601_instant

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 31, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-01-01T00:00:00Z", dt.datetime(2015, 1, 1, tzinfo=UTC)),
        ("2015-01-01T05:30:00+05:30", dt.datetime(2015, 1, 1, tzinfo=UTC)),
        ("2015-01-01T00:00:00-02:00", dt.datetime(2015, 1, 1, 2, tzinfo=UTC)),
        ("2015-08-28T18:32:33.954Z", dt.datetime(2015, 8, 28, 18, 32, 33, 954000, tzinfo=UTC)),
        ("2015-08-28T18:32:33.954123Z", dt.datetime(2015, 8, 28, 18, 32, 33, 954123, tzinfo=UTC)),
        ("20150101T000000Z", dt.datetime(2015, 1, 1, tzinfo=UTC)),
    ],
)
def test_datetime_with_zone_is_parsed_to_utc(value: str, expected: dt.datetime) -> None:
    parsed = parse_iso8601_datetime(value)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2015-01-01T00:00:00", "has no time zone"),
        ("2015-01-01", "expected an ISO-8601 datetime"),
        ("yesterday", "expected an ISO-8601 datetime"),
        ("", "expected an ISO-8601 datetime"),
        ("2015-13-01T00:00:00Z", "expected an ISO-8601 datetime"),
        ("2015-01-01T24:00:00Z", "expected an ISO-8601 datetime"),
        ("2015-01-01T00:00:00 Z", "expected an ISO-8601 datetime"),
        ("0001-01-01T00:00:00+05:00", "outside the supported range"),
        ("2015-01-01T00:00:00Z\x00", "expected an ISO-8601 datetime"),
    ],
)
def test_bad_datetime_is_refused_with_reason(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_iso8601_datetime(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT3H0M0S", dt.timedelta(hours=3)),
        ("P3D", dt.timedelta(days=3)),
        ("PT1.5S", dt.timedelta(seconds=1.5)),
        ("P1W", dt.timedelta(weeks=1)),
        ("P0D", dt.timedelta(0)),
    ],
)
def test_duration_is_parsed(value: str, expected: dt.timedelta) -> None:
    assert parse_iso8601_duration(value) == expected


@pytest.mark.parametrize("value", ["P", "PT", "3D", "-P1D", "P1X", "PT-1H", "", "p1d"])
def test_bad_duration_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="expected an ISO-8601 duration"):
        parse_iso8601_duration(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT3H0M0S", NOW - dt.timedelta(hours=3)),
        ("P3D", NOW - dt.timedelta(days=3)),
        ("P1M", dt.datetime(2026, 2, 28, 12, tzinfo=UTC)),  # calendar month, clipped to February's end
        ("P1Y", dt.datetime(2025, 3, 31, 12, tzinfo=UTC)),
        ("2015-01-01T00:00:00Z", dt.datetime(2015, 1, 1, tzinfo=UTC)),
    ],
)
def test_instant_is_a_datetime_or_now_minus_a_duration(value: str, expected: dt.datetime) -> None:
    assert parse_iso8601_instant(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["P1.5Y", "P0.5M", "P1Y0.25M"])
def test_fraction_of_a_year_or_month_is_refused_saying_so(value: str) -> None:
    with pytest.raises(ValueError, match="has a fraction of a year or month"):
        parse_iso8601_duration(value)


def test_fraction_of_a_day_is_a_plain_duration() -> None:
    assert parse_iso8601_duration("P1.5D") == dt.timedelta(days=1, hours=12)


def test_instant_duration_beyond_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the supported range"):
        parse_iso8601_instant("P10000000Y", now=NOW)


def test_error_message_cuts_a_huge_value_short() -> None:
    with pytest.raises(ValueError) as caught:
        parse_iso8601_instant("x" * 10_000, now=NOW)
    assert len(str(caught.value)) < 200
