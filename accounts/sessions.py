"""Database sessions that ignore session cookies the service cannot have issued (``SESSION_ENGINE``)."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    """Django's database session store, treating a cookie that is not a possible session key as no session.

    Django issues keys of ASCII letters and digits. Any other value is a forged cookie; looking
    it up would at best find nothing and, for a NUL byte, make PostgreSQL fail the request.
    """

    def _validate_session_key(self, key: str | None) -> bool:
        return bool(super()._validate_session_key(key) and key.isascii() and key.isalnum())
