"""Token authentication (``Authorization: Token <token>``) against hashed, expiring tokens.

The tokens are django-rest-knox's (see ``util.tokens``): the database holds only their SHA-512
digest, so a copy of it, or the admin, does not reveal a usable token.
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.settings import knox_settings
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from util.lockout import TOKEN_CREDENTIALS, is_locked_out, lockout_detail, record_failed_token

# Tokens are hexadecimal: 64 characters after knox's prefix, or 40 for those made before tokens were
# hashed (node migration 0004 kept them working).
_TOKEN_HEX_LENGTHS = frozenset({40, 64})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def could_be_a_token(token: str) -> bool:
    """Whether ``token`` has the shape of a token this service issues; anything else cannot match one."""
    prefix = knox_settings.TOKEN_PREFIX
    secret = token.removeprefix(prefix) if token.startswith(prefix) else None
    return secret is not None and len(secret) in _TOKEN_HEX_LENGTHS and set(secret) <= _HEX_DIGITS


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token authentication; a token that no token can be is invalid before the database is asked.

    A token of another length than the issued ones, or with other characters than theirs, cannot
    match; refusing it up front also keeps a NUL byte away from PostgreSQL, which cannot compare one
    and would fail the request with a server error instead of a 401.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """Authenticate by token, refusing a client locked out by repeated failures (429); count each failure."""
        scheme = get_authorization_header(request).split()[:1]
        if not scheme or scheme[0].lower() != self.authenticate_header(request).encode().lower():
            return None
        # django-axes reads the Django request (DRF's would parse the body to answer request.POST).
        django_request = request._request
        if is_locked_out(django_request, credentials=TOKEN_CREDENTIALS):
            raise LockedOut(lockout_detail())
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            record_failed_token(django_request)
            raise

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        if not could_be_a_token(token.decode("latin-1")):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class LockedOut(Throttled):
    """429: the client is locked out after too many failed authentications."""

    default_code = "locked_out"

    def __init__(self, detail: str) -> None:
        cool_off = get_cool_off()
        super().__init__(wait=cool_off.total_seconds() if cool_off else None, detail=detail)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of :class:`TokenAuthentication`: ``Authorization: Token <token>``."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        prefix = knox_settings.AUTH_HEADER_PREFIX
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=prefix)
