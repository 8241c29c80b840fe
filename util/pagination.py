"""Page-number pagination with strict parameters, and pages that cost the same at any depth.

DRF's own paginator silently falls back to defaults for a bad ``page_size`` and reports every bad
``page`` as a 404. Clients of this service get told instead: a malformed ``page`` or ``page_size``
is a 400 naming the parameter and its range; only a well-formed page past the last one is a 404.

Deep pages are read with a deferred join: the ``OFFSET`` walks over primary keys only (which an
index on the ordering columns and the key answers without touching the table), and only the
page's own rows are then read in full. The rows and their order are those of a plain ``OFFSET``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from util.query import int_param
from util.sqlcache import rows_of

if TYPE_CHECKING:
    from rest_framework.views import APIView


# From this offset on, a page is read with a deferred join; below it a plain OFFSET is as cheap.
DEFERRED_JOIN_OFFSET = 1000


def page_rows(
    queryset: QuerySet | Sequence,
    *,
    offset: int,
    limit: int,
    sql_key: Hashable | None = None,
    sql_params: Sequence[object] = (),
) -> list:
    """The rows ``offset`` to ``offset + limit`` of an ordered ``queryset`` (or any sequence), as a list.

    Past ``DEFERRED_JOIN_OFFSET`` the rows of a queryset are fetched by primary key from a subquery
    that skips ``offset`` keys, and sorted again by the same ordering (so the result is that of a slice).
    With ``sql_key`` and ``sql_params`` (see ``util.sqlcache.rows_of``: the key must determine the
    queryset's SQL, and the parameters be that SQL's), the page's SQL is compiled once per key and page.
    """
    if not isinstance(queryset, QuerySet):
        return list(queryset[offset : offset + limit])
    deferred = offset >= DEFERRED_JOIN_OFFSET
    if deferred:
        page = queryset.filter(pk__in=queryset.values("pk")[offset : offset + limit])
    else:
        page = queryset[offset : offset + limit]
    if sql_key is None:
        return list(page)
    # The deferred page's SQL holds the filters twice: in its own WHERE, then in the subquery's.
    params = tuple(sql_params) * 2 if deferred else tuple(sql_params)
    return rows_of(page, key=(sql_key, offset, limit, deferred), params=params)


class CountedPaginator(Paginator):
    """Django's paginator with the total given by a callable (e.g. a kept count) and deferred-join pages."""

    def __init__(
        self,
        object_list: QuerySet | Sequence,
        per_page: int,
        *,
        count: Callable[[], int] | None = None,
        sql_key: Hashable | None = None,
        sql_params: Sequence[object] = (),
    ) -> None:
        super().__init__(object_list, per_page)
        self._count = count
        self._sql_key, self._sql_params = sql_key, sql_params

    @property
    def count(self) -> int:
        """The total number of rows, asked once."""
        if not hasattr(self, "_total"):
            self._total = self._count() if self._count is not None else Paginator.count.func(self)
        return self._total

    def page(self, number: int) -> Page:
        """The page ``number``, its rows already read."""
        number = self.validate_number(number)
        offset = (number - 1) * self.per_page
        if self.count == 0:
            # The one page of no results (validate_number has read the count): nothing to read.
            return self._get_page([], number, self)
        rows = page_rows(
            self.object_list, offset=offset, limit=self.per_page, sql_key=self._sql_key, sql_params=self._sql_params
        )
        return self._get_page(rows, number, self)


class StrictPageNumberPagination(PageNumberPagination):
    """``{count, next, previous, results}`` pages chosen by ``page`` (>= 1) and ``page_size``."""

    page_size = 100
    max_page_size = 1000
    page_query_param = "page"
    page_size_query_param = "page_size"
    last_page_strings = ()

    def _query_int(self, request: Request, name: str, *, default: int, maximum: int | None) -> int:
        return int_param(request.query_params, name, default=default, minimum=1, maximum=maximum)

    def get_page_size(self, request: Request) -> int:
        """The requested page size, 400 unless an integer from 1 to ``max_page_size``."""
        return self._query_int(request, self.page_size_query_param, default=self.page_size, maximum=self.max_page_size)

    def paginate_queryset(
        self,
        queryset: QuerySet,
        request: Request,
        view: APIView | None = None,
        *,
        count: Callable[[], int] | None = None,
        sql_key: Hashable | None = None,
        sql_params: Sequence[object] = (),
    ) -> list:
        """Return the rows of the requested page; 400 for a malformed page number, 404 past the end.

        ``count`` gives the exact number of rows of ``queryset`` when the caller has a cheaper way
        to it than ``COUNT(*)``; it is called once, and not at all when the parameters are bad.
        ``sql_key``, when given, determines the queryset's SQL, which takes ``sql_params`` (see ``page_rows``).
        """
        page_size = self.get_page_size(request)
        page_number = self._query_int(request, self.page_query_param, default=1, maximum=None)
        paginator = CountedPaginator(queryset, page_size, count=count, sql_key=sql_key, sql_params=sql_params)
        try:
            self.page = paginator.page(page_number)
        except EmptyPage:
            raise NotFound(
                f"page {page_number} is past the last page ({paginator.num_pages}) for {paginator.count} results."
            ) from None
        self.request = request
        # The page's rows are a list already; iterating the Page would index it row by row.
        return list(self.page.object_list)

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
