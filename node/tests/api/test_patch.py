"""PATCH /v6/nodes/{id}/: the change rules, who may write, bad and hostile bodies, If-Match, and the records it leaves.

Input a fuzzer rarely sends (huge bodies, odd encodings, NUL bytes, forged headers and cookies)
gets a clear 4xx JSON error or a correct answer, never a 5xx or an HTML page, and a refused
request writes nothing. Several of these were server errors or garbled writes before; their
tests here keep them fixed.
"""

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.tokens import create_api_token
from node.models import Node, NodeChange, RegistryClock
from node.services.clock import to_time
from node.tests.helpers import (
    FIELDS,
    LIST_URL,
    T0,
    body,
    detail_url,
    json_error,
    patch,
    raw_patch,
    records,
    registration,
    state,
    unchanged,
)


@pytest.mark.django_db
class TestNodePatch:
    def test_pause_with_reason_is_204_with_no_body(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(last_modified=T0)
        response = staff_client.patch(detail_url(node), {"is_paused": True, "pause_reason": "disk swap"}, format="json")
        assert response.status_code == 204, body(response)
        assert response.content == b""
        after = state(node)
        assert (after["is_paused"], after["pause_reason"]) == (True, "disk swap")
        assert after["last_modified"] > T0

    def test_prefer_return_representation_gives_200_with_the_node(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node("host.com")
        response = staff_client.patch(
            detail_url(node),
            {"is_paused": True, "pause_reason": "x"},
            format="json",
            HTTP_PREFER="return=representation",
        )
        assert response.status_code == 200, body(response)
        assert response["Preference-Applied"] == "return=representation"
        assert response.json() == staff_client.get(detail_url(node)).json()
        assert response.json()["pause_reason"] == "x"

    def test_unpausing_clears_the_reason(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(is_paused=True, pause_reason="maintenance")
        patch(staff_client, node, {"is_paused": False})
        assert (state(node)["is_paused"], state(node)["pause_reason"]) == (False, None)

    def test_reason_for_a_node_left_unpaused_is_not_stored(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        patch(staff_client, node, {"pause_reason": "ignored"})
        patch(staff_client, node, {"is_paused": False, "pause_reason": "ignored too"})
        assert state(node)["pause_reason"] is None

    def test_reason_alone_changes_the_reason_of_a_paused_node(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node(is_paused=True, pause_reason="old")
        patch(staff_client, node, {"pause_reason": "new"})
        assert state(node)["pause_reason"] == "new"
        patch(staff_client, node, {"pause_reason": None})
        assert state(node)["pause_reason"] is None
        assert state(node)["is_paused"] is True

    def test_pausing_again_keeps_the_reason(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(is_paused=True, pause_reason="kept")
        patch(staff_client, node, {"is_paused": True})
        assert state(node)["pause_reason"] == "kept"

    def test_blank_reason_is_stored_as_null(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        patch(staff_client, node, {"is_paused": True, "pause_reason": "   "})
        assert state(node)["pause_reason"] is None

    def test_deactivating_sets_deprecated_and_reactivating_clears_it(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node()
        patch(staff_client, node, {"is_active": False})
        deprecated = state(node)["deprecated"]
        assert deprecated is not None
        assert state(node)["last_modified"] == deprecated
        patch(staff_client, node, {"is_paused": True})
        assert state(node)["deprecated"] == deprecated, "a PATCH without is_active leaves deprecated alone"
        patch(staff_client, node, {"is_active": False})
        assert state(node)["deprecated"] == deprecated, "staying inactive keeps the original time"
        patch(staff_client, node, {"is_active": True})
        assert (state(node)["is_active"], state(node)["deprecated"]) == (True, None)

    def test_every_accepted_patch_advances_last_modified(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node(is_paused=True, pause_reason="same")
        stamps = [state(node)["last_modified"]]
        for _ in range(3):
            patch(staff_client, node, {"is_paused": True, "pause_reason": "same"})
            stamps.append(state(node)["last_modified"])
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == 4

    def test_last_modified_advances_even_when_the_system_clock_goes_back(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node()
        before = to_time(RegistryClock.objects.get().time_us)
        with mock.patch("node.services.clock.timezone.now", return_value=before - dt.timedelta(days=1)):
            patch(staff_client, node, {"is_paused": True})
        assert state(node)["last_modified"] == before + dt.timedelta(microseconds=1)

    def test_anonymous_is_401_with_www_authenticate(self, api_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        response = api_client.patch(detail_url(node), {"is_paused": True}, format="json")
        assert response.status_code == 401, body(response)
        assert response["WWW-Authenticate"] == "Token"
        assert state(node)["is_paused"] is False

    def test_invalid_token_is_401(self, make_node: Callable) -> None:
        node = make_node()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
        response = client.patch(detail_url(node), {"is_paused": True}, format="json")
        assert response.status_code == 401, body(response)
        assert response.json() == {"detail": "Invalid token."}

    def test_non_staff_user_is_403(self, user_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        response = user_client.patch(detail_url(node), {"is_paused": True}, format="json")
        assert response.status_code == 403, body(response)
        assert state(node)["is_paused"] is False

    def test_session_login_needs_csrf_token(self, make_node: Callable, django_user_model: type) -> None:
        node = make_node()
        django_user_model.objects.create_user(
            username="admin", password="pw-for-test", is_staff=True, is_superuser=True
        )
        client = Client(enforce_csrf_checks=True)
        assert client.login(request=HttpRequest(), username="admin", password="pw-for-test")
        response = client.patch(detail_url(node), json.dumps({"is_paused": True}), content_type="application/json")
        assert response.status_code == 403, body(response)
        assert "CSRF" in response.json()["detail"]
        secret = "s" * 32  # what a browser holds in its csrftoken cookie and echoes in X-CSRFToken
        client.cookies["csrftoken"] = secret
        response = client.patch(
            detail_url(node), json.dumps({"is_paused": True}), content_type="application/json", HTTP_X_CSRFTOKEN=secret
        )
        assert response.status_code == 204, body(response)

    def test_unknown_node_is_404(self, staff_client: APIClient, db: None) -> None:
        response = staff_client.patch("/v6/nodes/424242/", {"is_paused": True}, format="json")
        assert response.status_code == 404, body(response)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({}, "Give at least one of pause_reason, is_paused, is_active."),
            ({"hostname": "x"}, "Unknown field(s): hostname."),
            ({"id": 5, "is_paused": True}, "Unknown field(s): id."),
            ({"is_paused": "yes"}, "is_paused: Must be a JSON boolean (true or false)."),
            ({"is_paused": 1}, "is_paused: Must be a JSON boolean (true or false)."),
            ({"is_paused": None}, "is_paused: This field may not be null."),
            ({"is_active": "true"}, "is_active: Must be a JSON boolean (true or false)."),
            ({"pause_reason": 5}, "pause_reason: Not a valid string."),
            ({"pause_reason": "x" * 251}, "pause_reason: Ensure this field has no more than 250 characters."),
            ({"pause_reason": "a\x00b"}, "pause_reason: Null characters are not allowed."),
            ([{"is_paused": True}], "Invalid data. Expected a dictionary, but got list."),
            ("paused", "Invalid data. Expected a dictionary, but got str."),
        ],
    )
    def test_bad_body_is_400_naming_the_problem_and_writes_nothing(
        self, staff_client: APIClient, make_node: Callable, data: object, message: str
    ) -> None:
        node = make_node(last_modified=T0)
        before = state(node)
        detail = patch(staff_client, node, data, status=400)["detail"]
        assert message in detail
        assert state(node) == before

    def test_lone_surrogate_in_reason_is_400_and_writes_nothing(
        self, staff_client: APIClient, make_node: Callable
    ) -> None:
        node = make_node(last_modified=T0)
        raw = b'{"is_paused": true, "pause_reason": "bad \\ud800 half"}'
        response = staff_client.generic("PATCH", detail_url(node), raw, content_type="application/json")
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith("pause_reason: Must be valid Unicode text")
        assert state(node)["last_modified"] == T0

    def test_reason_of_250_characters_and_emoji_is_kept(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        reason = "🚧" + "r" * 249
        patch(staff_client, node, {"is_paused": True, "pause_reason": reason})
        assert state(node)["pause_reason"] == reason

    @pytest.mark.parametrize("raw", [b"{", b'{"is_paused": tru}', b"\xff\xfe", b'{"is_paused": NaN}'])
    def test_malformed_json_is_400(self, staff_client: APIClient, make_node: Callable, raw: bytes) -> None:
        node = make_node(last_modified=T0)
        response = staff_client.generic("PATCH", detail_url(node), raw, content_type="application/json")
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith("JSON parse error")
        assert state(node)["last_modified"] == T0

    @pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"])
    def test_body_that_is_not_json_by_content_type_is_415(
        self, staff_client: APIClient, make_node: Callable, content_type: str
    ) -> None:
        node = make_node(last_modified=T0)
        response = staff_client.generic("PATCH", detail_url(node), b"is_paused=true", content_type=content_type)
        assert response.status_code == 415, body(response)
        assert "Unsupported media type" in response.json()["detail"]
        assert state(node)["last_modified"] == T0

    def test_patch_without_trailing_slash_works(self, staff_client: APIClient, make_node: Callable) -> None:
        node = make_node()
        response = staff_client.patch(f"/v6/nodes/{node.pk}", {"is_paused": True}, format="json")
        assert response.status_code == 204, body(response)
        assert state(node)["is_paused"] is True

    # If-Match (412).
    def test_if_match_with_the_current_etag_applies_the_change(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(detail_url(node))["ETag"]
        response = staff_client.patch(detail_url(node), {"is_active": False}, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 204, body(response)
        node.refresh_from_db()
        assert node.is_active is False

    @pytest.mark.parametrize("stale", ["old", "weak", "malformed"])
    def test_if_match_with_another_etag_is_412_and_writes_nothing(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node], stale: str
    ) -> None:
        node = make_node()
        current = api_client.get(detail_url(node))["ETag"]
        header = {"old": '"0123456789abcdef0123456789abcdef"', "weak": f"W/{current}", "malformed": "not-a-tag"}[stale]
        before = Node.objects.get(pk=node.pk)
        response = staff_client.patch(
            detail_url(node), {"is_paused": True, "pause_reason": "x"}, format="json", HTTP_IF_MATCH=header
        )
        assert response.status_code == 412, body(response)
        assert "has changed" in response.json()["detail"]
        assert response["ETag"] == current
        after = Node.objects.get(pk=node.pk)
        assert (after.is_paused, after.pause_reason, after.last_modified) == (False, None, before.last_modified)

    def test_a_second_writer_with_the_same_etag_is_refused(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        etag = api_client.get(detail_url(node))["ETag"]
        url = detail_url(node)
        first = staff_client.patch(url, {"is_paused": True, "pause_reason": "first"}, format="json", HTTP_IF_MATCH=etag)
        second = staff_client.patch(url, {"is_active": False}, format="json", HTTP_IF_MATCH=etag)
        assert (first.status_code, second.status_code) == (204, 412), body(second)
        node.refresh_from_db()
        assert (node.pause_reason, node.is_active) == ("first", True)

    def test_if_match_star_applies_to_any_existing_node(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(detail_url(node), {"is_paused": True}, format="json", HTTP_IF_MATCH="*")
        assert response.status_code == 204, body(response)

    def test_the_etag_of_a_patch_response_is_the_one_a_later_read_sees(
        self, api_client: APIClient, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(
            detail_url(node), {"is_paused": True}, format="json", HTTP_PREFER="return=representation"
        )
        assert response.status_code == 200, body(response)
        assert response["ETag"] == api_client.get(detail_url(node))["ETag"]

    def test_an_invalid_body_is_400_before_the_precondition_is_looked_at(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(detail_url(node), {"hostname": "x"}, format="json", HTTP_IF_MATCH='"x"')
        assert response.status_code == 400, body(response)

    # Hostile bodies and headers.
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
            detail_url(node),
            {"is_paused": True, "pause_reason": reason},
            format="json",
            HTTP_PREFER="return=representation",
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

    @pytest.mark.parametrize(
        "token", ["abc\x00def", "\x00" * 40, "a" * 41, "a" * 10_000, "tok\x7fen", "токен".encode().decode("latin-1")]
    )
    def test_impossible_token_is_a_401_without_a_database_lookup(self, node: Node, token: str) -> None:
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        # The lockout (accounts.lockout) counts the failure; the tokens are never searched for it.
        with CaptureQueriesContext(connection) as queries:
            response = client.patch(detail_url(node), {"is_paused": True}, format="json")
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
        response = client.get(LIST_URL)
        assert response.status_code == 200, body(response)
        response = client.patch(detail_url(node), json.dumps({"is_paused": True}), content_type="application/json")
        assert json_error(response, 401) == "Authentication credentials were not provided."
        assert unchanged(node)

    @pytest.mark.parametrize(
        "prefer", ["\x00", ";;,,", "return=representation" * 500, "RETURN = REPRESENTATION", "return=minimal"]
    )
    def test_odd_prefer_headers_give_204_or_the_representation(
        self, staff_client: APIClient, node: Node, prefer: str
    ) -> None:
        response = staff_client.patch(detail_url(node), {"is_paused": True}, format="json", HTTP_PREFER=prefer)
        assert response.status_code in {200, 204}, body(response)
        if response.status_code == 200:
            assert list(response.json()) == FIELDS

    @pytest.mark.django_db(transaction=True)
    def test_ten_megabyte_patch_over_real_http_gets_the_json_413(self, live_server: object, node: Node) -> None:
        user = get_user_model().objects.create_user(
            username="http-operator", password="unused", is_staff=True, is_superuser=True
        )
        request = urllib.request.Request(  # noqa: S310 (the live test server)
            f"{live_server.url}{detail_url(node)}",
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
        assert json.loads(error.value.read()) == {
            "detail": "Request body too large: at most 2621440 bytes are accepted."
        }
        assert unchanged(node)

    # The history record of each change.
    def test_patch_records_who_what_when_and_the_request_id(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node()
        response = staff_client.patch(
            detail_url(node),
            {"is_paused": True, "pause_reason": "disk swap"},
            format="json",
            HTTP_X_REQUEST_ID="req-42",
        )
        assert response.status_code == 204, body(response)
        node.refresh_from_db()
        registered, record = NodeChange.objects.filter(node=node).order_by("time", "id")
        assert registered.action == "register"
        assert (record.action, record.channel, record.actor, record.request_id) == (
            "update",
            "api",
            "operator",
            "req-42",
        )
        assert record.time == node.last_modified
        assert record.changes == {
            "is_paused": {"old": False, "new": True},
            "pause_reason": {"old": None, "new": "disk swap"},
        }

    def test_deactivation_and_reactivation_are_recorded(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node(is_paused=True, pause_reason="old")
        for changes in ({"is_active": False}, {"is_active": True, "is_paused": False}):
            assert staff_client.patch(detail_url(node), changes, format="json").status_code == 204
        assert [r["changes"] for r in records(node)] == [
            registration(node.hostname, is_paused=True, pause_reason="old")["changes"],
            {"is_active": {"old": True, "new": False}},
            {
                "is_active": {"old": False, "new": True},
                "is_paused": {"old": True, "new": False},
                "pause_reason": {"old": "old", "new": None},
            },
        ]

    def test_patch_that_changes_nothing_records_nothing(
        self, staff_client: APIClient, make_node: Callable[..., Node]
    ) -> None:
        node = make_node(is_paused=True, pause_reason="same")
        response = staff_client.patch(detail_url(node), {"is_paused": True, "pause_reason": "same"}, format="json")
        assert response.status_code == 204, body(response)
        assert records(node) == [registration(node.hostname, is_paused=True, pause_reason="same")]

    @pytest.mark.parametrize(
        ("client_fixture", "data", "status"),
        [
            ("staff_client", {"is_paused": "yes"}, 400),
            ("staff_client", {"hostname": "other"}, 400),
            ("user_client", {"is_paused": True}, 403),
            ("api_client", {"is_paused": True}, 401),
        ],
    )
    def test_refused_patch_records_nothing(
        self,
        request: pytest.FixtureRequest,
        make_node: Callable[..., Node],
        client_fixture: str,
        data: dict,
        status: int,
    ) -> None:
        node = make_node()
        response = request.getfixturevalue(client_fixture).patch(detail_url(node), data, format="json")
        assert response.status_code == status, body(response)
        assert records(node) == [registration(node.hostname)]
