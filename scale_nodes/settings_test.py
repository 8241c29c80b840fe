"""Settings for the test suite: the production settings with a test key and fast password hashing.

``DATABASE_URL`` is honoured as in production, so the same suite runs on SQLite and PostgreSQL.
The test client speaks plain HTTP, so the HTTPS redirect is off, and static files are looked up
where they lie instead of in a manifest that only ``collectstatic`` writes.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-key-not-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from scale_nodes.settings import *  # noqa: F403
from scale_nodes.settings import BASE_DIR, DATABASES, STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file rather than the in-memory default, so threads and the live server share one database
    # with SQLite's real locking, as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
