"""GET /v6/nodes/ with is_paused, hostname, id and search: alone, combined, counted, refused, and compiled."""

import itertools
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from node.models import Node
from node.selectors import SEARCH_TOO_SHORT, NodeListQuery, kept_node_count, node_rows
from node.services import node_update
from node.tests.helpers import T0, get_error, get_ok, hostnames, needs_kept_counts
from util import sqlcache

STATES = {"true": True, "false": False}


@pytest.fixture
def fleet(make_node: Callable[..., Node]) -> dict[str, Node]:
    """Four nodes, one in each combination of activity and pause state, with distinct hostnames and reasons."""
    return {
        node.hostname: node
        for node in (
            make_node("alpha.dc1.test"),
            make_node("Beta.dc1.test", is_paused=True, pause_reason="Disk replacement"),
            make_node("gamma.dc2.test", is_active=False),
            make_node("delta.dc2.test", is_active=False, is_paused=True, pause_reason="RACK move, 100% planned"),
        )
    }


def expected(nodes: dict[str, Node], params: dict[str, object]) -> set[str]:
    """The hostnames the list must answer for ``params``, computed here in Python from the filters' meaning."""

    def selected(node: Node) -> bool:
        if "is_active" in params and node.is_active != STATES[params["is_active"]]:
            return False
        if "is_paused" in params and node.is_paused != STATES[params["is_paused"]]:
            return False
        if "hostname" in params and node.hostname.lower() not in {h.lower() for h in params["hostname"]}:
            return False
        if "id" in params and node.pk not in {int(i) for i in params["id"]}:
            return False
        if "search" in params:
            text = params["search"].lower()
            return text in node.hostname.lower() or text in (node.pause_reason or "").lower()
        return True

    return {hostname for hostname, node in nodes.items() if selected(node)}


# The narrowing filters, each as a function of the fleet (ids are known only once the nodes exist).
NARROWING = {
    "none": lambda nodes: {},
    "one hostname": lambda nodes: {"hostname": ["BETA.dc1.test"]},
    "hostnames": lambda nodes: {"hostname": ["alpha.dc1.test", "delta.DC2.test", "unknown.test"]},
    "one id": lambda nodes: {"id": [nodes["gamma.dc2.test"].pk]},
    "ids": lambda nodes: {"id": [nodes["alpha.dc1.test"].pk, nodes["Beta.dc1.test"].pk, 999999]},
    "search in hostnames": lambda nodes: {"search": "DC1"},
    "search in reasons": lambda nodes: {"search": "rack"},
    "search everywhere": lambda nodes: {"search": "TES"},
    "search with hostname": lambda nodes: {"search": "dc2", "hostname": ["delta.dc2.test", "alpha.dc1.test"]},
    "ids with search": lambda nodes: {"id": [n.pk for n in nodes.values()], "search": "a.dc"},
}
# Pairs of values of the same shape (the same filters, each with as many values): the second runs
# the SQL compiled for the first. The searches' LIKE wildcards must be taken as plain characters.
SAME_SHAPE = {
    "none": (NARROWING["none"], NARROWING["none"]),
    "started and ended": (
        lambda nodes: {"started": "2000-01-01T00:00:00Z", "ended": "2100-01-01T00:00:00Z"},
        lambda nodes: {"started": "2001-01-01T00:00:00Z", "ended": "2101-01-01T00:00:00Z"},
    ),
    "one hostname": (NARROWING["one hostname"], lambda nodes: {"hostname": ["gamma.DC2.test"]}),
    "hostnames": (
        NARROWING["hostnames"],
        lambda nodes: {"hostname": ["BETA.dc1.test", "gamma.dc2.test", "Gamma.dc2.TEST", "unknown.test"]},
    ),
    "ids": (
        NARROWING["ids"],
        lambda nodes: {"id": [nodes["delta.dc2.test"].pk, nodes["gamma.dc2.test"].pk, nodes["delta.dc2.test"].pk, 7]},
    ),
    "search": (NARROWING["search in reasons"], lambda nodes: {"search": "0% p"}),
    "search for a wildcard": (NARROWING["search everywhere"], lambda nodes: {"search": "a_dc"}),
    "search with a backslash": (NARROWING["search in hostnames"], lambda nodes: {"search": "a\\.d"}),
    "search with a run of digits": (
        lambda nodes: {"search": "100% planned"},
        lambda nodes: {"search": "%_.dc2.t_%000"},
    ),
    "ids with search": (
        NARROWING["ids with search"],
        lambda nodes: {"id": [n.pk for n in nodes.values()], "search": "00%"},
    ),
}
STATE_COMBINATIONS = [
    {**({"is_active": a} if a else {}), **({"is_paused": p} if p else {})}
    for a, p in itertools.product((None, "true", "false"), repeat=2)
]


