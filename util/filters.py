"""django-filter pieces for strict query parameters.

django-filter's own boolean and datetime filters quietly ignore values they cannot read; these
refuse them, so a typo in a query is a 400 naming the parameter instead of an unfiltered list.
A parameter given with an empty value (``?is_active=``) is refused too; only absence means "no filter".
"""

import datetime as dt
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.utils import translate_validation

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


class FilterSetRunner:
    """Validate and apply a ``FilterSet``'s filters exactly as the FilterSet does, at a fraction of the cost.

    A ``FilterSet`` instance deep-copies all its filters and creates a new form class on every
    request; both are the same for every request, so here they are built once. The form class is
    the FilterSet's own (same fields, same ``Meta.form`` checks, same messages) and its filters
    are applied in the same way, so the results and the 400s are those of ``DjangoFilterBackend``.
    """

    def __init__(self, filterset_class: type[django_filters.FilterSet]) -> None:
        self.filterset_class = filterset_class

    @cached_property
    def form_class(self) -> type[forms.Form]:
        return self.filterset_class().get_form_class()

    def clean(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The cleaned value of every filter (None when absent); raises DRF's ``ValidationError`` naming bad ones."""
        names = self.filterset_class.base_filters
        if not any(name in params for name in names):
            # Nothing to validate: skip the form, whose construction copies all its fields.
            return dict.fromkeys(names)
        form = self.form_class(params)
        if not form.is_valid():
            raise translate_validation(form.errors)
        return form.cleaned_data

    def apply(self, queryset: QuerySet, values: Mapping[str, Any]) -> QuerySet:
        """``queryset`` narrowed by each filter's cleaned value, as ``FilterSet.qs`` would be."""
        for name, value in values.items():
            queryset = self.filterset_class.base_filters[name].filter(queryset, value)
        return queryset
