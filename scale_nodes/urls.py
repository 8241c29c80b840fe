"""Root URLs: the v6 API, the admin, health probes, and JSON errors for anything unknown under /v6/."""

from django.contrib import admin
from django.urls import include, path, re_path

from util.exceptions import api_not_found, server_error_handler
from util.health import healthz, readyz

API_PREFIX = "/v6/"

urlpatterns = [
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^readyz/?$", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("v6/", include("node.urls")),
    re_path(r"^v6(?:/.*)?$", api_not_found),
]

handler500 = server_error_handler((API_PREFIX,))
