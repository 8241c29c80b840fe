"""Generic Django admin pieces that know no particular model."""

import datetime as dt
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken


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


# What the admin shows for a value that is not there (a null, a time not set).
NO_VALUE = "—"


def readable_time(value: dt.datetime) -> str:
    """A time as people and machines both read it: ISO 8601 in UTC, to the second (``2026-12-04T18:30:52Z``)."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def readable_value(value: object) -> str:
    """A stored value (a history record's old or new value) as people read it: ``—`` for none, ``true`` or
    ``false``, times by ``readable_time``, anything else as its text; never a Python representation."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return readable_time(value)
    return str(value)


def time_cell(value: dt.datetime | None) -> str:
    """A changelist cell for a time: ``readable_time``, kept on one line, the full value in ``datetime``."""
    if value is None:
        return NO_VALUE
    text = readable_time(value)
    return format_html('<time datetime="{}" style="white-space: nowrap">{}</time>', text, text)


class TitledListFilter(admin.SimpleListFilter):
    """A changelist filter headed by its title alone ("Active"), where Django writes "By active"."""

    template = "admin/filter_titled.html"


class ApiTokenAdmin(AuthTokenAdmin):
    """knox's token admin with the columns an administrator looks for: whose token, made when, expiring when.

    The stored digest (128 hexadecimal characters) pushed them out of sight; its first characters are
    enough to tell tokens apart, and nothing shown can be used as the token.
    """

    list_display = ("token_id", "user", "created_display", "expiry_display", "status")
    list_select_related = ("user",)
    list_filter = ("user",)
    ordering = ("-created",)

    @admin.display(description="token", ordering="digest")
    def token_id(self, token: AuthToken) -> str:
        return f"{token.digest[:12]}…"

    @admin.display(description="created", ordering="created")
    def created_display(self, token: AuthToken) -> str:
        return time_cell(token.created)

    @admin.display(description="expires", ordering="expiry")
    def expiry_display(self, token: AuthToken) -> str:
        return time_cell(token.expiry) if token.expiry else "never"

    @admin.display(description="status")
    def status(self, token: AuthToken) -> str:
        return "expired" if token.expiry and token.expiry <= timezone.now() else "valid"
