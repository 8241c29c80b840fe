"""django-filter pieces for strict query parameters.

django-filter's own boolean and datetime filters quietly ignore values they cannot read; these
refuse them, so a typo in a query is a 400 naming the parameter instead of an unfiltered list.
A parameter given with an empty value (``?is_active=``) is refused too; only absence means "no filter".
"""

import datetime as dt
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import django_filters
from django import forms
from django.template.loader import render_to_string
from django.utils import timezone
from django_filters.utils import translate_validation
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.views import APIView

from util.iso8601 import parse_iso8601_instant
from util.values import check_length, parse_boolean, parse_int_in_range, shown


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


class TextField(forms.Field):
    """A form field for a text of ``min_length`` to ``max_length`` characters, taken as it is (not stripped).

    With ``too_short`` (why a shorter text is refused), a text under ``min_length`` is refused with
    that reason.
    """

    def __init__(self, *, min_length: int = 1, max_length: int, too_short: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_length, self.max_length, self.too_short = min_length, max_length, too_short

    def to_python(self, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_length(value, min_length=self.min_length, max_length=self.max_length, too_short=self.too_short)
        except ValueError as exc:
            raise _invalid(exc) from None

    def validate(self, value: str | None) -> None:
        return None


class _RepeatedWidget(forms.Widget):
    """Reads every value of a repeated query parameter (``?id=1&id=2``); None when the parameter is absent."""

    def value_from_datadict(self, data: Mapping[str, Any], files: Any, name: str) -> list[str] | None:
        if name not in data:
            return None
        getlist = getattr(data, "getlist", None)
        return list(getlist(name)) if getlist is not None else [data[name]]


class RepeatedField(forms.Field):
    """A form field for a repeated parameter: each value read by ``parse`` (which raises ``ValueError``),
    at most ``max_values`` of them; a tuple of the values in the order given, or None when absent."""

    widget = _RepeatedWidget

    def __init__(self, *, parse: Callable[[str], Any], max_values: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parse, self.max_values = parse, max_values

    def to_python(self, value: list[str] | None) -> tuple | None:
        if value is None:
            return None
        if len(value) > self.max_values:
            raise _invalid(ValueError(f"at most {self.max_values} values are accepted, got {len(value)}."))
        try:
            return tuple(self.parse(item) for item in value)
        except ValueError as exc:
            raise _invalid(exc) from None

    def validate(self, value: tuple | None) -> None:
        return None


def text_parser(*, max_length: int) -> Callable[[str], str]:
    """A ``RepeatedField`` parser of texts of 1 to ``max_length`` characters."""

    def parse(value: str) -> str:
        if not 1 <= len(value) <= max_length:
            raise ValueError(f"expected 1 to {max_length} characters, got {shown(value)}.")
        return value

    return parse


def positive_int_parser(value: str) -> int:
    """A ``RepeatedField`` parser of integers >= 1 (ASCII digits only)."""
    return parse_int_in_range(value, minimum=1)


class TextFilter(django_filters.Filter):
    """Filter by a text with :class:`TextField` (``max_length`` required)."""

    field_class = TextField


class RepeatedFilter(django_filters.Filter):
    """Filter by a repeated parameter with :class:`RepeatedField` (``parse`` and ``max_values`` required)."""

    field_class = RepeatedField


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
    """Validate a ``FilterSet``'s parameters exactly as the FilterSet does, at a fraction of the cost.

    A ``FilterSet`` instance deep-copies all its filters and creates a new form class on every
    request; both are the same for every request, so here they are built once. The form class is
    the FilterSet's own (same fields, same ``Meta.form`` checks, same messages), so the cleaned
    values and the 400s are those of ``DjangoFilterBackend``; the caller applies the values.
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


class FilterFormBackend(BaseFilterBackend):
    """The browsable API's filter form of a view that applies its filters itself: it filters nothing here.

    The form is the view's ``filter_form_template``, given the view and the request's query parameters
    (``params``), to show the filters in force.
    """

    def filter_queryset(self, request: Request, queryset: Any, view: APIView) -> Any:
        return queryset

    def to_html(self, request: Request, queryset: Any, view: APIView) -> str:
        context = {"params": request.query_params, "view": view}
        return render_to_string(view.filter_form_template, context, request=request)
