"""Rows of a hot ``values_list`` query, compiled to SQL once per shape instead of on every request.

Compiling a queryset to SQL is most of the ORM's cost for a small page. For a query whose SQL is
fully determined by a key the caller gives (no parameters: filters like ``is_active=True`` compile
to plain SQL, and slices to literal LIMIT/OFFSET), the SQL is kept and run directly. Only queries
whose rows need no conversion by Django are kept (PostgreSQL's driver returns booleans and aware
datetimes as they are; SQLite's values are converted, so there the queryset runs as usual).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from threading import Lock

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ValuesListIterable

MAX_SHAPES = 256

_compiled: OrderedDict[tuple, str | None] = OrderedDict()
_lock = Lock()


def _compile(queryset: QuerySet, *, params: Sequence[object] = ()) -> str | None:
    """The SQL of ``queryset`` when it can be run as is and its rows used unconverted, else None.

    The compiled SQL must take exactly ``params`` as its parameters, in that order.
    """
    if queryset._iterable_class is not ValuesListIterable:
        return None
    compiler = queryset.query.get_compiler(queryset.db)
    sql, compiled_params = compiler.as_sql()
    fields = [selected[0] for selected in compiler.select[: compiler.col_count]]
    if (
        list(compiled_params) != list(params)
        or compiler.get_converters(fields)
        or compiler.has_composite_fields(fields)
    ):
        return None
    return sql


def rows_of(queryset: QuerySet, *, key: Hashable) -> list[tuple]:
    """``list(queryset)`` for a ``values_list`` queryset whose SQL depends only on ``key``.

    The caller vouches that two querysets with the same ``key`` compile to the same SQL (the key
    names the query and every value that shapes it). At most ``MAX_SHAPES`` shapes are kept.
    """
    full_key = (queryset.db, key)
    sql = _compiled.get(full_key, "")
    if sql == "":
        sql = _compile(queryset)
        with _lock:
            _compiled[full_key] = sql
            if len(_compiled) > MAX_SHAPES:
                _compiled.popitem(last=False)
    if sql is None:
        return list(queryset)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def rows_with_params(build: Callable[..., QuerySet], *, key: Hashable, params: Sequence[object]) -> list[tuple]:
    """``list(build(*params))`` for a ``values_list`` queryset whose SQL depends only on ``key``, given ``params``.

    ``build`` makes the queryset from the values that vary (e.g. a primary key); its SQL must take
    them as its parameters, in order, and nothing else (checked when compiling: otherwise the
    queryset runs as usual). The SQL is compiled once per key, like ``rows_of``.
    """
    full_key = (DEFAULT_DB_ALIAS, key)
    sql = _compiled.get(full_key, "")
    if sql == "":
        sql = _compile(build(*params), params=params)
        with _lock:
            _compiled[full_key] = sql
            if len(_compiled) > MAX_SHAPES:
                _compiled.popitem(last=False)
    if sql is None:
        return list(build(*params))
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def clear() -> None:
    """Forget every compiled query, so the next ``rows_of`` of each key compiles its SQL again.

    For tests, which start each test with an empty cache so that no result depends on which
    queries an earlier test happened to compile; the service itself never needs to call it.
    """
    with _lock:
        _compiled.clear()
