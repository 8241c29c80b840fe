"""Token authentication (``Authorization: Token <token>``) against hashed, expiring tokens.

The tokens are django-rest-knox's (see ``util.tokens``): the database holds only their SHA-512
digest, so a copy of it, or the admin, does not reveal a usable token.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.settings import knox_settings
from rest_framework.exceptions import AuthenticationFailed

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

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        if not could_be_a_token(token.decode("latin-1")):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of :class:`TokenAuthentication`: ``Authorization: Token <token>``."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        prefix = knox_settings.AUTH_HEADER_PREFIX
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=prefix)
