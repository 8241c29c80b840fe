"""Query parameters read strictly: a bad value is a 400 that names the parameter and what it accepts."""

from __future__ import annotations

from collections.abc import Mapping

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
