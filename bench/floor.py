"""The floor: a bare WSGI app that runs the project's own SQL with psycopg2 and answers with orjson.

It knows no Django. For each benchmark request it replays the statements the project ran for it
(recorded by ``bench.prepare``), then builds the same response the project gives: the list
envelope with the same ``next``/``previous`` links, the node of a detail, or a 204 for a PATCH.
What remains between the project and this floor is the cost of the framework.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from urllib import parse

import dj_database_url
import orjson
import psycopg2

FIELDS = ("id", "hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified")
_JS_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))

with open(os.environ["BENCH_FLOOR_CASES"]) as _file:
    _CASES: dict[str, dict] = json.load(_file)["floor"]
_config = dj_database_url.parse(os.environ["DATABASE_URL"])
_connection = psycopg2.connect(
    dbname=_config["NAME"],
    user=_config["USER"],
    password=_config["PASSWORD"] or None,
    host=_config["HOST"],
    port=_config["PORT"] or 5432,
    options="-c timezone=UTC",
)
_connection.autocommit = True


def _json(data: object) -> bytes:
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    for raw, escaped in _JS_LINE_SEPARATORS:
        if raw in body:
            body = body.replace(raw, escaped)
    return body


def _with_page(url: str, page: int | None) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    params = parse.parse_qs(query, keep_blank_values=True)
    params.pop("page", None)
    if page is not None:
        params["page"] = [str(page)]
    return parse.urlunsplit((scheme, netloc, path, parse.urlencode(sorted(params.items()), doseq=True), fragment))


def _list(environ: dict, statements: list[str]) -> bytes:
    with _connection.cursor() as cursor:
        cursor.execute(statements[0])
        count = cursor.fetchone()[0]
        results = []
        # A count of 0 has no page to read: the project ran one statement then.
        if len(statements) > 1:
            cursor.execute(statements[1])
            results = [dict(zip(FIELDS, row, strict=True)) for row in cursor.fetchall()]
    query = parse.parse_qs(environ.get("QUERY_STRING", ""))
    page = int(query.get("page", ["1"])[0])
    size = int(query.get("page_size", ["100"])[0])
    pages = max(1, math.ceil(count / size))
    url = f"http://{environ['HTTP_HOST']}{environ['PATH_INFO']}"
    if environ.get("QUERY_STRING"):
        url += "?" + environ["QUERY_STRING"]
    return _json(
        {
            "count": count,
            "next": _with_page(url, page + 1) if page < pages else None,
            "previous": (_with_page(url, page - 1 if page > 2 else None)) if page > 1 else None,
            "results": results,
        }
    )


def _detail(environ: dict, statements: list[str]) -> bytes:
    with _connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        # The row ends with the registry index, which the project sends as a header.
        return _json(dict(zip(FIELDS, cursor.fetchone()[: len(FIELDS)], strict=True)))


def _patch(environ: dict, statements: list[str]) -> bytes:
    orjson.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    # The recorded statements carry the project's own BEGIN and COMMIT.
    with _connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return b""


_KINDS = {"list": _list, "detail": _detail, "patch": _patch}


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Answer a recorded benchmark request; anything else is a 404."""
    key = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
    if environ.get("QUERY_STRING"):
        key += "?" + environ["QUERY_STRING"]
    case = _CASES.get(key)
    if case is None:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"detail":"not a benchmark request"}']
    body = _KINDS[case["kind"]](environ, case["statements"])
    if case["kind"] == "patch":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
