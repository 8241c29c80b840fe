"""API tokens: stored only as a hash (django-rest-knox), shown once when created, expiring and revocable.

A token is 64 random hexadecimal characters; the database keeps its SHA-512 digest and its first
15 characters (to find the row), never the token itself. Revoking a token deletes its row; an
expired token is deleted when it is next presented, or when its user gets a new token.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone
from knox.models import AuthToken

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def create_api_token(*, user: AbstractBaseUser, expires_in: dt.timedelta | None) -> tuple[AuthToken, str]:
    """Create a token for ``user`` valid for ``expires_in`` (``None``: until revoked).

    Returns the stored row and the token itself, which cannot be recovered later: show it once.
    The user's expired tokens are deleted: authentication refuses them without reading the others.
    """
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    return AuthToken.objects.create(user=user, expiry=expires_in)


def revoke_api_tokens(*, user: AbstractBaseUser) -> int:
    """Delete every token of ``user``; returns how many there were."""
    count, _ = AuthToken.objects.filter(user=user).delete()
    return count
