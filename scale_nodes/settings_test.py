"""Settings for the test suite: the production settings with a test key and fast password hashing.

``DATABASE_URL`` is honoured as in production, so the same suite runs on SQLite and PostgreSQL.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-key-not-secret")

from scale_nodes.settings import *  # noqa: F403
from scale_nodes.settings import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file rather than the in-memory default, so threads and the live server share one database
    # with SQLite's real locking, as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
