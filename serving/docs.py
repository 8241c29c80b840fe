"""The API reference pages, served whole from this origin so they work offline and under a strict CSP.

Redoc's bundle shows the Redocly logo from its vendor's CDN in the sidebar: the only thing it would
fetch from the internet. ``RedocBundleView`` serves the bundle shipped by drf-spectacular-sidecar
with that image replaced by an empty inline one; ``OfflineRedocView`` points the Redoc page at it.
"""

from __future__ import annotations

from functools import cache

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views import View
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from util.query import KnownQueryParams

SIDECAR_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
_VENDOR_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@cache
def redoc_bundle() -> bytes:
    """The sidecar's Redoc bundle with its vendor logo replaced by an empty inline image."""
    path = finders.find(SIDECAR_BUNDLE)
    if path is None:
        raise FileNotFoundError(SIDECAR_BUNDLE)
    with open(path, "rb") as bundle:
        return bundle.read().replace(_VENDOR_LOGO.encode(), _EMPTY_IMAGE.encode())


class RedocBundleView(View):
    """Redoc's bundle, served from this origin with nothing left to fetch elsewhere (cached for a day)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(redoc_bundle(), content_type="text/javascript; charset=utf-8")
        response["Cache-Control"] = "public, max-age=86400"
        return response


class OfflineRedocView(SpectacularRedocView):
    """drf-spectacular's Redoc page, loading the bundle of ``RedocBundleView`` (URL name ``redoc-bundle``)."""

    def _redoc_standalone(self) -> str:
        return reverse("redoc-bundle")


class SchemaView(KnownQueryParams, SpectacularAPIView):
    """drf-spectacular's OpenAPI document, refusing query parameters it does not read (``format`` picks JSON or YAML).

    The documentation pages stay as drf-spectacular serves them: Swagger UI and Redoc read
    parameters of their own in the browser.
    """

    query_params = ("lang", "version")
