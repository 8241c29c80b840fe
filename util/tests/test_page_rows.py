import pytest
from django.contrib.auth.models import Group

from util import pagination, sqlcache
from util.pagination import CountedPaginator, page_rows


@pytest.fixture
def groups(db: None) -> None:
    Group.objects.bulk_create(Group(name=f"group-{number % 4}-{number:02d}") for number in range(23))


@pytest.mark.parametrize("offset", [0, 5, 20, 22, 23, 40])
@pytest.mark.parametrize("deferred_from", [0, 1000])
def test_rows_are_those_of_a_slice_whether_or_not_read_by_deferred_join(
    groups: None, monkeypatch: pytest.MonkeyPatch, offset: int, deferred_from: int
) -> None:
    monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", deferred_from)
    ordered = Group.objects.order_by("-name", "id").values_list("id", "name")
    assert page_rows(ordered, offset=offset, limit=5) == list(ordered)[offset : offset + 5]


def test_sequences_are_sliced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 0)
    assert page_rows(list(range(10)), offset=8, limit=5) == [8, 9]


def test_a_given_count_is_asked_once_and_used(groups: None) -> None:
    asked: list[int] = []

    def count() -> int:
        asked.append(1)
        return 7

    paginator = CountedPaginator(Group.objects.order_by("id"), 5, count=count)
    page = paginator.page(2)
    assert (paginator.count, paginator.num_pages, len(page), asked) == (7, 2, 5, [1])


@pytest.mark.parametrize("offset", [0, 5, 20])
@pytest.mark.parametrize("deferred_from", [0, 1000])
def test_a_keyed_page_with_parameters_is_the_slice_and_runs_its_kept_sql(
    groups: None, monkeypatch: pytest.MonkeyPatch, offset: int, deferred_from: int
) -> None:
    monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", deferred_from)
    sqlcache.clear()
    for prefix in ("group-1", "group-2"):
        ordered = Group.objects.filter(name__startswith=prefix).order_by("-name", "id").values_list("id", "name")
        pattern = f"{prefix}%"
        rows = page_rows(ordered, offset=offset, limit=3, sql_key=("groups-by-prefix",), sql_params=(pattern,))
        assert rows == list(ordered)[offset : offset + 3], prefix
    # The rows need no conversion, so the page's SQL was kept once (its parameters checked) and run twice.
    assert len(sqlcache._compiled) == 1
    assert None not in sqlcache._compiled.values()
