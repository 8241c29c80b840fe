"""Node liveness (``NodeLiveness``): one row per node that has sent a heartbeat, apart from ``node``; and an index
on the change index of history records (the record behind a change of the feed).

On PostgreSQL the liveness table leaves half of each page free (``fillfactor``): a heartbeat rewrites
its row's ``last_seen``, which no index covers, so the new version fits on the same page and the
update touches no index (a HOT update), at ten thousand heartbeats a second.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = "ALTER TABLE node_liveness SET (fillfactor = 50)"
BACKWARD = "ALTER TABLE node_liveness RESET (fillfactor)"


def _on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("node", "0007_node_search_trigram")]

    operations = [
        migrations.CreateModel(
            name="NodeLiveness",
            fields=[
                (
                    "node",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="liveness",
                        serialize=False,
                        to="node.node",
                    ),
                ),
                ("last_seen", models.DateTimeField()),
                (
                    "state",
                    models.CharField(
                        choices=[("never", "Never"), ("online", "Online"), ("offline", "Offline")],
                        default="online",
                        max_length=8,
                    ),
                ),
            ],
            options={"verbose_name_plural": "node liveness", "db_table": "node_liveness"},
        ),
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False),
        migrations.AddIndex(
            model_name="nodechange",
            index=models.Index(fields=["change_index"], name="node_change_index_idx"),
        ),
    ]
