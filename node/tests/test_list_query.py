"""``NodeListQuery``: every filter of ``NodeFilter`` is one of its filters, and decides its count and its SQL."""

import dataclasses
import datetime as dt

import pytest
from django.http import QueryDict

from node.filters import NodeFilter
from node.selectors import COUNTED, FIXED, KEPT, PARAMETERS, NodeListQuery, node_rows, search_index_text
from util.filters import FilterSetRunner, StrictBooleanFilter

# One value of each filter, for the tests that go through them all.
SAMPLE_VALUES = {
    "started": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    "ended": dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
    "is_active": True,
    "is_paused": False,
    "hostname": ("a.test",),
    "id": (1, 2),
    "search": "rack",
}


def test_every_node_filter_is_a_filter_of_the_list_query() -> None:
    assert set(NodeFilter.base_filters) == NodeListQuery.filter_names()


def test_the_samples_cover_every_filter() -> None:
    assert set(SAMPLE_VALUES) == NodeListQuery.filter_names()


def test_every_filter_decides_how_it_is_counted_and_how_it_shapes_the_sql() -> None:
    for field in dataclasses.fields(NodeListQuery):
        assert field.metadata.get("count") in (KEPT, COUNTED), field.name
        assert field.metadata.get("sql") in (FIXED, PARAMETERS), field.name
        assert field.default is None, field.name


def test_a_filter_the_query_does_not_know_is_refused_not_ignored() -> None:
    class WiderNodeFilter(NodeFilter):
        is_gpu = StrictBooleanFilter()

        class Meta(NodeFilter.Meta):
            fields = [*NodeFilter.Meta.fields, "is_gpu"]

    values = FilterSetRunner(WiderNodeFilter).clean(QueryDict("is_gpu=true"))
    with pytest.raises(TypeError, match="is_gpu"):
        NodeListQuery.from_values(values)


def test_the_filterset_filters_through_the_list_query(db: None) -> None:
    class Probe(NodeFilter):
        pass

    filterset = Probe(QueryDict("is_paused=false&search=xyz"), queryset=node_rows())
    assert filterset.is_valid(), filterset.errors
    expected = NodeListQuery(is_paused=False, search="xyz").filter(node_rows())
    assert str(filterset.qs.query) == str(expected.query)


def test_repeated_values_become_a_sorted_tuple_without_duplicates_and_hostnames_lower_case() -> None:
    query = NodeListQuery.from_values({"id": [3, 1, 3], "hostname": ["B.test", "A.test", "a.TEST"]})
    assert (query.id, query.hostname) == ((1, 3), ("a.test", "b.test"))


def sql_key(query: NodeListQuery, *, order: tuple = ()) -> object:
    return query.sql(node_rows(), order=order)[1]


@pytest.mark.parametrize("name", sorted(SAMPLE_VALUES))
def test_a_parameterised_filter_keys_its_number_of_parameters_and_a_fixed_one_its_value(name: str) -> None:
    query = NodeListQuery(**{name: SAMPLE_VALUES[name]})
    field = next(f for f in dataclasses.fields(NodeListQuery) if f.name == name)
    assert sql_key(query) != sql_key(NodeListQuery())
    if field.metadata["sql"] == PARAMETERS:
        value = SAMPLE_VALUES[name]
        if isinstance(value, tuple):
            same_shape, other_shape = tuple(f"{v}0" if isinstance(v, str) else v + 10 for v in value), value[:-1]
        elif isinstance(value, str):
            same_shape, other_shape = value.upper(), None
        else:
            same_shape, other_shape = value + dt.timedelta(days=3), None
        assert sql_key(NodeListQuery(**{name: same_shape})) == sql_key(query)
        if other_shape:
            assert sql_key(NodeListQuery(**{name: other_shape})) != sql_key(query)
    else:
        assert sql_key(NodeListQuery(**{name: not SAMPLE_VALUES[name]})) != sql_key(query)


def test_every_combination_of_the_fixed_filters_has_its_own_key() -> None:
    states = (None, True, False)
    keys = {
        sql_key(NodeListQuery(is_active=active, is_paused=paused), order=order)
        for active in states
        for paused in states
        for order in ((), ("hostname",))
    }
    assert len(keys) == 18


@pytest.mark.parametrize("is_active", [None, True, False])
@pytest.mark.parametrize("is_paused", [None, True, False])
@pytest.mark.parametrize("order", [(), ("-hostname", "id")])
def test_a_query_of_fixed_filters_only_has_the_key_of_its_sql_without_building_it(
    is_active: bool | None, is_paused: bool | None, order: tuple
) -> None:
    query = NodeListQuery(is_active=is_active, is_paused=is_paused)
    assert query.fixed_sql_key(order=order) == sql_key(query, order=order)
    assert query.sql(node_rows(), order=order)[2] == ()


@pytest.mark.parametrize("name", sorted(SAMPLE_VALUES))
def test_a_query_with_a_parameterised_filter_has_no_fixed_key(name: str) -> None:
    field = next(f for f in dataclasses.fields(NodeListQuery) if f.name == name)
    query = NodeListQuery(**{"is_active": True, name: SAMPLE_VALUES[name]})
    assert (query.fixed_sql_key(order=()) is None) == (field.metadata["sql"] == PARAMETERS)


@pytest.mark.parametrize("names", [[name] for name in sorted(SAMPLE_VALUES)] + [sorted(SAMPLE_VALUES)])
def test_the_parameters_are_those_django_compiles_the_filters_with(db: None, names: list[str]) -> None:
    rows, _, params = NodeListQuery(**{name: SAMPLE_VALUES[name] for name in names}).sql(node_rows(), order=())
    assert list(rows.query.sql_with_params()[1]) == list(params)


@pytest.mark.parametrize("name", sorted(SAMPLE_VALUES))
def test_a_fixed_filter_compiles_to_sql_without_parameters(db: None, name: str) -> None:
    """What ``sql_key`` relies on: a FIXED filter's value is in the SQL text itself, never a parameter."""
    field = next(f for f in dataclasses.fields(NodeListQuery) if f.name == name)
    _, params = NodeListQuery(**{name: SAMPLE_VALUES[name]}).filter(node_rows()).query.sql_with_params()
    assert (params == ()) == (field.metadata["sql"] == FIXED), params


def test_only_the_state_filters_use_the_kept_counts() -> None:
    kept = {f.name for f in dataclasses.fields(NodeListQuery) if f.metadata["count"] == KEPT}
    assert kept == {"is_active", "is_paused"}


@pytest.mark.parametrize(
    ("text", "looked_up"),
    [
        ("gpu-12345", "12345"),
        ("node-0001234.rack12", "0001234"),
        ("12-345678", "345678"),
        ("x123y", "123"),
        # No run of three digits, or nothing to leave out: the whole text.
        ("rack12", None),
        (".dc1.", None),
        ("example", None),
        ("001234", None),
    ],
)
def test_a_search_looks_up_its_longest_run_of_three_or_more_digits(text: str, looked_up: str | None) -> None:
    assert search_index_text(text) == looked_up
