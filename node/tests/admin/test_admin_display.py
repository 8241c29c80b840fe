"""The admin's words for stored values: no Python representations."""

import datetime as dt

import pytest

from node.admin_display import readable_time, readable_value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        ("Disk replacement", "Disk replacement"),
        ("", ""),
        (dt.datetime(2026, 12, 4, 18, 30, 52, 123456, tzinfo=dt.UTC), "2026-12-04T18:30:52Z"),
        (dt.datetime(2026, 12, 4, 20, 30, 52, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-12-04T18:30:52Z"),
    ],
)
def test_values_are_shown_in_words_people_read(value: object, shown: str) -> None:
    assert readable_value(value) == shown


def test_times_are_iso_8601_in_utc_to_the_second() -> None:
    assert readable_time(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) == "2025-01-01T00:00:00Z"
