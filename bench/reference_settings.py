"""Settings of the plain-DRF reference server: what a user would run instead of the service.

The project's settings (database, apps, templates) with the reference URLs, and none of the
service's own layers: no middleware, DRF's own ``TokenAuthentication`` (plain tokens of
``rest_framework.authtoken``, in this reference only), DRF's JSON parser and renderer, Django's
own PostgreSQL backend (no statement timeout) and no login lockout.
"""

from scale_nodes.settings import *  # noqa: F403
from scale_nodes.settings import DATABASES, INSTALLED_APPS, REST_FRAMEWORK

ROOT_URLCONF = "bench.reference"
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "axes"] + ["rest_framework.authtoken"]
MIDDLEWARE: list[str] = []
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if DATABASES["default"]["ENGINE"] == "serving.postgresql":
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["bench.reference_permissions.IsStaffOrReadOnly"],
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "rest_framework.negotiation.DefaultContentNegotiation",
}
