import datetime as dt

import django_filters
import pytest
from django.contrib.auth.models import User
from django.http import QueryDict
from django_filters.utils import translate_validation
from rest_framework.exceptions import ValidationError

from util.filters import FilterSetRunner, Iso8601InstantFilter, StrictBooleanFilter, TimeRangeForm


class UserFilter(django_filters.FilterSet):
    started = Iso8601InstantFilter(field_name="date_joined", lookup_expr="gte")
    ended = Iso8601InstantFilter(field_name="date_joined", lookup_expr="lte")
    is_staff = StrictBooleanFilter(field_name="is_staff")

    class Meta:
        model = User
        fields = ["started", "ended", "is_staff"]
        form = TimeRangeForm


RUNNER = FilterSetRunner(UserFilter)


@pytest.fixture
def users(db: None) -> None:
    for day in range(1, 7):
        User.objects.create(
            username=f"user{day}", is_staff=day % 2 == 0, date_joined=dt.datetime(2025, 1, day, tzinfo=dt.UTC)
        )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "is_staff=true",
        "is_staff=0",
        "started=2025-01-03T00:00:00Z",
        "started=2025-01-02T00:00:00Z&ended=2025-01-05T00:00:00Z",
    ],
)
def test_values_are_those_of_the_filterset(users: None, query: str) -> None:
    params = QueryDict(query)
    expected = UserFilter(params, queryset=User.objects.order_by("id"))
    assert expected.is_valid()
    assert RUNNER.clean(params) == expected.form.cleaned_data


@pytest.mark.parametrize(
    "query", ["is_staff=yes", "is_staff=", "started=soon", "started=2025-01-03T00:00:00Z&ended=2025-01-02T00:00:00Z"]
)
def test_errors_are_those_of_the_filter_backend(query: str) -> None:
    params = QueryDict(query)
    expected = UserFilter(params, queryset=User.objects.none())
    assert not expected.is_valid()
    with pytest.raises(ValidationError) as caught:
        RUNNER.clean(params)
    assert caught.value.detail == translate_validation(expected.errors).detail


def test_no_filter_parameter_gives_none_for_every_filter() -> None:
    assert RUNNER.clean(QueryDict("page=2&order=-id")) == {"started": None, "ended": None, "is_staff": None}
