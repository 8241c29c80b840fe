"""Token authentication that refuses impossible keys before asking the database."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (``Authorization: Token <key>``); a key that no token can have is invalid.

    A key longer than the stored keys, or with characters outside printable ASCII, cannot match;
    refusing it up front also keeps a NUL byte away from PostgreSQL, which cannot compare one and
    would fail the request with a server error instead of a 401.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        max_length = self.get_model()._meta.get_field("key").max_length
        if len(key) > max_length or not (key.isascii() and key.isprintable()):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
