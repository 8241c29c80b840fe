"""Input a fuzzer rarely sends: huge bodies, odd encodings, NUL bytes, forged headers and cookies.

Each gets a clear 4xx JSON error or a correct answer, never a 5xx or an HTML page, and a refused
request writes nothing. Several of these were server errors or garbled writes before; their
tests here keep them fixed.
"""

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body
from util.tokens import create_api_token

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
LIST = "/v6/nodes/"
FIELDS = ["id", "hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified"]


def url(node: Node) -> str:
    return f"/v6/nodes/{node.pk}/"


def json_error(response: object, status: int) -> str:
    """Assert a JSON error answer with ``status``; return its ``detail``."""
    assert response.status_code == status, body(response)
    assert response["Content-Type"] == "application/json", body(response)
    return response.json()["detail"]


def unchanged(node: Node) -> bool:
    """True when ``node`` still has the state the tests create it with (nothing written)."""
    node.refresh_from_db()
    return (node.last_modified, node.is_paused, node.pause_reason, node.is_active) == (T0, False, None, True)


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node("hostile.test", last_modified=T0)


def raw_patch(client: APIClient, node: Node, raw: bytes, content_type: str = "application/json") -> object:
    return client.generic("PATCH", url(node), raw, content_type=content_type)


@pytest.mark.django_db
class TestHostileBodies:
    def test_ten_megabyte_body_is_a_json_413_and_writes_nothing(self, staff_client: APIClient, node: Node) -> None:
        raw = b'{"is_paused": true, "pause_reason": "' + b"x" * (10 * 1024 * 1024) + b'"}'
        detail = json_error(raw_patch(staff_client, node, raw), 413)
        assert detail == "Request body too large: at most 2621440 bytes are accepted."
        assert unchanged(node)

    def test_ten_megabyte_body_from_an_anonymous_client_is_a_401(self, api_client: APIClient, node: Node) -> None:
        json_error(raw_patch(api_client, node, b"{" + b" " * (10 * 1024 * 1024) + b"}"), 401)
        assert unchanged(node)

    @pytest.mark.parametrize("charset", ["latin-1", "iso-8859-1", "utf-16", "ascii", "rot13", "bz2", "nonsense", ""])
    def test_a_charset_other_than_utf8_is_a_415_and_writes_nothing(
        self, staff_client: APIClient, node: Node, charset: str
    ) -> None:
        raw = '{"is_paused": true, "pause_reason": "café"}'.encode()
        response = raw_patch(staff_client, node, raw, f"application/json; charset={charset}")
        assert json_error(response, 415).startswith("JSON bodies must be UTF-8 (RFC 8259); charset ")
        assert unchanged(node)

    @pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
    def test_utf8_charset_is_accepted_and_text_is_stored_exactly(
        self, staff_client: APIClient, node: Node, charset: str
    ) -> None:
        raw = '{"is_paused": true, "pause_reason": "café 🚧"}'.encode()
        response = raw_patch(staff_client, node, raw, f"application/json; charset={charset}")
        assert response.status_code == 204, body(response)
        node.refresh_from_db()
        assert node.pause_reason == "café 🚧"

    def test_latin1_bytes_are_refused_as_not_utf8(self, staff_client: APIClient, node: Node) -> None:
        raw = '{"is_paused": true, "pause_reason": "café"}'.encode("latin-1")
        assert json_error(raw_patch(staff_client, node, raw), 400).startswith(
            "JSON parse error - the body is not UTF-8 (invalid byte at position 40)"
        )
        assert unchanged(node)

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"is_paused": true, "is_paused": false}',
            b'{"is_paused": true, "pause_reason": "a", "pause_reason": "b"}',
            b'{"is_paused": true, "pause_reason": {"x": 1, "x": 2}}',
        ],
    )
    def test_duplicated_keys_are_refused_and_write_nothing(
        self, staff_client: APIClient, node: Node, raw: bytes
    ) -> None:
        detail = json_error(raw_patch(staff_client, node, raw), 400)
        assert detail.startswith("JSON parse error - duplicate key ")
        assert unchanged(node)

    @pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000])
    def test_deeply_nested_json_is_a_400_not_a_server_error(
        self, staff_client: APIClient, node: Node, raw: bytes
    ) -> None:
        assert (
            json_error(raw_patch(staff_client, node, raw), 400) == "JSON parse error - the body is nested too deeply."
        )
        assert unchanged(node)

    def test_a_number_of_thousands_of_digits_is_a_400(self, staff_client: APIClient, node: Node) -> None:
        raw = b'{"is_paused": ' + b"9" * 5000 + b"}"
        detail = json_error(raw_patch(staff_client, node, raw), 400)
        assert detail == "JSON parse error - a number has more than 100 digits."

    @pytest.mark.parametrize(
        "raw",
        [b'{"is_paused": true, "pause_reason": "a\\u0000b"}', b'{"is_paused": true, "pause_reason": "a\x00b"}'],
    )
    def test_nul_in_a_body_is_a_400_naming_the_field(self, staff_client: APIClient, node: Node, raw: bytes) -> None:
        detail = json_error(raw_patch(staff_client, node, raw), 400)
        assert detail.startswith(("pause_reason: Null characters are not allowed.", "JSON parse error"))
        assert unchanged(node)

    @pytest.mark.parametrize("raw", [b'{"\\ud800": true}', b'{"is_paused": true, "\\udfff\\ud800": 1}'])
    def test_lone_surrogate_in_an_unknown_key_is_a_400_not_a_server_error(
        self, staff_client: APIClient, node: Node, raw: bytes
    ) -> None:
        response = raw_patch(staff_client, node, raw)
        assert json_error(response, 400).startswith("Unknown field(s): ")
        assert b"\\ud800" in response.content
        assert unchanged(node)

    @pytest.mark.parametrize("reason", ["bad \ud800 half", "\udc00", "ok\ud83d"])
    def test_lone_surrogate_in_pause_reason_is_a_400_naming_the_field(
        self, staff_client: APIClient, node: Node, reason: str
    ) -> None:
        raw = json.dumps({"is_paused": True, "pause_reason": reason}).encode()
        assert json_error(raw_patch(staff_client, node, raw), 400).startswith("pause_reason: Must be valid Unicode")
        assert unchanged(node)

    @pytest.mark.parametrize("reason", ["🚧 disk 🔧", "👩‍🔧 on it", "\U0010ffff", "é" * 250, "🚧" * 250])
    def test_emoji_and_astral_characters_in_pause_reason_are_stored_exactly(
        self, staff_client: APIClient, node: Node, reason: str
    ) -> None:
        response = staff_client.patch(
            url(node), {"is_paused": True, "pause_reason": reason}, format="json", HTTP_PREFER="return=representation"
        )
        assert response.status_code == 200, body(response)
        assert response.json()["pause_reason"] == reason
        node.refresh_from_db()
        assert node.pause_reason == reason

    def test_thousands_of_unknown_keys_get_a_short_answer(self, staff_client: APIClient, node: Node) -> None:
        raw = json.dumps({f"key{i}": 1 for i in range(5000)} | {"k" * 100_000: 1}).encode()
        response = raw_patch(staff_client, node, raw)
        assert json_error(response, 400).startswith("Unknown field(s): ")
        assert "and 4991 more" in response.json()["detail"]
        assert len(response.content) < 2000
        assert unchanged(node)


