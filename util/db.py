"""Database helpers that know no particular model."""

from collections.abc import Sequence
from typing import Any

from django.db import connections, models


def insert_skipping_conflicts(
    *,
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
    using: str = "default",
) -> list[Any]:
    """Insert ``rows`` (values in the order of the field names ``columns``) in one statement; PostgreSQL only.

    Rows that would break a unique constraint or index are skipped, not raised (``ON CONFLICT DO
    NOTHING``, which also covers rows inserted concurrently by another transaction). Returns, for
    each row actually inserted, a tuple of its ``returning`` fields, in no particular order. The values travel
    as one array per column, so the statement's text does not grow with the number of rows. They
    go to the driver as they are (no field conversion as in ``bulk_create``): plain ``str``,
    ``bool``, numbers, aware datetimes or ``None``.
    """
    if not rows:
        return []
    connection = connections[using]
    opts = model._meta
    fields = [opts.get_field(name) for name in columns]
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    # Only quoted names and type names from the model go into the text; the values are parameters.
    table = quote(opts.db_table)
    names = ", ".join(quote(field.column) for field in fields)
    sql = (
        f"INSERT INTO {table} ({names}) "  # noqa: S608
        f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING "
        f"RETURNING {', '.join(quote(opts.get_field(name).column) for name in returning)}"
    )
    params = [list(column) for column in zip(*rows, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]
