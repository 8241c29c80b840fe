"""The credentials a long-lived response was opened with, and whether they still hold.

An event stream is authenticated once, when it opens, and may then last for days. To end it once
its token is revoked or expires, its session ends, or its user is deactivated or loses the
permission, the stream keeps what it was opened with (a ``Credential``: the token's digest, or the
session key; never the token itself) and the server rechecks every open stream's credentials
together, a few queries per interval for all of them rather than one per stream.

The checks are the authentication classes' own: knox's user validation for a token, Django's
``get_user`` (the session's expiry, its user's password hash, the backend's ``is_active`` rule) for
a session; the permission is whatever the caller's ``permitted`` says for the fresh user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any, Literal, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user
from django.utils import timezone
from knox.models import get_token_model
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.authentication import TokenAuthentication

TOKEN_REVOKED = "The API token this stream was opened with was revoked."  # noqa: S105 (a message)
TOKEN_EXPIRED = "The API token this stream was opened with has expired."  # noqa: S105 (a message)
SESSION_ENDED = "The session this stream was opened with has ended (logged out, expired, or its user deactivated)."


class Refusal(NamedTuple):
    """Why a credential no longer holds: the ``status`` a new request with it would get (401 or 403), and
    ``detail``, a sentence for the client."""

    status: int
    detail: str


@dataclass(frozen=True)
class Credential:
    """What a request was authenticated with: ``kind`` ``"token"`` (``key``: the token's digest) or
    ``"session"`` (``key``: the session key)."""

    kind: Literal["token", "session"]
    key: str


def request_credential(request: Request) -> Credential | None:
    """The credential ``request`` was authenticated with; None for an anonymous one (nothing to recheck)."""
    user = request.user
    if not (user and user.is_authenticated):
        return None
    if isinstance(request.successful_authenticator, TokenAuthentication):
        return Credential("token", request.auth.digest)
    session = getattr(request._request, "session", None)
    if session is not None and session.session_key:
        return Credential("session", session.session_key)
    return None


def recheck_credentials(
    credentials: Iterable[Credential], *, permitted: Callable[[Any], str | None]
) -> dict[Credential, Refusal]:
    """The credentials of ``credentials`` that no longer hold, each with why.

    ``permitted(user)`` says why a user that is still authenticated may no longer do what it did
    (None: it may). One query reads every token; each session costs Django's own two (the session,
    its user).
    """
    credentials = set(credentials)
    refused: dict[Credential, Refusal] = {}
    users: dict[Credential, Any] = {}
    digests = {credential.key for credential in credentials if credential.kind == "token"}
    if digests:
        tokens = {
            token.digest: token for token in get_token_model().objects.filter(digest__in=digests).select_related("user")
        }
        now = timezone.now()
        authentication = TokenAuthentication()
        for credential in credentials:
            if credential.kind != "token":
                continue
            token = tokens.get(credential.key)
            if token is None:
                refused[credential] = Refusal(401, TOKEN_REVOKED)
            elif token.expiry is not None and token.expiry < now:
                refused[credential] = Refusal(401, TOKEN_EXPIRED)
            else:
                try:
                    users[credential] = authentication.validate_user(token)[0]
                except AuthenticationFailed as exc:
                    refused[credential] = Refusal(401, str(exc.detail))
    if any(credential.kind == "session" for credential in credentials):
        store = import_module(settings.SESSION_ENGINE).SessionStore
        for credential in credentials:
            if credential.kind != "session":
                continue
            user = get_user(SimpleNamespace(session=store(session_key=credential.key)))
            if user.is_authenticated:
                users[credential] = user
            else:
                refused[credential] = Refusal(401, SESSION_ENDED)
    verdicts: dict[Any, str | None] = {}
    for credential, user in users.items():
        if user.pk not in verdicts:
            verdicts[user.pk] = permitted(user)
        if verdicts[user.pk] is not None:
            refused[credential] = Refusal(403, verdicts[user.pk])
    return refused
