"""Settings of the node registry, read from the environment.

Every setting an operator may change comes from an environment variable (see README.md); with no
environment at all the service runs in production mode on an embedded SQLite file, except that it
then needs ``SECRET_KEY``. ``make run`` sets ``DEBUG=1`` for local use.
"""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from scale_nodes.env import env_bool, env_int, env_list, max_body_bytes

BASE_DIR = Path(__file__).resolve().parent.parent


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Reads of the v6 API are open to anonymous clients unless this is switched off.
PUBLIC_READ_API = env_bool("PUBLIC_READ_API", True)

# The change feed: waiting requests (``changes?wait=``) wake on PostgreSQL's NOTIFY, received on
# one connection per server process to LISTEN_DATABASE_URL (PostgreSQL itself, never a pooler in
# transaction mode, which cannot carry LISTEN) or else to DATABASE_URL. On SQLite they read the
# clock every FEED_POLL_SECONDS.
LISTEN_DATABASE_URL = (
    os.environ.get("LISTEN_DATABASE_URL", "").strip() or os.environ.get("DATABASE_URL", "").strip() or None
)
FEED_POLL_SECONDS = env_int("FEED_POLL_MILLISECONDS", 200) / 1000
# The event stream (GET /v6/nodes/events/): a comment line after this many seconds without an
# event keeps idle connections open through proxies; each process keeps the newest EVENTS_BUFFER
# events in memory for its streams (a client further behind catches up from the database).
EVENTS_HEARTBEAT_SECONDS = env_int("EVENTS_HEARTBEAT_SECONDS", 15)
EVENTS_BUFFER = env_int("EVENTS_BUFFER", 10_000)
# Caps per server process: open event streams, waiting long-polls (changes?wait=), and of each of
# them what one client (its user, else its address) may hold; beyond them a new one is refused
# (503, or 429 for a client over its share) before it starts.
EVENTS_MAX_STREAMS = env_int("EVENTS_MAX_STREAMS", 5_000)
CHANGES_MAX_WAITING = env_int("CHANGES_MAX_WAITING", 5_000)
WATCH_MAX_PER_CLIENT = env_int("WATCH_MAX_PER_CLIENT", 100)
# A stream resumes from at most this many change indexes behind the newest (further back: 410, list
# first); open streams have their credentials checked again every EVENTS_RECHECK_SECONDS.
EVENTS_RETAINED_CHANGES = env_int("EVENTS_RETAINED_CHANGES", 10_000)
EVENTS_RECHECK_SECONDS = env_int("EVENTS_RECHECK_SECONDS", 30)

# Node liveness: a node is online while its last heartbeat is younger than NODE_HEARTBEAT_TTL seconds,
# offline after. Every server process looks for nodes that went offline or came back every
# NODE_REAP_SECONDS (0: never; `manage.py nodes reap` then does it) and records each transition once;
# a process marks nodes offline only once it has been up for the TTL itself. A node offline for
# NODE_OFFLINE_DEACTIVATE_SECONDS is deactivated by the system (0, the default: never).
NODE_HEARTBEAT_TTL = env_int("NODE_HEARTBEAT_TTL", 30)
NODE_REAP_SECONDS = env_int("NODE_REAP_SECONDS", 2)
NODE_OFFLINE_DEACTIVATE_SECONDS = env_int("NODE_OFFLINE_DEACTIVATE_SECONDS", 0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens stored as hashes, expiring and revocable (accounts.tokens, accounts.authentication).
    "knox",
    # Lockout of repeated failed logins and tokens, recorded in the database (accounts.lockout).
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "node",
]

