"""Root URLs: a landing page, the v6 API and its OpenAPI docs, the admin, health probes, JSON errors under /v6/."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView
from knox.models import AuthToken

from node.admin_display import ApiTokenAdmin
from node.views import ServiceIndexView
from serving.docs import OfflineRedocView, RedocBundleView, SchemaView
from serving.health import healthz, readyz
from util.exceptions import api_not_found, bad_request_handler, server_error_handler

API_PREFIX = "/v6/"

admin.site.site_header = admin.site.site_title = "Scale node registry"
# The admin's "View site" link: the landing page.
admin.site.site_url = "/"
# API tokens listed by user, creation and expiry (knox's own list leads with the 128-character digest).
admin.site.unregister(AuthToken)
admin.site.register(AuthToken, ApiTokenAdmin)

urlpatterns = [
    # The landing page for people (JSON for clients that ask for it), at the root and at the API's root.
    re_path(r"^(?:v6/?)?$", ServiceIndexView.as_view(), name="service-index"),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^readyz/?$", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("v6/", include("node.urls")),
    # The OpenAPI contract (YAML, or JSON with ?format=json or Accept: application/json) and its docs.
    path("v6/schema/", SchemaView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own, which the CSP allows.
    path("v6/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path(
        "v6/redoc/",
        OfflineRedocView.as_view(url_name="schema", template_name="scale_nodes/redoc.html"),
        name="redoc",
    ),
    path("v6/redoc/redoc.standalone.js", RedocBundleView.as_view(), name="redoc-bundle"),
    re_path(r"^v6(?:/.*)?$", api_not_found),
]

handler400 = bad_request_handler(tuple(settings.JSON_ERROR_PATHS))
handler500 = server_error_handler((API_PREFIX,))
