"""The kept node counts cover every combination of ``is_active`` and ``is_paused``.

``node_count`` (migration 0003) gains the number of paused nodes among the active and among the
inactive ones, so the list's count for any ``is_active``/``is_paused`` filter is one single-row read
(``node.selectors.kept_node_count_with_index``). The same statement-level triggers keep all four
numbers, in the same transaction as every write; a pause or a resume now changes a count too, so
those writes also queue briefly on the ``node_count`` row until they commit (the deadlock note of
0003 still holds: ``node.services`` locks the rows it writes before writing any). Other databases
(the embedded SQLite) count with ``COUNT(*)``. An index on ``(is_paused, last_modified, id)`` serves
the page of paused nodes in the default order.
"""

from django.db import migrations, models

FORWARD = """
-- No write to node may slip between the initial count and the new trigger function taking over.
LOCK TABLE node IN SHARE MODE;
ALTER TABLE node_count
    ADD COLUMN active_paused bigint NOT NULL DEFAULT 0,
    ADD COLUMN inactive_paused bigint NOT NULL DEFAULT 0;
UPDATE node_count SET
    active_paused = (SELECT count(*) FROM node WHERE is_active AND is_paused),
    inactive_paused = (SELECT count(*) FROM node WHERE NOT is_active AND is_paused);

CREATE OR REPLACE FUNCTION node_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added_active bigint := 0;
    added_inactive bigint := 0;
    added_active_paused bigint := 0;
    added_inactive_paused bigint := 0;
    removed_active bigint := 0;
    removed_inactive bigint := 0;
    removed_active_paused bigint := 0;
    removed_inactive_paused bigint := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active),
               count(*) FILTER (WHERE is_active AND is_paused), count(*) FILTER (WHERE NOT is_active AND is_paused)
        INTO added_active, added_inactive, added_active_paused, added_inactive_paused FROM new_rows;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active),
               count(*) FILTER (WHERE is_active AND is_paused), count(*) FILTER (WHERE NOT is_active AND is_paused)
        INTO removed_active, removed_inactive, removed_active_paused, removed_inactive_paused FROM old_rows;
    END IF;
    -- Updates that change no count (a rename, a touch) leave the row, and its lock, alone.
    IF added_active <> removed_active OR added_inactive <> removed_inactive
       OR added_active_paused <> removed_active_paused OR added_inactive_paused <> removed_inactive_paused THEN
        UPDATE node_count
        SET active = active + added_active - removed_active,
            inactive = inactive + added_inactive - removed_inactive,
            active_paused = active_paused + added_active_paused - removed_active_paused,
            inactive_paused = inactive_paused + added_inactive_paused - removed_inactive_paused;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION node_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE node_count SET active = 0, inactive = 0, active_paused = 0, inactive_paused = 0;
    RETURN NULL;
END
$$;
"""

BACKWARD = """
LOCK TABLE node IN SHARE MODE;
CREATE OR REPLACE FUNCTION node_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF added_active <> removed_active OR added_inactive <> removed_inactive THEN
        UPDATE node_count
        SET active = active + added_active - removed_active,
            inactive = inactive + added_inactive - removed_inactive;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION node_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE node_count SET active = 0, inactive = 0;
    RETURN NULL;
END
$$;
ALTER TABLE node_count DROP COLUMN active_paused, DROP COLUMN inactive_paused;
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("node", "0005_hash_api_tokens")]

    operations = [
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False),
        migrations.AddIndex(
            model_name="node",
            index=models.Index(fields=["is_paused", "last_modified", "id"], name="node_paused_modified_idx"),
        ),
    ]
