"""django-filter pieces for strict query parameters.

django-filter's own boolean and datetime filters quietly ignore values they cannot read; these
refuse them, so a typo in a query is a 400 naming the parameter instead of an unfiltered list.
A parameter given with an empty value (``?is_active=``) is refused too; only absence means "no filter".
"""

import datetime as dt

import django_filters
from django import forms
from django.utils import timezone

from util.iso8601 import parse_iso8601_instant
from util.values import parse_boolean


def _invalid(exc: ValueError) -> forms.ValidationError:
    """A form error carrying ``exc``'s message verbatim.

    The message quotes the client's value, and django-filter %-formats every message with its
    params: passed as a param, a ``%`` in the value stays a character instead of breaking the format.
    """
    return forms.ValidationError("%(message)s", code="invalid", params={"message": str(exc)})


class StrictBooleanField(forms.Field):
    """A form field for ``true/false``, ``t/f`` or ``1/0`` (any case); ``None`` when absent."""

    def to_python(self, value: str | None) -> bool | None:
        if value is None:
            return None
        try:
            return parse_boolean(value)
        except ValueError as exc:
            raise _invalid(exc) from None

    def validate(self, value: bool | None) -> None:
        # False is a real value here, not an empty one.
        return None


class Iso8601InstantField(forms.Field):
    """A form field for an ISO-8601 datetime with a zone, or a duration meaning "now minus it"."""

    def to_python(self, value: str | None) -> dt.datetime | None:
        if value is None:
            return None
        try:
            return parse_iso8601_instant(value, now=timezone.now())
        except ValueError as exc:
            raise _invalid(exc) from None


class StrictBooleanFilter(django_filters.Filter):
    """Filter on a boolean field with :class:`StrictBooleanField`."""

    field_class = StrictBooleanField


class Iso8601InstantFilter(django_filters.Filter):
    """Filter on a datetime field with :class:`Iso8601InstantField`."""

    field_class = Iso8601InstantField


class TimeRangeForm(forms.Form):
    """Base form of a filter set with a ``started``/``ended`` range: ``started`` must come before ``ended``."""

    def clean(self) -> dict:
        cleaned = super().clean()
        started, ended = cleaned.get("started"), cleaned.get("ended")
        if started is not None and ended is not None and started >= ended:
            self.add_error(
                "started",
                f"must be before ended ({started.isoformat()} is not before {ended.isoformat()}).",
            )
        return cleaned