MIDDLEWARE = [
    # Outermost, so the request metrics cover the whole stack; it also answers /metrics itself.
    "observability.metrics.MetricsMiddleware",
    # Next, so every response (errors and static files included) carries the request id and is logged.
    "serving.middleware.RequestLogMiddleware",
    # Before anything reads the Host header: a host ALLOWED_HOSTS refuses is a JSON 400 for the API
    # and the probes (JSON_ERROR_PATHS), in DEBUG too.
    "serving.middleware.JsonHostCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer (CONTENT_SECURITY_POLICY below): django-csp's middleware,
    # with the policy of an answer that changes nothing built once.
    "serving.middleware.ContentSecurityPolicyMiddleware",
    # whitenoise, async-capable: every middleware here is, so async views run on the event loop.
    "serving.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's messages, their storage made only for a request that uses them (the admin, not the API).
    "serving.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 answer (accounts.lockout).
    "axes.middleware.AxesMiddleware",
]

# django-axes first: a locked-out client is refused before its password is hashed. Then Django's
# model backend, reading a user's permissions in one query (accounts.permissions).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.permissions.PermissionsModelBackend",
]
# After LOGIN_FAILURE_LIMIT failed logins for one user name, or failed logins and API tokens from one
# address, that user name or address is refused (429) for LOGIN_LOCKOUT_MINUTES; every instance sees
# the same attempts (they are rows in the database). A successful login clears the user's count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = "accounts.lockout.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# In DEBUG (a developer's machine) the loopback addresses are never locked out, nor their failures counted.
AXES_NEVER_LOCKOUT_WHITELIST = DEBUG
AXES_IP_WHITELIST = ["127.0.0.1", "::1"] if DEBUG else None
# The passwords tried are never stored; neither are the other form fields.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password"]

ROOT_URLCONF = "scale_nodes.urls"
# The paths whose errors before any view (a refused Host, a malformed request) are JSON, as the API's are.
JSON_ERROR_PATHS = ("/v6/", "/healthz", "/readyz")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own templates: the offline Redoc page of the API docs.
        "DIRS": [BASE_DIR / "scale_nodes" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "scale_nodes.wsgi.application"
ASGI_APPLICATION = "scale_nodes.asgi.application"

# Every page the service serves (the admin, the API docs, Redoc and the browsable API) runs only its
# own scripts: files from this origin, and inline scripts that carry the request's nonce. Styles may
# be inline, as Swagger UI and Redoc set them at run time; Redoc runs its search in a blob: worker,
# and Swagger UI draws icons as data: images. Nothing may frame the pages or post them elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "worker-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Database: DATABASE_URL selects any database; without it, an embedded SQLite file.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        # Off by default: the check is one more round trip at the start of every request. Without
        # it, a connection broken by a database restart fails the one request that meets it and is
        # then closed (Django drops a connection that errored), so each worker recovers at once.
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that cannot be reached must fail a request quickly (503), not hang a worker until
    # the load balancer gives up; keepalives notice a peer that vanished without closing the socket.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 3),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
    )
    # DATABASE_URL names a pooler in transaction mode (PgBouncer's pool_mode = transaction): each
    # transaction may run on another server connection, so nothing may outlive one. The service
    # keeps no session state (no session SET, only SET LOCAL; no advisory lock, temporary table or
    # LISTEN; the time zone Django may set on connecting is one PgBouncer tracks and restores) and
    # psycopg2 prepares no statements. What remains is the named cursor iterator() declares, whose later fetches could
    # reach another server connection: it is turned off, and the driver then reads all rows at once.
    DB_TRANSACTION_POOLING = env_bool("DB_TRANSACTION_POOLING", False)
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_TRANSACTION_POOLING
    # Django's backend, whose queries take the statement timeout of API requests (util.statement_timeout).
    DATABASES["default"]["ENGINE"] = "serving.postgresql"

# Every query an API request runs is cancelled by PostgreSQL after this many milliseconds (0: never),
# and the request answered 503. The slowest legitimate API query at a million nodes (a full list
# count, a deep page, a search matching most nodes) takes a few hundred milliseconds, 0.55 s at
# most: 2 s leaves it four times that under load, and bounds how long one request can hold the
# process's sync thread and a database connection. Set by statement (SET LOCAL, which ends with its
# transaction), so it passes through a transaction pooler and reaches nothing else: not the change
# listener, migrations or management commands. PostgreSQL only.
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 2000)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the lock when their transaction begins (IMMEDIATE) and wait for it up to the
    # timeout, so concurrent PATCHes queue up instead of failing with "database is locked"; WAL
    # lets readers go on while one writer works.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's database sessions, ignoring cookies that cannot be session keys (see accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# whitenoise serves the collected files (admin, browsable API) from each instance, compressed and