def query_string(params: dict[str, object]) -> str:
    return urlencode(params, doseq=True)


@pytest.mark.django_db
class TestNodeListFilters:
    @pytest.mark.parametrize("narrowing", sorted(NARROWING))
    @pytest.mark.parametrize("states", STATE_COMBINATIONS, ids=query_string)
    def test_every_filter_and_combination_selects_and_counts_exactly_its_nodes(
        self, api_client: APIClient, fleet: dict[str, Node], narrowing: str, states: dict
    ) -> None:
        params = {**states, **NARROWING[narrowing](fleet)}
        payload = get_ok(api_client, query_string(params))
        assert set(hostnames(payload)) == expected(fleet, params), params
        assert payload["count"] == len(payload["results"]), params

    @pytest.mark.parametrize(
        ("value", "paused"), [("true", True), ("T", True), ("1", True), ("FALSE", False), ("f", False), ("0", False)]
    )
    def test_is_paused_takes_the_spellings_of_is_active(
        self, api_client: APIClient, fleet: dict[str, Node], value: str, paused: bool
    ) -> None:
        payload = get_ok(api_client, f"is_paused={value}")
        assert {result["is_paused"] for result in payload["results"]} == {paused}
        assert payload["count"] == 2

    def test_hostname_ignores_letter_case_and_repeats_mean_any(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        assert hostnames(get_ok(api_client, "hostname=ALPHA.DC1.TEST")) == ["alpha.dc1.test"]
        payload = get_ok(api_client, "hostname=beta.dc1.test&hostname=gamma.dc2.test&hostname=beta.DC1.test&order=id")
        assert (hostnames(payload), payload["count"]) == (["Beta.dc1.test", "gamma.dc2.test"], 2)

    def test_hostname_is_exact_not_a_substring(self, api_client: APIClient, fleet: dict[str, Node]) -> None:
        assert get_ok(api_client, "hostname=alpha") == {"count": 0, "next": None, "previous": None, "results": []}

    def test_ids_select_those_nodes_and_unknown_ids_select_nothing(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        gamma = fleet["gamma.dc2.test"]
        assert hostnames(get_ok(api_client, f"id={gamma.pk}&id={gamma.pk}&id=99999")) == ["gamma.dc2.test"]
        assert get_ok(api_client, "id=99999")["count"] == 0

    def test_a_thousand_ids_are_accepted(self, api_client: APIClient, fleet: dict[str, Node]) -> None:
        known = [node.pk for node in fleet.values()]
        others = [number for number in range(1, 1001 + len(known)) if number not in known][: 1000 - len(known)]
        ids = "&".join(f"id={number}" for number in [*known, *others])
        assert get_ok(api_client, ids)["count"] == 4

    def test_search_finds_the_text_in_the_hostname_or_the_reason_in_any_case(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        assert hostnames(get_ok(api_client, "search=BETA")) == ["Beta.dc1.test"]
        assert hostnames(get_ok(api_client, "search=disk%20REPL")) == ["Beta.dc1.test"]
        assert sorted(hostnames(get_ok(api_client, "search=dc2"))) == ["delta.dc2.test", "gamma.dc2.test"]

    @pytest.mark.parametrize(
        ("text", "found"), [("00%", ["delta.dc2.test"]), ("a_d", []), ("100%", ["delta.dc2.test"]), ("a\\.d", [])]
    )
    def test_search_takes_like_wildcards_as_plain_characters(
        self, api_client: APIClient, fleet: dict[str, Node], text: str, found: list[str]
    ) -> None:
        assert hostnames(get_ok(api_client, urlencode({"search": text}))) == found

    def test_a_search_with_a_run_of_digits_finds_exactly_the_nodes_holding_the_whole_text(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        # On PostgreSQL the index looks up only the digits (``search_index_text``); the rest of the
        # text must still select: cpu-12345 and gpu-1234 hold the digits, or part of them, not the text.
        for hostname in ("gpu-12345.dc1.test", "GPU-123456.dc1.test", "cpu-12345.dc1.test", "gpu-1234.dc1.test"):
            make_node(hostname)
        make_node("spare.dc1.test", is_paused=True, pause_reason="Swap with gpu-12345")
        payload = get_ok(api_client, "search=gPu-12345")
        assert sorted(hostnames(payload)) == ["GPU-123456.dc1.test", "gpu-12345.dc1.test", "spare.dc1.test"]
        assert payload["count"] == 3
        assert hostnames(get_ok(api_client, urlencode({"search": "u-1234_"}))) == []
        assert get_ok(api_client, "search=99999")["count"] == 0

    def test_a_250_character_search_is_accepted(self, api_client: APIClient, fleet: dict[str, Node]) -> None:
        assert get_ok(api_client, "search=" + "a" * 250)["count"] == 0

    def test_filters_combine_with_time_bounds_order_and_paging(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        for number in range(5):
            make_node(
                f"n{number}.rack.test",
                is_paused=number % 2 == 0,
                pause_reason="r",
                last_modified=T0.replace(hour=number),
            )
        payload = get_ok(
            api_client, "search=rack&is_paused=true&started=2025-01-01T01:00:00Z&order=-hostname&page_size=1"
        )
        assert (payload["count"], hostnames(payload)) == (2, ["n4.rack.test"])
        assert "search=rack" in payload["next"] and "is_paused=true" in payload["next"]

    @pytest.mark.parametrize(
        ("query", "parameter", "message"),
        [
            ("is_paused=yes", "is_paused", "expected a boolean (true/false, t/f or 1/0), got 'yes'."),
            ("is_paused=", "is_paused", "expected a boolean (true/false, t/f or 1/0), got ''."),
            ("hostname=", "hostname", "expected 1 to 250 characters, got ''."),
            ("hostname=a.test&hostname=", "hostname", "expected 1 to 250 characters, got ''."),
            ("hostname=" + "a" * 251, "hostname", None),
            ("id=x", "id", "expected an integer >= 1, got 'x'."),
            ("id=0", "id", "expected an integer >= 1, got '0'."),
            ("id=-3", "id", "expected an integer >= 1, got '-3'."),
            ("id=1.5", "id", "expected an integer >= 1, got '1.5'."),
            ("id=", "id", "expected an integer >= 1, got ''."),
            ("id=1&id=two", "id", "expected an integer >= 1, got 'two'."),
            ("&".join(["id=1"] * 1001), "id", "at most 1000 values are accepted, got 1001."),
            ("&".join(["id=1"] * 1001) + "&page_size=10&order=hostname", "id", None),
            ("search=", "search", f"expected at least 3 characters, got 0: {SEARCH_TOO_SHORT}"),
            ("search=ab", "search", f"expected at least 3 characters, got 2: {SEARCH_TOO_SHORT}"),
            ("search=" + "a" * 251, "search", "expected 3 to 250 characters, got 251."),
        ],
    )
    def test_bad_values_are_a_400_naming_the_parameter(
        self, api_client: APIClient, query: str, parameter: str, message: str | None
    ) -> None:
        detail = get_error(api_client, query)
        assert detail.startswith(f"{parameter}: "), detail
        if message is not None:
            assert detail == f"{parameter}: {message}"

    def test_a_thousand_ids_with_page_size_and_order_are_accepted(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        ids = sorted(node.pk for node in fleet.values())[:3]
        values = ids + list(range(10**6, 10**6 + 1000 - len(ids)))
        query = "&".join(f"id={value}" for value in values) + "&page_size=2&order=-id"
        payload = get_ok(api_client, query)
        assert payload["count"] == len(ids)
        assert [node["id"] for node in payload["results"]] == sorted(ids, reverse=True)[:2]

    def test_a_thousand_ids_and_a_thousand_hostnames_are_accepted_together(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        query = "&".join([f"id={n}" for n in range(1, 1001)] + [f"hostname=h{n}.test" for n in range(1000)])
        assert get_ok(api_client, query + "&page_size=1000")["count"] == 0

    @pytest.mark.parametrize(
        "query",
        [
            "is_paused=true",
            "is_active=true&is_paused=false",
            "hostname=a.test",
            "id=1&id=2",
            "search=rack",
            "search=xyz&id=1",
            "search=dc2",
        ],
    )
    def test_every_filter_takes_two_queries_or_one_when_it_selects_no_node(
        self, api_client: APIClient, fleet: dict[str, Node], query: str
    ) -> None:
        # The count, then the page; a count of 0 leaves the one empty page nothing to read.
        with CaptureQueriesContext(connection) as queries:
            payload = get_ok(api_client, query)
        assert len(queries) == (2 if payload["count"] else 1), (payload["count"], [q["sql"] for q in queries])

    @needs_kept_counts
    @pytest.mark.parametrize("states", STATE_COMBINATIONS, ids=query_string)
    def test_state_filters_are_counted_by_the_kept_counts(
        self, api_client: APIClient, fleet: dict[str, Node], states: dict, django_assert_num_queries: Callable
    ) -> None:
        kept = {key: STATES[value] for key, value in states.items()}
        assert kept_node_count(**kept) == len(expected(fleet, states))
        with django_assert_num_queries(2) as queries:
            payload = get_ok(api_client, query_string(states))
        assert payload["count"] == len(expected(fleet, states))
        assert "node_count" in queries.captured_queries[0]["sql"]
        assert "COUNT(" not in queries.captured_queries[0]["sql"].upper()

    @needs_kept_counts
    def test_kept_counts_follow_pauses_resumes_and_deactivations(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        node_update(node=fleet["alpha.dc1.test"], changes={"is_paused": True, "pause_reason": "x"})
        node_update(node=fleet["Beta.dc1.test"], changes={"is_active": False})
        node_update(node=fleet["delta.dc2.test"], changes={"is_paused": False})
        for states in STATE_COMBINATIONS:
            filters = {key: STATES[value] for key, value in states.items()}
            assert get_ok(api_client, query_string(states))["count"] == Node.objects.filter(**filters).count(), states

    @pytest.mark.parametrize("narrowing", ["one hostname", "ids", "search in reasons"])
    def test_narrowing_filters_are_counted_rows_not_kept_counts(
        self, api_client: APIClient, fleet: dict[str, Node], narrowing: str, django_assert_num_queries: Callable
    ) -> None:
        with django_assert_num_queries(2) as queries:
            payload = get_ok(api_client, query_string(NARROWING[narrowing](fleet)))
        assert payload["count"] == len(expected(fleet, NARROWING[narrowing](fleet)))
        assert "COUNT(" in queries.captured_queries[0]["sql"].upper()


@pytest.mark.django_db
class TestNodeListCompiledSql:
    """The page SQL compiled once per shape (``util.sqlcache``) never serves the rows of another query."""

    def test_is_paused_false_never_returns_a_paused_node_after_other_shapes_were_compiled(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        # The probe of issue 12: the compiled key once ignored is_paused.
        for query in ("", "is_paused=true", "is_active=true", "is_active=true&is_paused=true"):
            get_ok(api_client, query)
        for _ in range(2):
            payload = get_ok(api_client, "is_paused=false")
            assert {result["is_paused"] for result in payload["results"]} == {False}, payload
            assert payload["count"] == 2

    def test_every_shape_answers_its_own_rows_in_any_order_of_requests(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        shapes = [
            {**states, **NARROWING[narrowing](fleet), **order}
            for states in STATE_COMBINATIONS
            for narrowing in ("none", "one hostname", "ids", "search everywhere")
            for order in ({}, {"order": "hostname"})
        ]
        for params in [*shapes, *reversed(shapes), *shapes[::3]]:
            payload = get_ok(api_client, query_string(params))
            assert set(hostnames(payload)) == expected(fleet, params), params
            assert payload["count"] == len(payload["results"]), params

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's rows need conversion: never compiled")
    @pytest.mark.parametrize("shape", sorted(SAME_SHAPE))
    @pytest.mark.parametrize("states", STATE_COMBINATIONS, ids=query_string)
    def test_on_postgresql_each_shape_is_compiled_once_and_run_with_each_requests_values(
        self, api_client: APIClient, fleet: dict[str, Node], shape: str, states: dict[str, str]
    ) -> None:
        sqlcache.clear()
        first, second = (dict(states, **values(fleet)) for values in SAME_SHAPE[shape])
        payload = get_ok(api_client, query_string(first))
        assert set(hostnames(payload)) == expected(fleet, first)
        compiled = dict(sqlcache._compiled)
        assert compiled and None not in compiled.values(), compiled
        for attempt in range(2):
            payload = get_ok(api_client, query_string(second))
            assert set(hostnames(payload)) == expected(fleet, second), second
            assert payload["count"] == len(payload["results"]), second
            # The second values ran the SQL the first ones compiled: no key was given up or compiled
            # again. (A first request that selected no node read no page, so the page's SQL may be
            # compiled by the second, once: its repetition adds nothing.)
            if attempt == 0:
                assert sqlcache._compiled.items() >= compiled.items()
                compiled = dict(sqlcache._compiled)
            else:
                assert sqlcache._compiled == compiled

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's rows need conversion: never compiled")
    def test_on_postgresql_a_compiled_shape_sees_later_writes(
        self, api_client: APIClient, fleet: dict[str, Node]
    ) -> None:
        assert hostnames(get_ok(api_client, "is_paused=false&order=hostname")) == ["alpha.dc1.test", "gamma.dc2.test"]
        node_update(node=fleet["alpha.dc1.test"], changes={"is_paused": True, "pause_reason": "x"})
        payload = get_ok(api_client, "is_paused=false&order=hostname")
        assert (hostnames(payload), payload["count"]) == (["gamma.dc2.test"], 1)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes of the filters are PostgreSQL's")
class TestNodeListFilterIndexes:
    """Each narrowing filter compiles to the very expression its index is built on (migrations 0006 and 0007)."""

    @pytest.mark.parametrize(
        ("narrowing", "index"),
        [
            ({"search": "rack"}, "node_hostname_trgm_idx"),
            ({"search": "rack"}, "node_pause_reason_trgm_idx"),
            ({"hostname": ["A.test"]}, "node_hostname_unique_ci"),
            ({"is_paused": True}, "node_paused_modified_idx"),
        ],
    )
    def test_the_filter_can_use_its_index(self, fleet: dict[str, Node], narrowing: dict, index: str) -> None:
        rows = NodeListQuery(**{k: tuple(v) if isinstance(v, list) else v for k, v in narrowing.items()}).filter(
            node_rows()
        )
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert index in plan, plan