@pytest.mark.django_db
class TestHostileQueries:
    def test_a_hundred_order_values_are_accepted(self, api_client: APIClient, node: Node) -> None:
        query = "&".join(f"order={'-' if i % 3 else ''}{FIELDS[i % len(FIELDS)]}" for i in range(100))
        response = api_client.get(f"{LIST}?{query}")
        assert response.status_code == 200, body(response)
        assert response.json()["count"] == 1

    def test_a_hundred_order_values_with_one_unknown_name_it(self, api_client: APIClient) -> None:
        query = "&".join(["order=id"] * 99 + ["order=colour"])
        assert json_error(api_client.get(f"{LIST}?{query}"), 400).startswith("order: unknown field 'colour'")

    def test_more_query_values_than_django_reads_is_a_json_400(self, api_client: APIClient) -> None:
        query = "&".join(["order=id"] * 1001)
        detail = json_error(api_client.get(f"{LIST}?{query}"), 400)
        assert detail == "Too many query parameters: at most 1000 values are accepted."

    @pytest.mark.parametrize("value", ["x" * 10_000, "-" + "h" * 9_999, "node-001.cluster.example.com" * 400])
    def test_ten_thousand_character_order_value_gets_a_short_400(self, api_client: APIClient, value: str) -> None:
        response = api_client.get(LIST, {"order": value})
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
        response = api_client.get(f"{LIST}?{query}")
        if message is None:
            assert json_error(response, 404).startswith(f"page {10**18} is past the last page")
        else:
            assert json_error(response, 400).startswith(message)

    @pytest.mark.parametrize("name", ["page", "page_size", "started", "ended", "is_active", "order"])
    @pytest.mark.parametrize("value", ["%00", "a%00b", "%FF", "%C0%AF", "%ED%A0%80", "%25", "%25s", "%25(x)s"])
    def test_nul_bytes_invalid_utf8_and_percent_signs_in_parameters_are_a_400_naming_them(
        self, api_client: APIClient, name: str, value: str
    ) -> None:
        assert json_error(api_client.get(f"{LIST}?{name}={value}"), 400).startswith(f"{name}: ")

    @pytest.mark.parametrize("path", ["/v6/nodes/%00/", "/v6/nodes/%FF/", "/v6/nodes/1%00/", "/v6/%ED%A0%80"])
    def test_nul_bytes_and_invalid_utf8_in_the_path_are_a_json_404(self, api_client: APIClient, path: str) -> None:
        assert json_error(api_client.get(path), 404).startswith("No endpoint at ")

    def test_patch_to_an_unknown_url_with_a_session_cookie_is_a_json_404_not_a_csrf_page(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.cookies["sessionid"] = "a" * 32
        response = client.patch("/v6/nodes/null,null/", b"{}", content_type="application/json")
        assert json_error(response, 404).startswith("No endpoint at ")


@pytest.mark.django_db
class TestHostileHeaders:
    # A WSGI server hands header values over as latin-1 text, so UTF-8 arrives as its bytes.
    @pytest.mark.parametrize(
        "token", ["abc\x00def", "\x00" * 40, "a" * 41, "a" * 10_000, "tok\x7fen", "токен".encode().decode("latin-1")]
    )
    def test_impossible_token_is_a_401_without_a_database_lookup(self, node: Node, token: str) -> None:
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        # The lockout (util.lockout) counts the failure; the tokens are never searched for it.
        with CaptureQueriesContext(connection) as queries:
            response = client.patch(url(node), {"is_paused": True}, format="json")
        assert not [query for query in queries if "knox_authtoken" in query["sql"]], queries.captured_queries
        assert json_error(response, 401) in {
            "Invalid token.",
            "Invalid token header. Token string should not contain invalid characters.",
        }
        assert unchanged(node)

    @pytest.mark.parametrize("session_key", ["abc\x00defghijkl", "a" * 31 + "\x00", "../../etc/passwd", "é" * 32])
    def test_forged_session_cookie_is_no_session(self, node: Node, session_key: str) -> None:
        client = Client()
        client.cookies["sessionid"] = session_key
        response = client.get(LIST)
        assert response.status_code == 200, body(response)
        response = client.patch(url(node), json.dumps({"is_paused": True}), content_type="application/json")
        assert json_error(response, 401) == "Authentication credentials were not provided."
        assert unchanged(node)

    @pytest.mark.parametrize("host", ["evil.example", "a" * 300, "bad host", "127.0.0.1@evil.example"])
    def test_unknown_host_header_is_a_json_400_under_v6(self, api_client: APIClient, host: str) -> None:
        for path in (LIST, "/v6/unknown/"):
            detail = json_error(api_client.get(path, HTTP_HOST=host), 400)
            assert detail == "The Host header names a host this service does not answer to."

    def test_unknown_host_header_outside_v6_keeps_django_page(self, api_client: APIClient) -> None:
        response = api_client.get("/admin/", HTTP_HOST="evil.example")
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")

    @pytest.mark.parametrize(
        "prefer", ["\x00", ";;,,", "return=representation" * 500, "RETURN = REPRESENTATION", "return=minimal"]
    )
    def test_odd_prefer_headers_give_204_or_the_representation(
        self, staff_client: APIClient, node: Node, prefer: str
    ) -> None:
        response = staff_client.patch(url(node), {"is_paused": True}, format="json", HTTP_PREFER=prefer)
        assert response.status_code in {200, 204}, body(response)
        if response.status_code == 200:
            assert list(response.json()) == FIELDS

    @pytest.mark.parametrize("accept", ["application/xml", "text/csv", "image/png"])
    def test_an_accept_header_the_service_cannot_answer_is_a_json_406(self, api_client: APIClient, accept: str) -> None:
        assert json_error(api_client.get(LIST, HTTP_ACCEPT=accept), 406)

    def test_no_accept_header_gives_json_and_a_browser_gets_the_browsable_api(self, api_client: APIClient) -> None:
        assert api_client.get(LIST)["Content-Type"] == "application/json"
        page = api_client.get(LIST, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
        assert page.status_code == 200, body(page)
        assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_ten_megabyte_patch_over_real_http_gets_the_json_413(live_server: object, node: Node) -> None:
    user = get_user_model().objects.create_user(
        username="http-operator", password="unused", is_staff=True, is_superuser=True
    )
    request = urllib.request.Request(  # noqa: S310 (the live test server)
        f"{live_server.url}{url(node)}",
        data=b'{"pause_reason": "' + b"x" * (10 * 1024 * 1024) + b'"}',
        method="PATCH",
        headers={
            "Authorization": f"Token {create_api_token(user=user, expires_in=None)[1]}",
            "Content-Type": "application/json",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    assert error.value.code == 413
    assert error.value.headers["Content-Type"] == "application/json"
    assert json.loads(error.value.read()) == {"detail": "Request body too large: at most 2621440 bytes are accepted."}
    assert unchanged(node)