# with hashed names cached forever; `manage.py collectstatic` fills STATIC_ROOT before serving.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# In development static files are served straight from the apps, without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# HTTPS. TLS usually ends at the load balancer: SECURE_PROXY_SSL_HEADER=true makes the service
# trust its X-Forwarded-Proto header (only safe when clients cannot reach the instances directly).
# Health checks are exempt from the redirect so a load balancer may probe over plain HTTP.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Joining the browsers' HSTS preload list is a decision for the owner of the whole domain, not
    # a default of this service; `check --deploy` would otherwise recommend it.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
X_FRAME_OPTIONS = "DENY"

# The largest request body. The ASGI worker refuses a larger Content-Length or chunk (413) before
# reading it, from the same reading of the environment, so both limits always agree.
DATA_UPLOAD_MAX_MEMORY_SIZE = max_body_bytes()
# How many values one query string (or form body) may carry: the node list takes up to 1,000 values
# of each repeatable filter (`id`, `hostname`) with its other parameters, so that a refused list
# names the filter; Django's default of 1,000 in all would refuse 1,000 ids with a `page_size`.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2100
# A body larger than this is spooled to a temporary file while it is read, rather than held in
# memory: many large bodies in flight at once then cost disk, not the process's memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "util.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["util.parsers.StrictJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its scheme is what a 401 names in WWW-Authenticate.
        "accounts.authentication.TokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.ModelPermissionWritesPublicReads"],
    "EXCEPTION_HANDLER": "util.exceptions.api_exception_handler",
    # DRF's negotiation, its choice for each Accept header made once (util.http).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "util.http.RememberedContentNegotiation",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "util.schema.AutoSchema",
    # How many proxies in front of the service append to X-Forwarded-For: the client address of the
    # login lockout (accounts.lockout.client_ip) is the entry the nearest of them added; 0: REMOTE_ADDR.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}

# API tokens (accounts.tokens): new tokens expire after this many days unless created with another
# lifetime (`manage.py create_api_token --expires`); 0 means they never expire.
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 90)
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(days=API_TOKEN_TTL_DAYS) if API_TOKEN_TTL_DAYS else None,
    "AUTH_HEADER_PREFIX": "Token",
}

# The OpenAPI contract (openapi.yaml, /v6/schema/) and its docs (/v6/docs/, /v6/redoc/). The UI assets
# come from drf-spectacular-sidecar's static files, so the docs work without internet access.
SPECTACULAR_SETTINGS = {
    "TITLE": "Scale node registry: v6 Node Services",
    "DESCRIPTION": (BASE_DIR / "scale_nodes" / "openapi-description.md").read_text(encoding="utf-8"),
    "VERSION": "6",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/v6",
    # One component per body ("NodeUpdate"), not a "Patched" copy: PATCH is the only way to send it.
    "COMPONENT_SPLIT_PATCH": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Prometheus metrics at /metrics (observability.metrics): readable with "Authorization: Bearer <METRICS_TOKEN>"
# or from METRICS_ALLOWED_ADDRESSES (addresses or networks; by default this host only). The
# collectors add figures read from the database at scrape time.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", ["127.0.0.1", "::1"])
METRICS_COLLECTORS = ["node.metrics.NodeCollector"]

# LOG_FORMAT=json writes one JSON object per line (for log shippers); plain is for people.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"Environment variable LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "observability.logging.PlainFormatter"},
        "json": {"()": "observability.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Django's own console handler would print every request warning a second time, and the
        # request log line (serving.middleware) already reports each 4xx/5xx.
        "django": {"handlers": ["console"], "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
