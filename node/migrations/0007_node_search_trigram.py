"""Trigram indexes for the list's ``search``: a substring of the hostname or pause reason, in any letter case.

``search`` compiles to ``UPPER(hostname::text COLLATE "C") LIKE UPPER(%s)`` (hostnames are ASCII, which
the C collation upper-cases cheaply) and ``UPPER(pause_reason::text) LIKE UPPER(%s)`` on PostgreSQL; GIN
indexes of ``pg_trgm`` on exactly those expressions find the matching rows, and count them exactly, without
reading the table (for texts of three characters or more; shorter ones match so many rows that
PostgreSQL reads the table anyway). ``CREATE EXTENSION`` needs a role allowed to create it (a
superuser, the database owner on PostgreSQL 13+ since ``pg_trgm`` is a trusted extension, or an
administrator creating it beforehand). Building the indexes locks out writes to ``node`` for the time
it takes (tens of seconds at a million nodes). Other databases (the embedded SQLite) scan with LIKE.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX node_hostname_trgm_idx ON node USING gin (upper(hostname::text COLLATE "C") gin_trgm_ops);
CREATE INDEX node_pause_reason_trgm_idx ON node USING gin (upper(pause_reason::text) gin_trgm_ops);
"""

# The extension stays: other objects may use it.
BACKWARD = """
DROP INDEX node_hostname_trgm_idx;
DROP INDEX node_pause_reason_trgm_idx;
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("node", "0006_node_count_paused")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False)]
