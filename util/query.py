"""Query parameters read strictly: a bad value is a 400 that names the parameter and what it accepts."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from rest_framework.exceptions import ValidationError

from util.values import parse_int_in_range


def int_param(params: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int | None) -> int:
    """The integer ``params[name]`` (``default`` when absent), from ``minimum`` to ``maximum``.

    Raises DRF's ``ValidationError`` naming ``name`` for anything else, an empty value included.
    """
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return parse_int_in_range(raw, minimum=minimum, maximum=maximum)
    except ValueError as exc:
        raise ValidationError({name: [str(exc)]}) from None


NUL = "\x00"


def nul_character_error(*, path: str, query_string: bytes) -> dict | None:
    """The 400 body for a request target with a NUL character in its path or a query parameter; None without one.

    No value the service reads may hold one: PostgreSQL cannot store or compare it, and its driver
    refuses the query (a server error) wherever a parameter would reach it. ``path`` is decoded
    (``%00`` is a NUL there already); the query string is as sent. The body names the parameter, in
    the shape of the other 400s (``{"detail": ..., "errors": {name: [...]}}``).
    """
    if NUL in path:
        return {"detail": "The URL path contains a NUL character (%00), which no path may contain."}
    if b"%00" not in query_string and NUL.encode() not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8"):
        if NUL in name:
            return {"detail": "A query parameter's name contains a NUL character (%00), which no name may contain."}
        if NUL in value:
            message = "contains a NUL character (%00), which no parameter may contain."
            return {"detail": f"{name}: {message}", "errors": {name: [message]}}
    return None
