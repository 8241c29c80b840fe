"""Page-number pagination with strict parameters.

DRF's own paginator silently falls back to defaults for a bad ``page_size`` and reports every bad
``page`` as a 404. Clients of this service get told instead: a malformed ``page`` or ``page_size``
is a 400 naming the parameter and its range; only a well-formed page past the last one is a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.paginator import EmptyPage
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from util.values import parse_int_in_range

if TYPE_CHECKING:
    from rest_framework.views import APIView


class StrictPageNumberPagination(PageNumberPagination):
    """``{count, next, previous, results}`` pages chosen by ``page`` (>= 1) and ``page_size``."""

    page_size = 100
    max_page_size = 1000
    page_query_param = "page"
    page_size_query_param = "page_size"
    last_page_strings = ()

    def _query_int(self, request: Request, name: str, *, default: int, maximum: int | None) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            return parse_int_in_range(raw, minimum=1, maximum=maximum)
        except ValueError as exc:
            raise ValidationError({name: [str(exc)]}) from None

    def get_page_size(self, request: Request) -> int:
        """The requested page size, 400 unless an integer from 1 to ``max_page_size``."""
        return self._query_int(request, self.page_size_query_param, default=self.page_size, maximum=self.max_page_size)

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: APIView | None = None) -> list:
        """Return the rows of the requested page; 400 for a malformed page number, 404 past the end."""
        page_size = self.get_page_size(request)
        page_number = self._query_int(request, self.page_query_param, default=1, maximum=None)
        paginator = self.django_paginator_class(queryset, page_size)
        try:
            self.page = paginator.page(page_number)
        except EmptyPage:
            raise NotFound(
                f"page {page_number} is past the last page ({paginator.num_pages}) for {paginator.count} results."
            ) from None
        self.request = request
        return list(self.page)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict]:
        """OpenAPI description of ``page`` and ``page_size``, with their ranges and defaults."""
        return [
            {
                "name": self.page_query_param,
                "in": "query",
                "required": False,
                "description": (
                    "The page of the results to return. Defaults to 1. A page past the last one is a 404; "
                    "anything but an integer >= 1 is a 400."
                ),
                "schema": {"type": "integer", "minimum": 1, "default": 1},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": (
                    f"The size of the page to use for pagination of results. Defaults to {self.page_size}, "
                    f"and can be anywhere from 1-{self.max_page_size}; anything else is a 400."
                ),
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
            },
        ]

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """OpenAPI description of the ``{count, next, previous, results}`` envelope around ``schema``."""
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The total number of results that match the query parameters.",
                    "example": 9,
                },
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": (
                        "A URL to the next page of results, with every other query parameter kept; "
                        "null on the last page."
                    ),
                    "example": None,
                },
                "previous": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "A URL to the previous page of results; null on the first page.",
                    "example": None,
                },
                "results": schema,
            },
        }
