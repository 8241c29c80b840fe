"""Exact node counts kept by PostgreSQL, so the list's ``count`` costs nothing at any table size.

A one-row table ``node_count`` holds the number of active and of inactive nodes. Statement-level
triggers on ``node`` update it in the same transaction as every INSERT, UPDATE, DELETE and
TRUNCATE, whoever writes (the services, the admin, a bulk statement or a manual fix in psql), so
it is never an estimate and never stale: a reader sees the count of exactly the rows its snapshot
sees. Writers that change a count queue on that one row until they commit; node writes are rare
next to reads. A transaction that changes a count and then waits for a node's row lock could
deadlock with one holding that row and changing a count (PostgreSQL would abort one of them);
``node.services`` never does that, as it locks the rows it writes before writing any. Other
databases (the embedded SQLite) count with ``COUNT(*)``.
"""

from django.db import migrations

FORWARD = """
CREATE TABLE node_count (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    active bigint NOT NULL,
    inactive bigint NOT NULL
);
-- No write to node may slip between the initial count and the triggers taking over.
LOCK TABLE node IN SHARE MODE;
INSERT INTO node_count (active, inactive)
SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active) FROM node;

CREATE FUNCTION node_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added_active bigint := 0;
    added_inactive bigint := 0;
    removed_active bigint := 0;
    removed_inactive bigint := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active)
        INTO added_active, added_inactive FROM new_rows;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active)
        INTO removed_active, removed_inactive FROM old_rows;
    END IF;
    -- Most updates (a pause, a resume) change no count: leave the row, and its lock, alone.
    IF added_active <> removed_active OR added_inactive <> removed_inactive THEN
        UPDATE node_count
        SET active = active + added_active - removed_active,
            inactive = inactive + added_inactive - removed_inactive;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION node_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE node_count SET active = 0, inactive = 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER node_count_insert AFTER INSERT ON node
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION node_count_changed();
CREATE TRIGGER node_count_update AFTER UPDATE ON node
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION node_count_changed();
CREATE TRIGGER node_count_delete AFTER DELETE ON node
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION node_count_changed();
CREATE TRIGGER node_count_truncate AFTER TRUNCATE ON node
    FOR EACH STATEMENT EXECUTE FUNCTION node_count_truncated();
"""

BACKWARD = """
DROP TRIGGER node_count_insert ON node;
DROP TRIGGER node_count_update ON node;
DROP TRIGGER node_count_delete ON node;
DROP TRIGGER node_count_truncate ON node;
DROP FUNCTION node_count_changed();
DROP FUNCTION node_count_truncated();
DROP TABLE node_count;
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("node", "0002_node_change")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False)]
