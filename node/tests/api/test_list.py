"""GET /v6/nodes/: filters, ordering and paging, the list's exact bytes, its ETags, hostile queries and counts."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import override_settings
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from node.models import Node
from node.selectors import kept_node_count
from node.serializers import NodeSerializer
from node.services import node_register
from node.tests.helpers import (
    ENCODING_T0,
    FIELDS,
    LIST_URL,
    T0,
    UTC,
    body,
    detail_url,
    get_error,
    get_ok,
    hostnames,
    json_error,
    needs_kept_counts,
)
from util import pagination

# A page of the list whose ETag the conditional tests follow.
ETAG_PAGE_URL = "/v6/nodes/?page_size=2&order=id"


def contract_bytes(*, nodes: list[Node], count: int, next_url: str | None, previous_url: str | None) -> bytes:
    """The response the contract describes, written by DRF's own serializer and renderer."""
    return JSONRenderer().render(
        {"count": count, "next": next_url, "previous": previous_url, "results": NodeSerializer(nodes, many=True).data}
    )


def get_bytes(client: APIClient, query: str = "") -> bytes:
    response = client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 200, body(response)
    assert response["Content-Type"] == "application/json"
    return response.content


@pytest.mark.django_db
class TestNodeList:
    def test_empty_table_gives_count_zero_on_page_one(self, api_client: APIClient) -> None:
        assert get_ok(api_client) == {"count": 0, "next": None, "previous": None, "results": []}

    def test_result_has_exactly_the_eight_fields_in_utc_with_z(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        created = dt.datetime(2015, 8, 28, 18, 32, 33, 954000, tzinfo=UTC)
        node = make_node(
            "host.com",
            created=created,
            last_modified=dt.datetime(2015, 9, 4, 13, 53, 46, 670000, tzinfo=UTC),
        )
        payload = get_ok(api_client)
        assert payload == {
            "count": 1,
            "next": None,
            "previous": None,
            "results": [
                {
                    "id": node.pk,
                    "hostname": "host.com",
                    "pause_reason": None,
                    "is_paused": False,
                    "is_active": True,
                    "deprecated": None,
                    "created": "2015-08-28T18:32:33.954000Z",
                    "last_modified": "2015-09-04T13:53:46.670000Z",
                }
            ],
        }
        assert list(payload["results"][0]) == FIELDS

    def test_default_order_is_last_modified_then_id(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("c.test", last_modified=T0 + dt.timedelta(hours=2))
        make_node("a.test", last_modified=T0 + dt.timedelta(hours=1))
        make_node("b2.test", last_modified=T0 + dt.timedelta(hours=3))
        make_node("b1.test", last_modified=T0 + dt.timedelta(hours=3))
        assert hostnames(get_ok(api_client)) == ["a.test", "c.test", "b2.test", "b1.test"]

    def test_next_and_previous_are_absolute_and_keep_other_parameters(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        for _ in range(5):
            make_node()
        payload = get_ok(api_client, "page=2&page_size=2&is_active=true&order=-created&order=hostname")
        assert payload["next"] == (
            "http://testserver/v6/nodes/?is_active=true&order=-created&order=hostname&page=3&page_size=2"
        )
        assert (
            payload["previous"]
            == "http://testserver/v6/nodes/?is_active=true&order=-created&order=hostname&page_size=2"
        )

    def test_pages_neither_overlap_nor_skip_when_order_values_tie(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        ids = {make_node(last_modified=T0).pk for _ in range(7)}
        seen: list[int] = []
        for page in (1, 2, 3, 4):
            seen += [r["id"] for r in get_ok(api_client, f"page={page}&page_size=2&order=is_paused")["results"]]
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))

    def test_page_size_defaults_to_100(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        node_register(hostnames=[f"n{i}.test" for i in range(101)])
        payload = get_ok(api_client)
        assert len(payload["results"]) == 100
        assert payload["count"] == 101

    @pytest.mark.parametrize("value", ["0", "-1", "1001", "abc", "1e3", "2.5", ""])
    def test_bad_page_size_is_rejected_naming_parameter_and_range(self, api_client: APIClient, value: str) -> None:
        detail = get_error(api_client, f"page_size={value}")
        assert detail.startswith("page_size: expected an integer from 1 to 1000")

    @pytest.mark.parametrize("value", ["0", "-3", "x", "", "1e3"])
    def test_bad_page_is_rejected_naming_parameter(self, api_client: APIClient, value: str) -> None:
        assert get_error(api_client, f"page={value}").startswith("page: expected an integer >= 1")

    @pytest.mark.parametrize("page", ["2", str(10**30)])
    def test_page_past_the_last_is_404(self, api_client: APIClient, make_node: Callable[..., Node], page: str) -> None:
        make_node()
        assert "past the last page" in get_error(api_client, f"page={page}", status=404)

    def test_is_active_selects_active_or_inactive_nodes(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("up.test")
        make_node("down.test", is_active=False)
        for value in ("true", "TRUE", "t", "T", "1", "True"):
            assert hostnames(get_ok(api_client, f"is_active={value}")) == ["up.test"], value
        for value in ("false", "False", "f", "F", "0"):
            assert hostnames(get_ok(api_client, f"is_active={value}")) == ["down.test"], value
        assert sorted(hostnames(get_ok(api_client))) == ["down.test", "up.test"]

    @pytest.mark.parametrize("value", ["yes", "2", "", "null", "truth"])
    def test_bad_is_active_is_rejected(self, api_client: APIClient, value: str) -> None:
        assert get_error(api_client, f"is_active={value}").startswith("is_active: expected a boolean")

    def test_started_and_ended_bound_last_modified_inclusively(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        for hour in range(5):
            make_node(f"h{hour}.test", last_modified=T0 + dt.timedelta(hours=hour))
        query = "started=2025-01-01T01:00:00Z&ended=2025-01-01T03:00:00Z"
        assert hostnames(get_ok(api_client, query)) == ["h1.test", "h2.test", "h3.test"]
        assert hostnames(get_ok(api_client, "started=2025-01-01T05:30:00%2B02:00")) == ["h4.test"]
        assert hostnames(get_ok(api_client, "ended=2025-01-01T00:00:00Z")) == ["h0.test"]

    def test_duration_means_now_minus_duration(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        from django.utils import timezone

        now = timezone.now()
        make_node("old.test", last_modified=now - dt.timedelta(days=3))
        make_node("recent.test", last_modified=now - dt.timedelta(hours=2))
        assert hostnames(get_ok(api_client, "started=PT3H0M0S")) == ["recent.test"]
        assert hostnames(get_ok(api_client, "started=P4D&ended=P1D")) == ["old.test"]
        assert hostnames(get_ok(api_client, "started=P1M")) == ["old.test", "recent.test"]

    def test_last_modified_copied_from_a_response_finds_that_node(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("before.test", last_modified=dt.datetime(2025, 6, 1, 12, 0, 0, 123455, tzinfo=UTC))
        make_node("exact.test", last_modified=dt.datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC))
        stamp = next(r for r in get_ok(api_client)["results"] if r["hostname"] == "exact.test")["last_modified"]
        assert hostnames(get_ok(api_client, f"started={stamp}")) == ["exact.test"]
        assert hostnames(get_ok(api_client, f"ended={stamp}")) == ["before.test", "exact.test"]

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("started=2025-01-01T00:00:00", "started: the datetime '2025-01-01T00:00:00' has no time zone"),
            ("ended=2025-01-01", "ended: expected an ISO-8601 datetime"),
            ("started=soon", "started: expected an ISO-8601 datetime"),
            ("started=PT", "started: expected an ISO-8601 duration"),
            ("started=", "started: expected an ISO-8601 datetime"),
            ("started=P100000000Y", "started: the duration 'P100000000Y' reaches outside"),
            ("started=P1.5Y", "started: the duration 'P1.5Y' has a fraction of a year or month"),
        ],
    )
    def test_bad_time_value_is_rejected_saying_what_is_wrong(
        self, api_client: APIClient, query: str, message: str
    ) -> None:
        assert get_error(api_client, query).startswith(message)

    @pytest.mark.parametrize(
        "query",
        [
            "started=2025-01-02T00:00:00Z&ended=2025-01-01T00:00:00Z",
            "started=2025-01-01T00:00:00Z&ended=2025-01-01T00:00:00Z",
            "started=P1D&ended=P2D",
        ],
    )
    def test_started_not_before_ended_is_rejected(self, api_client: APIClient, query: str) -> None:
        assert get_error(api_client, query).startswith("started: must be before ended")

    def test_order_is_repeatable_and_dash_reverses(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        make_node("a.test", created=T0)
        make_node("b.test", created=T0 + dt.timedelta(days=1), is_active=False)
        make_node("c.test", created=T0 + dt.timedelta(days=2))
        assert hostnames(get_ok(api_client, "order=-created")) == ["c.test", "b.test", "a.test"]
        assert hostnames(get_ok(api_client, "order=is_active&order=-created")) == ["b.test", "c.test", "a.test"]
        assert hostnames(get_ok(api_client, "order=-is_active&order=hostname")) == ["a.test", "c.test", "b.test"]

    def test_host_name_is_an_alias_of_hostname(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        for name in ("b.test", "a.test", "c.test"):
            make_node(name)
        assert hostnames(get_ok(api_client, "order=host_name")) == ["a.test", "b.test", "c.test"]
        assert hostnames(get_ok(api_client, "order=-host_name")) == ["c.test", "b.test", "a.test"]

    def test_hostname_and_pause_reason_sort_case_insensitively(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node("b.test", is_paused=True, pause_reason="beta")
        make_node("A.test", is_paused=True, pause_reason="Gamma")
        make_node("c.test", is_paused=True, pause_reason="alpha")
        assert hostnames(get_ok(api_client, "order=hostname")) == ["A.test", "b.test", "c.test"]
        assert hostnames(get_ok(api_client, "order=pause_reason")) == ["c.test", "b.test", "A.test"]

    @pytest.mark.parametrize("field", ["pause_reason", "deprecated"])
    def test_nulls_sort_last_in_both_directions(
        self, api_client: APIClient, make_node: Callable[..., Node], field: str
    ) -> None:
        make_node("null.test")
        make_node("one.test", is_paused=True, pause_reason="one", is_active=False, deprecated=T0)
        make_node("two.test", is_paused=True, pause_reason="two", is_active=False, deprecated=T0 + dt.timedelta(1))
        assert hostnames(get_ok(api_client, f"order={field}")) == ["one.test", "two.test", "null.test"]
        assert hostnames(get_ok(api_client, f"order=-{field}")) == ["two.test", "one.test", "null.test"]

    @pytest.mark.parametrize("field", FIELDS)
    def test_every_node_field_can_order_both_ways(
        self, api_client: APIClient, make_node: Callable[..., Node], field: str
    ) -> None:
        make_node()
        for value in (field, f"-{field}"):
            assert get_ok(api_client, f"order={value}")["count"] == 1

    @pytest.mark.parametrize("value", ["colour", "", "-", "Hostname", "x" * 10_000])
    def test_unknown_order_field_is_rejected_with_allowed_fields(self, api_client: APIClient, value: str) -> None:
        detail = get_error(api_client, f"order={value}")
        assert detail.startswith("order: unknown field")
        assert "allowed fields: id, hostname, pause_reason, is_paused, is_active, deprecated, created, " in detail
        assert len(detail) < 400

    def test_many_order_values_are_accepted(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        make_node()
        query = "&".join(f"order={'-' if i % 2 else ''}{FIELDS[i % len(FIELDS)]}" for i in range(100))
        assert get_ok(api_client, query)["count"] == 1

    def test_filters_order_and_paging_combine(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        for i in range(6):
            make_node(f"n{i}.test", is_active=i % 2 == 0, last_modified=T0 + dt.timedelta(hours=i))
        payload = get_ok(api_client, "is_active=true&started=2025-01-01T01:00:00Z&order=-hostname&page_size=1")
        assert payload["count"] == 2
        assert hostnames(payload) == ["n4.test"]

    def test_list_without_trailing_slash_works(self, api_client: APIClient) -> None:
        response = api_client.get("/v6/nodes")
        assert response.status_code == 200, body(response)

    @override_settings(PUBLIC_READ_API=False)
    def test_private_reads_need_any_authenticated_user(self, api_client: APIClient, user_client: APIClient) -> None:
        response = api_client.get(LIST_URL)
        assert response.status_code == 401, body(response)
        assert response["WWW-Authenticate"] == "Token"
        assert get_ok(user_client)["count"] == 0

    @pytest.mark.parametrize("method", ["put", "delete", "patch"])
    def test_write_methods_on_the_list_but_post_are_405_with_allow(self, staff_client: APIClient, method: str) -> None:
        response = getattr(staff_client, method)(LIST_URL, {}, format="json")
        assert response.status_code == 405, body(response)
        assert response["Allow"] == "GET, POST, HEAD, OPTIONS"
        assert "detail" in response.json()

    def test_query_count_is_constant_whatever_the_page_size(
        self, api_client: APIClient, make_node: Callable[..., Node], django_assert_num_queries: Callable
    ) -> None:
        node_register(hostnames=[f"n{i}.test" for i in range(300)])
        for size in (1, 100, 300):
            with django_assert_num_queries(2):
                get_ok(api_client, f"page_size={size}")

    # The optimised list writes the contract's bytes: those of NodeSerializer rendered by DRF.
    def test_list_is_byte_for_byte_the_contract_for_a_fixed_fixture(
        self, api_client: APIClient, fixture_nodes: list[Node]
    ) -> None:
        ordered = sorted(Node.objects.all(), key=lambda node: (node.last_modified, node.id))
        assert get_bytes(api_client) == contract_bytes(nodes=ordered, count=4, next_url=None, previous_url=None)

    def test_escapes_and_times_are_written_as_drf_writes_them(
        self, api_client: APIClient, fixture_nodes: list[Node]
    ) -> None:
        content = get_bytes(api_client, "order=hostname&page_size=1&page=2")
        assert b'"pause_reason":"Ventilateur d\xc3\xa9fectueux \\"rack 7\\" \\\\ ' in content
        assert b"\\u2028next line\\u2029" in content
        assert b'"created":"2025-03-01T08:30:00.000001Z"' in content
        alpha = get_bytes(api_client, "order=hostname&page_size=1")
        assert b'"created":"2025-03-01T08:30:00Z"' in alpha

    @pytest.mark.parametrize(
        ("query", "chosen", "key", "rows"),
        [
            ("order=hostname&page_size=2&page=2", lambda n: True, lambda n: (n.hostname.lower(), n.id), slice(2, 4)),
            ("is_active=false", lambda n: not n.is_active, lambda n: (n.last_modified, n.id), slice(0, 100)),
            ("order=-created&page_size=3", lambda n: True, lambda n: (-n.created.timestamp(), n.id), slice(0, 3)),
            (
                "started=2025-03-01T10:30:00.000120Z&order=-id",
                lambda n: n.last_modified >= ENCODING_T0 + dt.timedelta(hours=2, microseconds=120),
                lambda n: -n.id,
                slice(0, 100),
            ),
        ],
    )
    def test_filtered_ordered_pages_are_byte_for_byte_the_contract(
        self,
        api_client: APIClient,
        fixture_nodes: list[Node],
        query: str,
        chosen: Callable[[Node], bool],
        key: Callable,
        rows: slice,
    ) -> None:
        matching = sorted((node for node in Node.objects.all() if chosen(node)), key=key)
        links = api_client.get(f"{LIST_URL}?{query}").json()
        assert get_bytes(api_client, query) == contract_bytes(
            nodes=matching[rows], count=len(matching), next_url=links["next"], previous_url=links["previous"]
        )

    def test_deep_pages_read_by_deferred_join_are_the_rows_of_a_plain_offset(
        self, api_client: APIClient, make_node: Callable[..., Node], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for number in range(9):
            make_node(f"n{number}.test", last_modified=T0 + dt.timedelta(minutes=number % 3))
        plain = [get_bytes(api_client, f"page={page}&page_size=2&order=-last_modified") for page in (1, 2, 3, 4, 5)]
        monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 1)
        deferred = [get_bytes(api_client, f"page={page}&page_size=2&order=-last_modified") for page in (1, 2, 3, 4, 5)]
        assert deferred == plain

    def test_deep_pages_still_take_two_queries(
        self,
        api_client: APIClient,
        make_node: Callable[..., Node],
        monkeypatch: pytest.MonkeyPatch,
        django_assert_num_queries: Callable,
    ) -> None:
        for _ in range(5):
            make_node()
        monkeypatch.setattr(pagination, "DEFERRED_JOIN_OFFSET", 1)
        with django_assert_num_queries(2):
            get_bytes(api_client, "page=3&page_size=2")

    # ETags and If-None-Match (304).
    def test_list_carries_an_etag_and_answers_304_while_nothing_changed(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node()
        first = api_client.get(ETAG_PAGE_URL)
        assert first.status_code == 200, body(first)
        response = api_client.get(ETAG_PAGE_URL, HTTP_IF_NONE_MATCH=first["ETag"])
        assert response.status_code == 304, body(response)
        assert response.content == b""
        assert response["ETag"] == first["ETag"]

    def test_etag_changes_when_a_node_of_the_page_changes(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(ETAG_PAGE_URL)["ETag"]
        staff_client.patch(detail_url(node), {"pause_reason": "same flags"}, format="json")
        response = api_client.get(ETAG_PAGE_URL, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200, body(response)
        assert response["ETag"] != etag

    def test_etag_changes_when_the_count_changes_beyond_the_page(
        self, api_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        make_node()
        make_node()
        etag = api_client.get(ETAG_PAGE_URL)["ETag"]
        make_node()
        response = api_client.get(ETAG_PAGE_URL, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200, body(response)
        assert response.json()["next"] is not None

    def test_etag_changes_when_a_node_leaves_the_filtered_result(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        leaving = make_node()
        make_node()
        url = "/v6/nodes/?is_active=true&order=id"
        etag = api_client.get(url)["ETag"]
        staff_client.patch(detail_url(leaving), {"is_active": False}, format="json")
        response = api_client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 200, body(response)
        assert [entry["id"] for entry in response.json()["results"]] != [leaving.pk]

    def test_different_pages_have_different_etags(self, api_client: APIClient, make_node: Callable[..., Node]) -> None:
        for _ in range(4):
            make_node()
        first = api_client.get(ETAG_PAGE_URL)["ETag"]
        second = api_client.get(ETAG_PAGE_URL + "&page=2")["ETag"]
        assert first != second

    # Queries a fuzzer rarely sends: each gets a clear 4xx JSON error or a correct answer.
    def test_a_hundred_order_values_are_accepted(self, api_client: APIClient, node: Node) -> None:
        query = "&".join(f"order={'-' if i % 3 else ''}{FIELDS[i % len(FIELDS)]}" for i in range(100))
        response = api_client.get(f"{LIST_URL}?{query}")
        assert response.status_code == 200, body(response)
        assert response.json()["count"] == 1

    def test_a_hundred_order_values_with_one_unknown_name_it(self, api_client: APIClient) -> None:
        query = "&".join(["order=id"] * 99 + ["order=colour"])
        assert json_error(api_client.get(f"{LIST_URL}?{query}"), 400).startswith("order: unknown field 'colour'")

    def test_more_query_values_than_django_reads_is_a_json_400(self, api_client: APIClient) -> None:
        query = "&".join(["order=id"] * 2101)
        detail = json_error(api_client.get(f"{LIST_URL}?{query}"), 400)
        assert detail == "Too many query parameters: at most 2100 values are accepted."

    @pytest.mark.parametrize("value", ["x" * 10_000, "-" + "h" * 9_999, "node-001.cluster.example.com" * 400])
    def test_ten_thousand_character_order_value_gets_a_short_400(self, api_client: APIClient, value: str) -> None:
        response = api_client.get(LIST_URL, {"order": value})
        assert json_error(response, 400).startswith("order: unknown field ")
        assert len(response.content) < 1000

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            (f"page={10**30}", None),
            (f"page_size={10**30}", "page_size: expected an integer from 1 to 1000"),
            ("page_size=1e3", "page_size: expected an integer from 1 to 1000, got '1e3'."),
            ("page=1e3", "page: expected an integer >= 1, got '1e3'."),
            ("page=%EF%BC%91", "page: expected an integer >= 1"),
        ],
    )
    def test_oversized_and_exotic_numbers_get_a_clear_answer(
        self, api_client: APIClient, node: Node, query: str, message: str | None
    ) -> None:
        response = api_client.get(f"{LIST_URL}?{query}")
        if message is None:
            assert json_error(response, 404).startswith(f"page {10**18} is past the last page")
        else:
            assert json_error(response, 400).startswith(message)

    @pytest.mark.parametrize("name", ["page", "page_size", "started", "ended", "is_active", "order"])
    @pytest.mark.parametrize("value", ["%00", "a%00b", "%FF", "%C0%AF", "%ED%A0%80", "%25", "%25s", "%25(x)s"])
    def test_nul_bytes_invalid_utf8_and_percent_signs_in_parameters_are_a_400_naming_them(
        self, api_client: APIClient, name: str, value: str
    ) -> None:
        assert json_error(api_client.get(f"{LIST_URL}?{name}={value}"), 400).startswith(f"{name}: ")

    @pytest.mark.parametrize("accept", ["application/xml", "text/csv", "image/png"])
    def test_an_accept_header_the_service_cannot_answer_is_a_json_406(self, api_client: APIClient, accept: str) -> None:
        assert json_error(api_client.get(LIST_URL, HTTP_ACCEPT=accept), 406)

    def test_no_accept_header_gives_json_and_a_browser_gets_the_browsable_api(self, api_client: APIClient) -> None:
        assert api_client.get(LIST_URL)["Content-Type"] == "application/json"
        page = api_client.get(LIST_URL, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
        assert page.status_code == 200, body(page)
        assert page["Content-Type"].startswith("text/html")

    # PostgreSQL keeps the node counts (migration 0003); the list's count is the kept one.
    @needs_kept_counts
    @pytest.mark.parametrize("query", ["", "is_active=true", "is_active=false", "page=2&page_size=1"])
    def test_the_list_count_is_the_kept_count(
        self, api_client: APIClient, make_node: Callable[..., Node], query: str
    ) -> None:
        for number in range(4):
            make_node(is_active=number != 2)
        response = api_client.get(f"{LIST_URL}?{query}")
        assert response.status_code == 200, body(response)
        is_active = {"is_active=true": True, "is_active=false": False}.get(query)
        assert response.json()["count"] == kept_node_count(is_active=is_active)
        assert (
            response.json()["count"]
            == Node.objects.filter(**({} if is_active is None else {"is_active": is_active})).count()
        )
