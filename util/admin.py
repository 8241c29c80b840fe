"""Generic Django admin pieces that know no particular model."""

import datetime as dt
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext


def date_hierarchy_from_range(cl: ChangeList) -> dict[str, Any]:
    """The context of ``admin/date_hierarchy.html``, from the first and last date only.

    Django's own ``date_hierarchy`` tag lists the years, months or days that have rows with a
    ``SELECT DISTINCT`` over the whole (filtered) table, on every page. This one asks for the
    minimum and maximum, which an index on the field answers without reading the table, and
    offers every year, month or day between them; a choice without rows shows an empty page.
    It drills down the same way: to the one year or month the rows span, if they span one.
    """
    field_name = cl.date_hierarchy
    year_field, month_field, day_field = (f"{field_name}__{part}" for part in ("year", "month", "day"))
    year, month, day = (cl.params.get(name) for name in (year_field, month_field, day_field))

    def link(filters: dict[str, Any]) -> str:
        return cl.get_query_string(filters, [f"{field_name}__"])

    span = cl.queryset.aggregate(first=Min(field_name), last=Max(field_name))
    first, last = (_local(span[name]) for name in ("first", "last"))
    if not (year or month or day) and first and last and first.year == last.year:
        year = first.year
        if first.month == last.month:
            month = first.month

    if year and month and day:
        chosen = dt.date(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": _title(chosen, "YEAR_MONTH_FORMAT"),
            },
            "choices": [{"title": _title(chosen, "MONTH_DAY_FORMAT")}],
        }
    if year and month:
        days = range(first.day, last.day + 1) if first and last else ()
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({year_field: year, month_field: month, day_field: number}),
                    "title": _title(dt.date(int(year), int(month), number), "MONTH_DAY_FORMAT"),
                }
                for number in days
            ],
        }
    if year:
        months = range(first.month, last.month + 1) if first and last else ()
        return {
            "show": True,
            "back": {"link": link({}), "title": gettext("All dates")},
            "choices": [
                {
                    "link": link({year_field: year, month_field: number}),
                    "title": _title(dt.date(int(year), number, 1), "YEAR_MONTH_FORMAT"),
                }
                for number in months
            ],
        }
    years = range(first.year, last.year + 1) if first and last else ()
    return {
        "show": True,
        "back": None,
        "choices": [{"link": link({year_field: str(number)}), "title": str(number)} for number in years],
    }


def _local(value: dt.date | None) -> dt.date | None:
    # The admin's year/month/day lookups work in the current time zone, so the range must too.
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def _title(day: dt.date, format_name: str) -> str:
    return capfirst(date_format(day, format_name))
