"""Token authentication (``Authorization: Token <token>``) against hashed, expiring tokens.

The tokens are django-rest-knox's (see ``accounts.tokens``): the database holds only their SHA-512
digest, so a copy of it, or the admin, does not reveal a usable token. A token is found by its
indexed key together with its user in one query, and its digest compared in constant time.

The lockout (``accounts.lockout``) is consulted only once a token has failed: a correct token always
authenticates, whatever others sent from the same address, while a client whose failures reached
the limit gets 429 for every further wrong token.
"""

from __future__ import annotations

import binascii
import math
from functools import cache
from hmac import compare_digest
from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth import SESSION_KEY
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import HTTP_HEADER_ENCODING, authentication
from rest_framework.exceptions import APIException, AuthenticationFailed, Throttled
from rest_framework.request import Request

from accounts.lockout import TOKEN_CREDENTIALS, is_locked_out, lockout_detail, record_failed_token
from util.sqlcache import rows_with_params

# Tokens are hexadecimal: 64 characters after knox's prefix, or 40 for those made before tokens were
# hashed (node migration 0004 kept them working).
_TOKEN_HEX_LENGTHS = frozenset({40, 64})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def could_be_a_token(token: str) -> bool:
    """Whether ``token`` has the shape of a token this service issues; anything else cannot match one."""
    prefix = knox_settings.TOKEN_PREFIX
    secret = token.removeprefix(prefix) if token.startswith(prefix) else None
    return secret is not None and len(secret) in _TOKEN_HEX_LENGTHS and set(secret) <= _HEX_DIGITS


@cache
def _token_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The token's and its user's field names, as the token query selects them (token fields first)."""
    token_model = get_token_model()
    user_model = token_model._meta.get_field("user").related_model
    token_fields = tuple(field.attname for field in token_model._meta.concrete_fields)
    user_fields = tuple(field.attname for field in user_model._meta.concrete_fields)
    return token_fields, user_fields


def _tokens_by_key(token_key: str) -> QuerySet:
    token_fields, user_fields = _token_columns()
    return (
        get_token_model()
        .objects.filter(token_key=token_key)
        .values_list(*token_fields, *(f"user__{name}" for name in user_fields))
    )


def _token_with_user(row: tuple) -> Model:
    """The token of a ``_tokens_by_key`` row, with its user, as instances loaded from the database."""
    token_fields, user_fields = _token_columns()
    token_model = get_token_model()
    user_model = token_model._meta.get_field("user").related_model
    token = token_model.from_db(DEFAULT_DB_ALIAS, token_fields, row[: len(token_fields)])
    token.user = user_model.from_db(DEFAULT_DB_ALIAS, user_fields, row[len(token_fields) :])
    return token


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's tokens, looked up in one query (token and user); the lockout is read only after a failure.

    A token of another length than the issued ones, or with other characters than theirs, cannot
    match; refusing it up front also keeps a NUL byte away from PostgreSQL, which cannot compare one
    and would fail the request with a server error instead of a 401. An expired token is deleted
    and refused, as knox does.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Authenticate by token; after a failure, 429 when the client is locked out, else count it (401).

        The header is read from ``META`` as knox reads it (a request's headers are not all copied out
        for it); a header of another scheme is left to the next authentication.
        """
        header = request.META.get("HTTP_AUTHORIZATION", b"")
        parts = (header.encode(HTTP_HEADER_ENCODING) if isinstance(header, str) else header).split()
        if not parts or parts[0].lower() != self.authenticate_header(request).encode().lower():
            return None
        try:
            if len(parts) != 2:
                raise AuthenticationFailed(
                    "Invalid token header. No credentials provided."
                    if len(parts) == 1
                    else "Invalid token header. Token string should not contain spaces."
                )
            return self.authenticate_credentials(parts[1])
        except AuthenticationFailed:
            # django-axes reads the Django request (DRF's would parse the body to answer request.POST).
            django_request = request._request
            # A locked-out client's failure is not recorded again: the cost of a guess stays one read.
            if is_locked_out(django_request, credentials=TOKEN_CREDENTIALS):
                raise LockedOut(lockout_detail(django_request)) from None
            record_failed_token(django_request)
            raise

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        """The user and token row of ``token``; raises ``AuthenticationFailed`` for any token that is not valid now."""
        text = token.decode("latin-1")
        if not could_be_a_token(text):
            raise AuthenticationFailed("Invalid token.")
        rows = rows_with_params(_tokens_by_key, key="api-token", params=(text[: CONSTANTS.TOKEN_KEY_LENGTH],))
        for row in rows:
            auth_token = _token_with_user(row)
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                self._expire(auth_token)
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error):
                raise AuthenticationFailed("Invalid token.") from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise AuthenticationFailed("Invalid token.")

    def _expire(self, auth_token: Model) -> None:
        """Delete an expired token and announce it, as knox does when it meets one."""
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=type(self), username=username, source="auth_token")


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, answering at once for a request whose session holds no user.

    A session without a logged-in user (a client that sent no session cookie: every API client)
    is anonymous: reading the session's user key says so without loading Django's user machinery.
    Reading it marks the session as read, as Django's own lookup does, so the answer still varies by
    ``Cookie``.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """The session's user (with DRF's CSRF check), or None for a session without one."""
        session = getattr(request._request, "session", None)
        if session is not None and session.get(SESSION_KEY) is None:
            return None
        return super().authenticate(request)


class LockedOut(Throttled):
    """429: the client is locked out after too many failed authentications."""

    default_code = "locked_out"

    def __init__(self, detail: str) -> None:
        # ``detail`` says how long already: Throttled's own "Expected available in ..." would repeat it.
        APIException.__init__(self, detail=detail)
        cool_off = get_cool_off()
        self.wait = math.ceil(cool_off.total_seconds()) if cool_off else None


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of :class:`TokenAuthentication`: ``Authorization: Token <token>``."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        prefix = knox_settings.AUTH_HEADER_PREFIX
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=prefix)


class SessionAuthenticationScheme(SessionScheme):
    """The OpenAPI security scheme of :class:`SessionAuthentication`: DRF's own, the session cookie."""

    target_class = SessionAuthentication
