"""``accounts.credentials``: what an open stream was authenticated with, and whether it still holds, checked in bulk."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from knox.models import AuthToken
from rest_framework.request import Request

from accounts.credentials import (
    SESSION_ENDED,
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    Credential,
    Refusal,
    recheck_credentials,
    request_credential,
)
from accounts.tokens import create_api_token


def _everyone(user: object) -> None:
    return None


@pytest.fixture
def make_token(db: None) -> Callable[..., tuple[AuthToken, Credential]]:
    def make(username: str, expires_in: dt.timedelta | None = None) -> tuple[AuthToken, Credential]:
        user = get_user_model().objects.create_user(username=username)
        token, _ = create_api_token(user=user, expires_in=expires_in)
        return token, Credential("token", token.digest)

    return make


def _session_of(username: str) -> Credential:
    user = get_user_model().objects.create_user(username=username)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    # The backend that logs users in (the last one; the first only refuses locked-out logins).
    session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[-1]
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return Credential("session", session.session_key)


def test_an_anonymous_request_has_no_credential_to_recheck() -> None:
    assert request_credential(Request(HttpRequest())) is None


def test_tokens_that_hold_are_not_refused_and_all_are_read_in_one_query(
    make_token: Callable[..., tuple[AuthToken, Credential]], django_assert_num_queries: Callable
) -> None:
    credentials = {make_token(f"holder-{n}")[1] for n in range(5)}
    with django_assert_num_queries(1):
        assert recheck_credentials(credentials, permitted=_everyone) == {}


def test_a_revoked_an_expired_and_an_inactive_users_token_are_refused_with_401(
    make_token: Callable[..., tuple[AuthToken, Credential]],
) -> None:
    revoked_token, revoked = make_token("revoked")
    expiring_token, expired = make_token("expired", expires_in=dt.timedelta(days=1))
    inactive_token, inactive = make_token("inactive")
    revoked_token.delete()
    AuthToken.objects.filter(pk=expiring_token.pk).update(expiry=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    get_user_model().objects.filter(pk=inactive_token.user.pk).update(is_active=False)
    refused = recheck_credentials({revoked, expired, inactive}, permitted=_everyone)
    assert refused == {
        revoked: Refusal(401, TOKEN_REVOKED),
        expired: Refusal(401, TOKEN_EXPIRED),
        inactive: Refusal(401, "User inactive or deleted."),
    }


@pytest.mark.django_db
def test_a_session_holds_until_it_ends_or_its_user_is_deactivated() -> None:
    lasting, ended, deactivated = _session_of("lasting"), _session_of("ended"), _session_of("deactivated")
    SessionStore(session_key=ended.key).delete()
    get_user_model().objects.filter(username="deactivated").update(is_active=False)
    refused = recheck_credentials({lasting, ended, deactivated}, permitted=_everyone)
    assert refused == {ended: Refusal(401, SESSION_ENDED), deactivated: Refusal(401, SESSION_ENDED)}


def test_a_user_that_lost_the_permission_is_refused_with_403_once_for_all_its_credentials(
    make_token: Callable[..., tuple[AuthToken, Credential]],
) -> None:
    token, first = make_token("demoted")
    second = Credential("token", create_api_token(user=token.user, expires_in=None)[0].digest)
    asked: list[str] = []

    def permitted(user: object) -> str | None:
        asked.append(user.username)
        return "No longer allowed." if user.username == "demoted" else None

    refused = recheck_credentials({first, second, make_token("kept")[1]}, permitted=permitted)
    assert refused == {first: Refusal(403, "No longer allowed."), second: Refusal(403, "No longer allowed.")}
    assert sorted(asked) == ["demoted", "kept"]
