"""The repeatable ``order`` query parameter: ``?order=is_active&order=-created``.

``parse_ordering`` validates the values against the fields a view allows; ``order_by_expressions``
turns them into ORM ordering with the rules every list shares: text sorts case-insensitively,
nulls sort last in both directions, and a unique tie-breaker ends the ordering so that pages never
overlap or skip. ``OrderParamFilter`` is the DRF filter backend that applies both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.db.models.functions import Lower
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from util.values import shown

if TYPE_CHECKING:
    from rest_framework.views import APIView

ORDER_PARAM = "order"


@dataclass(frozen=True)
class OrderTerm:
    """One field of an ordering, ascending unless ``descending``."""

    field: str
    descending: bool = False


def parse_ordering(
    values: Sequence[str], *, allowed: Sequence[str], aliases: Mapping[str, str] | None = None
) -> list[OrderTerm]:
    """Parse ``order`` values such as ``["is_active", "-created"]`` into terms.

    A leading ``-`` reverses a field; ``aliases`` maps other accepted names onto allowed fields.
    A field named again later adds nothing (the first mention decides) and is dropped. Raises
    ``ValueError`` naming the unknown value and listing the allowed fields.
    """
    aliases = aliases or {}
    terms: list[OrderTerm] = []
    seen: set[str] = set()
    for value in values:
        descending = value.startswith("-")
        name = value[1:] if descending else value
        field = aliases.get(name, name)
        if field not in allowed:
            accepted = ", ".join([*allowed, *aliases])
            hint = ""
            if "," in name:
                repeated = "&".join(f"{ORDER_PARAM}={part.strip()}" for part in value.split(",") if part.strip())
                hint = f" To sort by several fields, repeat the parameter ({repeated}) rather than join them by commas."
            raise ValueError(
                f"unknown field {shown(name)}; allowed fields: {accepted} (prefix a field with - to reverse it).{hint}"
            )
        if field not in seen:
            seen.add(field)
            terms.append(OrderTerm(field=field, descending=descending))
    return terms


def order_by_expressions(
    terms: Sequence[OrderTerm], *, model: type[models.Model], tie_breaker: str = "id"
) -> list[models.OrderBy]:
    """Build ``order_by`` arguments for ``terms`` on ``model``.

    Text fields sort case-insensitively, nullable fields put nulls last in both directions (not
    asked of non-null fields, so their plain indexes stay usable backwards), and ``tie_breaker``
    (a unique field) ends the ordering unless the terms already name it.
    """
    expressions: list[models.OrderBy] = []
    for term in terms:
        field = model._meta.get_field(term.field)
        expression = (
            Lower(term.field) if isinstance(field, (models.CharField, models.TextField)) else models.F(term.field)
        )
        nulls_last = True if field.null else None
        expressions.append(
            expression.desc(nulls_last=nulls_last) if term.descending else expression.asc(nulls_last=nulls_last)
        )
    if tie_breaker not in {term.field for term in terms}:
        expressions.append(models.F(tie_breaker).asc())
    return expressions


class OrderParamFilter(BaseFilterBackend):
    """Order a list view by its repeatable ``order`` parameter.

    The view declares ``ordering_fields`` (allowed field names), optionally ``ordering_aliases``
    (other accepted names) and ``ordering_default`` (terms used when no ``order`` is given).
    An unknown field is a 400 naming the parameter.
    """

    def filter_queryset(self, request: Request, queryset: models.QuerySet, view: APIView) -> models.QuerySet:
        try:
            terms = parse_ordering(
                request.query_params.getlist(ORDER_PARAM),
                allowed=view.ordering_fields,
                aliases=getattr(view, "ordering_aliases", None),
            )
        except ValueError as exc:
            raise ValidationError({ORDER_PARAM: [str(exc)]}) from None
        terms = terms or list(getattr(view, "ordering_default", ()))
        return queryset.order_by(*order_by_expressions(terms, model=queryset.model))

    def get_schema_operation_parameters(self, view: APIView) -> list[dict]:
        """OpenAPI description of ``order``: a repeatable parameter whose values are the allowed fields."""
        aliases = getattr(view, "ordering_aliases", None) or {}
        names = [*view.ordering_fields, *aliases]
        default = list(getattr(view, "ordering_default", ())) or [OrderTerm(view.ordering_fields[0])]
        first, second = next(iter(aliases), names[0]), default[0].field
        default_text = ", ".join(f"-{term.field}" if term.descending else term.field for term in default)
        alias_text = "".join(f" `{alias}` is an alias of `{field}`." for alias, field in aliases.items())
        return [
            {
                "name": ORDER_PARAM,
                "in": "query",
                "required": False,
                "description": (
                    "One or more fields to use when ordering the results. Duplicate it to multi-sort, "
                    f"(ex: {ORDER_PARAM}={first}&{ORDER_PARAM}={second}). Prefix fields with a dash to reverse "
                    f"the sort, (ex: {ORDER_PARAM}=-{second}).{alias_text} Text sorts case-insensitively, nulls "
                    f"sort last in both directions, and `id` breaks ties. Defaults to `{default_text}`. Any other "
                    "value is a 400 listing the allowed fields."
                ),
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": [*names, *(f"-{name}" for name in names)]},
                },
                "style": "form",
                "explode": True,
            }
        ]
