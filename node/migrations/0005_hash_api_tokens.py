"""Hash the API tokens of rest_framework.authtoken into django-rest-knox's tokens, and drop the plain ones.

Until now the tokens were stored in plain text (``authtoken_token``). Each one becomes a knox token
with the same value (its SHA-512 digest and first 15 characters are stored), no expiry and the same
user, so every script keeps working; then the plain-text table is dropped and authtoken's migration
records are removed, so that the app, if it were ever installed again, would start empty.
A fresh database has no such table, and this does nothing. Not reversible: the plain tokens are gone.
"""

import hashlib

from django.db import migrations

PLAIN_TABLE = "authtoken_token"
# knox.settings.CONSTANTS.TOKEN_KEY_LENGTH, frozen here as migrations must be.
TOKEN_KEY_LENGTH = 15


def hash_plaintext_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if PLAIN_TABLE not in connection.introspection.table_names():
        return
    AuthToken = apps.get_model("knox", "AuthToken")
    quoted = connection.ops.quote_name(PLAIN_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id FROM {quoted}")  # noqa: S608
        rows = cursor.fetchall()
    AuthToken.objects.bulk_create(
        AuthToken(
            # knox.crypto.hash_token with its default algorithm (SHA-512 of the UTF-8 bytes).
            digest=hashlib.sha512(key.encode("utf-8")).hexdigest(),
            token_key=key[:TOKEN_KEY_LENGTH],
            user_id=user_id,
            expiry=None,
        )
        for key, user_id in rows
    )
    schema_editor.execute(f"DROP TABLE {quoted}")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


class Migration(migrations.Migration):
    dependencies = [
        ("node", "0004_registry_clock"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop, elidable=False)]
