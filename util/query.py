"""Query parameters read strictly: a bad value is a 400 that names the parameter and what it accepts."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.settings import api_settings

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


# The cache-busting parameter of browser libraries (jQuery's ``cache: false`` sends ``_=<time>``):
# accepted by every endpoint that checks its parameters, and ignored.
CACHE_BUSTER = "_"


def unknown_params(names: Iterable[str], *, accepted: Collection[str]) -> ValidationError | None:
    """The 400 for those ``names`` that are not in ``accepted`` (each named, with the accepted ones and a close
    match when there is one); None when every name is accepted."""
    unknown = sorted({name for name in names if name not in accepted})
    if not unknown:
        return None
    listed = ", ".join(sorted(accepted)) or "none"
    errors = {}
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(accepted), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        errors[name] = [f"unknown query parameter{hint}; this endpoint accepts: {listed}."]
    return ValidationError(errors)


class KnownQueryParams:
    """A DRF view mixin: a request with a query parameter the view does not read is a 400 that names it.

    A parameter the service ignored would look as if it had been applied (``?paused=true`` listing
    every node). The view declares what it reads in ``query_params``; ``format`` (the renderer
    choice, for views with several renderers) and ``CACHE_BUSTER`` are accepted everywhere.
    Checked after authentication, so a client without access learns nothing more.
    """

    query_params: Collection[str] = ()

    def accepted_query_params(self) -> frozenset[str]:
        """Every query parameter this view accepts."""
        accepted = {*self.query_params, CACHE_BUSTER}
        if len(getattr(self, "renderer_classes", ())) > 1 and api_settings.URL_FORMAT_OVERRIDE:
            accepted.add(api_settings.URL_FORMAT_OVERRIDE)
        return frozenset(accepted)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        error = unknown_params(request.query_params, accepted=self.accepted_query_params())
        if error is not None:
            raise error
