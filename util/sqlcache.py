"""Rows of a hot ``values_list`` query, compiled to SQL once per shape instead of on every request.

Compiling a queryset to SQL is most of the ORM's cost for a small page. For a query whose SQL is
fully determined by a key the caller gives (filters like ``is_active=True`` compile to plain SQL,
and slices to literal LIMIT/OFFSET), the SQL is kept and run directly. A query may take parameters
(``id IN (%s, %s)``) when the caller gives them, in the order Django would pass them: the first
compilation of each key checks that they are exactly Django's, and a key whose check fails is run
through the ORM from then on. Only queries whose rows need no conversion by Django are kept
(PostgreSQL's driver returns booleans and aware datetimes as they are; SQLite's values are
converted, so there the queryset runs as usual).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from threading import Lock
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ValuesListIterable

MAX_SHAPES = 256

_compiled: OrderedDict[tuple, str | None] = OrderedDict()
_built: OrderedDict[Hashable, object] = OrderedDict()
_lock = Lock()
Built = TypeVar("Built")


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


def _kept(full_key: tuple, compile_sql: Callable[[], str | None]) -> str | None:
    """The SQL kept for ``full_key``, compiled by ``compile_sql`` (None: not reusable) the first time."""
    sql = _compiled.get(full_key, "")
    if sql == "":
        sql = compile_sql()
        with _lock:
            _compiled[full_key] = sql
            if len(_compiled) > MAX_SHAPES:
                _compiled.popitem(last=False)
    return sql


def rows_of(queryset: QuerySet, *, key: Hashable, params: Sequence[object] = ()) -> list[tuple]:
    """``list(queryset)`` for a ``values_list`` queryset whose SQL depends only on ``key``, run with ``params``.

    The caller vouches that two querysets with the same ``key`` compile to the same SQL (the key
    names the query and every value that shapes it), and that ``params`` are the parameters that
    Django passes with it, in order (checked on the key's first compilation). At most
    ``MAX_SHAPES`` shapes are kept.
    """
    sql = _kept((queryset.db, key), lambda: _compile(queryset, params=params))
    if sql is None:
        return list(queryset)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, list(params) or None)
        return cursor.fetchall()


def sql_with_params(queryset: QuerySet, *, key: Hashable, params: Sequence[object]) -> tuple[str, Sequence[object]]:
    """``queryset.query.sql_with_params()``, compiled once per ``key``, for SQL to embed in a statement of one's own.

    As with ``rows_of``, ``key`` must determine the SQL and ``params`` be Django's parameters for it
    (checked on the key's first compilation; a key whose check fails is compiled every time). The
    rows are not read here, so they may be of any kind.
    """

    def compile_sql() -> str | None:
        sql, compiled_params = queryset.query.sql_with_params()
        return sql if list(compiled_params) == list(params) else None

    sql = _kept((queryset.db, ("sql", key)), compile_sql)
    if sql is None:
        return queryset.query.sql_with_params()
    return sql, params


def rows_with_params(build: Callable[..., QuerySet], *, key: Hashable, params: Sequence[object]) -> list[tuple]:
    """``list(build(*params))`` for a ``values_list`` queryset whose SQL depends only on ``key``, given ``params``.

    ``build`` makes the queryset from the values that vary (e.g. a primary key); its SQL must take
    them as its parameters, in order, and nothing else (checked when compiling: otherwise the
    queryset runs as usual). The SQL is compiled once per key, like ``rows_of``.
    """
    sql = _kept((DEFAULT_DB_ALIAS, key), lambda: _compile(build(*params), params=params))
    if sql is None:
        return list(build(*params))
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def built_once(key: Hashable, build: Callable[[], Built]) -> Built:
    """``build()``, made the first time for ``key`` and kept: a queryset (or a tuple holding one) that ``key``
    determines entirely, built once per key instead of on every request.

    For querysets whose SQL takes no parameters, so that two requests with the same key build equal
    querysets. The kept queryset is shared: callers derive querysets from it (slice, filter, order)
    and never evaluate it itself. At most ``MAX_SHAPES`` keys are kept.
    """
    built = _built.get(key, _built)
    if built is _built:
        built = build()
        with _lock:
            _built[key] = built
            if len(_built) > MAX_SHAPES:
                _built.popitem(last=False)
    return built  # type: ignore[return-value]


def clear() -> None:
    """Forget every compiled query and kept queryset, so the next ``rows_of`` of each key compiles its SQL again.

    For tests, which start each test with an empty cache so that no result depends on which
    queries an earlier test happened to compile; the service itself never needs to call it.
    """
    with _lock:
        _compiled.clear()
        _built.clear()
