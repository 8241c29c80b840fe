import pytest
from django.contrib.auth.models import Group

from util import sqlcache
from util.sqlcache import built_once, rows_of, rows_with_params, sql_with_params


@pytest.fixture
def groups(db: None) -> None:
    Group.objects.bulk_create(Group(name=f"group-{number:02d}") for number in range(12))


@pytest.fixture
def compilations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The querysets compiled, by key, with a fresh cache."""
    monkeypatch.setattr(sqlcache, "_compiled", type(sqlcache._compiled)())
    compiled: list[str] = []
    original = sqlcache._compile

    def spy(queryset: object, **kwargs: object) -> str | None:
        compiled.append("compiled")
        return original(queryset, **kwargs)

    monkeypatch.setattr(sqlcache, "_compile", spy)
    return compiled


def test_rows_are_those_of_the_queryset(groups: None, compilations: list[str]) -> None:
    page = Group.objects.order_by("-name").values_list("id", "name")[2:5]
    assert rows_of(page, key="groups-page") == list(page)
    assert rows_of(page, key="groups-page") == list(page)


def test_a_parameter_free_query_of_unconverted_values_is_compiled_once_per_key(
    groups: None, compilations: list[str]
) -> None:
    for _ in range(3):
        rows_of(Group.objects.order_by("name").values_list("name")[:3], key="first-three")
    assert compilations == ["compiled"]


def test_a_query_with_parameters_is_never_reused(groups: None, compilations: list[str]) -> None:
    first = rows_of(Group.objects.filter(name="group-01").values_list("name"), key="by-name")
    second = rows_of(Group.objects.filter(name="group-02").values_list("name"), key="by-name")
    assert (first, second) == ([("group-01",)], [("group-02",)])


def test_model_instances_are_not_cached(groups: None, compilations: list[str]) -> None:
    assert rows_of(Group.objects.order_by("name")[:1], key="instances") == [Group.objects.order_by("name").first()]


def test_clear_forgets_the_compiled_queries(groups: None, compilations: list[str]) -> None:
    query = Group.objects.order_by("name").values_list("name")[:3]
    rows_of(query, key="first-three")
    sqlcache.clear()
    assert rows_of(query, key="first-three") == list(query)
    assert compilations == ["compiled", "compiled"]


def _group_named(name: str) -> object:
    return Group.objects.filter(name=name).values_list("name")


def test_a_query_with_parameters_is_compiled_once_and_run_with_each_callers_values(
    groups: None, compilations: list[str]
) -> None:
    for number in (1, 7, 11, 99):
        name = f"group-{number:02d}"
        assert rows_with_params(_group_named, key="group-named", params=(name,)) == list(_group_named(name))
    assert compilations == ["compiled"]


def test_a_query_whose_parameters_are_not_the_callers_runs_as_usual(groups: None, compilations: list[str]) -> None:
    def named_and_numbered(name: str) -> object:
        # A second parameter the caller does not give: the SQL cannot be reused with the caller's values.
        return Group.objects.filter(name=name, id__gt=0).values_list("name")

    for name in ("group-01", "group-02"):
        assert rows_with_params(named_and_numbered, key="named-numbered", params=(name,)) == [(name,)]


def test_a_keyed_query_with_its_parameters_is_compiled_once_and_run_with_each_callers_values(
    groups: None, compilations: list[str]
) -> None:
    for number in (1, 7, 11):
        name = f"group-{number:02d}"
        query = Group.objects.filter(name=name).values_list("name")
        assert rows_of(query, key="by-name", params=(name,)) == [(name,)]
    assert compilations == ["compiled"]


def test_keyed_sql_with_params_is_djangos_sql_with_the_callers_parameters(groups: None) -> None:
    sqlcache.clear()
    for name in ("group-01", "group-02"):
        query = Group.objects.filter(name=name)
        assert sql_with_params(query, key="sql-by-name", params=(name,)) == query.query.sql_with_params()
    assert None not in sqlcache._compiled.values()


def test_keyed_sql_whose_parameters_are_not_djangos_is_compiled_every_time(groups: None) -> None:
    sqlcache.clear()
    query = Group.objects.filter(name="group-01", id__gt=0)
    assert sql_with_params(query, key="sql-named-numbered", params=("group-01",)) == query.query.sql_with_params()
    assert list(sqlcache._compiled.values()) == [None]


def test_what_is_built_once_per_key_is_built_the_first_time_and_kept() -> None:
    builds: list[str] = []

    def build(name: str) -> str:
        builds.append(name)
        return name

    assert [built_once("a", lambda: build("a")) for _ in range(3)] == ["a", "a", "a"]
    assert built_once("b", lambda: build("b")) == "b"
    assert builds == ["a", "b"]


def test_a_build_that_fails_is_not_kept() -> None:
    def failing() -> str:
        raise ValueError("bad order")

    with pytest.raises(ValueError, match="bad order"):
        built_once("failing", failing)
    assert built_once("failing", lambda: "built") == "built"


def test_clear_forgets_what_was_built() -> None:
    built_once("kept", lambda: "first")
    sqlcache.clear()
    assert built_once("kept", lambda: "second") == "second"
