import pytest
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from util.pagination import StrictPageNumberPagination

ITEMS = list(range(1, 251))


def paginate(query: str, items: list[int] = ITEMS) -> dict:
    request = Request(APIRequestFactory().get(f"/things/?{query}"))
    paginator = StrictPageNumberPagination()
    page = paginator.paginate_queryset(items, request)
    return paginator.get_paginated_response(page).data


def test_first_page_has_the_default_size_and_a_next_link_keeping_other_parameters() -> None:
    assert paginate("order=-id&is_active=true") == {
        "count": 250,
        "next": "http://testserver/things/?is_active=true&order=-id&page=2",
        "previous": None,
        "results": ITEMS[:100],
    }


def test_middle_page_links_both_ways() -> None:
    assert paginate("page=2&page_size=100") == {
        "count": 250,
        "next": "http://testserver/things/?page=3&page_size=100",
        "previous": "http://testserver/things/?page_size=100",
        "results": ITEMS[100:200],
    }


def test_last_page_is_short_and_has_no_next() -> None:
    assert paginate("page=3") == {
        "count": 250,
        "next": None,
        "previous": "http://testserver/things/?page=2",
        "results": ITEMS[200:],
    }


def test_page_size_bounds_are_inclusive() -> None:
    assert paginate("page_size=1")["results"] == [1]
    assert paginate("page_size=1000")["results"] == ITEMS


def test_empty_list_gives_an_empty_first_page() -> None:
    assert paginate("", items=[]) == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("value", ["0", "-1", "1001", "1e3", "abc", "", "10.5", "+5"])
def test_bad_page_size_is_refused_naming_parameter_and_range(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        paginate(f"page_size={value}")
    assert caught.value.detail["page_size"][0].startswith("expected an integer from 1 to 1000")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "last", "1.0"])
def test_bad_page_is_refused_naming_parameter(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        paginate(f"page={value}")
    assert caught.value.detail["page"][0].startswith("expected an integer >= 1")


@pytest.mark.parametrize("value", ["4", "1" + "0" * 30])
def test_page_past_the_last_is_not_found(value: str) -> None:
    with pytest.raises(NotFound, match="past the last page"):
        paginate(f"page={value}")


def test_page_two_of_an_empty_list_is_not_found() -> None:
    with pytest.raises(NotFound):
        paginate("page=2", items=[])
