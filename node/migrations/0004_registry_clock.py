"""The registry clock: one row that orders every write to nodes, and each node's latest change index.

Existing nodes get change indexes in ``last_modified`` order (ties by id), so a client reading the
change feed from the start sees every node once, oldest change first; the clock starts after the
last of them, at the newest ``last_modified`` (or now). History records written before the clock
have no index. On PostgreSQL a trigger on the clock row sends ``NOTIFY node_changes`` with the new
index on every advance; PostgreSQL delivers it when the writing transaction commits, never for a
rolled-back one.
"""

import datetime as dt

from django.db import migrations, models

NOTIFY_FORWARD = """
CREATE FUNCTION registry_clock_advanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.change_index <> OLD.change_index THEN
        PERFORM pg_notify('node_changes', NEW.change_index::text);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER registry_clock_notify AFTER UPDATE ON registry_clock
    FOR EACH ROW EXECUTE FUNCTION registry_clock_advanced();
"""
NOTIFY_BACKWARD = """
DROP TRIGGER IF EXISTS registry_clock_notify ON registry_clock;
DROP FUNCTION IF EXISTS registry_clock_advanced();
"""

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def number_nodes_and_start_clock(apps, schema_editor) -> None:
    connection = schema_editor.connection
    Node = apps.get_model("node", "Node")
    RegistryClock = apps.get_model("node", "RegistryClock")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # No write may slip in between the numbering and the clock taking over.
            cursor.execute("LOCK TABLE node IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(
                "UPDATE node SET change_index = numbered.position FROM "
                "(SELECT id, row_number() OVER (ORDER BY last_modified, id) AS position FROM node) AS numbered "
                "WHERE node.id = numbered.id"
            )
    else:
        for position, pk in enumerate(Node.objects.order_by("last_modified", "id").values_list("pk", flat=True), 1):
            Node.objects.filter(pk=pk).update(change_index=position)
    last = Node.objects.order_by("-last_modified").values_list("last_modified", flat=True).first()
    last = max(last, dt.datetime.now(dt.UTC)) if last else dt.datetime.now(dt.UTC)
    RegistryClock.objects.create(
        pk=1, change_index=Node.objects.count(), time_us=(last - EPOCH) // dt.timedelta(microseconds=1)
    )


def notify_forward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_FORWARD)


def notify_backward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("node", "0003_node_count")]

    operations = [
        migrations.CreateModel(
            name="RegistryClock",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("change_index", models.BigIntegerField()),
                ("time_us", models.BigIntegerField()),
            ],
            options={"db_table": "registry_clock"},
        ),
        migrations.AddField(
            model_name="node",
            name="change_index",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="nodechange",
            name="change_index",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(number_nodes_and_start_clock, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="node",
            name="change_index",
            field=models.BigIntegerField(editable=False, unique=True),
        ),
        migrations.RunPython(notify_forward, notify_backward),
    ]
