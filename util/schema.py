"""OpenAPI pieces of the shared API toolkit, for drf-spectacular.

The schema is generated from the code, so each generic piece documents itself next to the rule
it enforces (pagination, ordering, closed request bodies); this module holds what every API view
shares: the JSON error bodies of ``util.exceptions`` and the security of public reads.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from util.serializers import ClosedObjectSerializer


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema class, aware of permissions that let anonymous clients read.

    A permission class with a true ``documented_public_reads`` attribute makes its view's safe
    methods list "no authentication" among their security requirements, as drf-spectacular does on
    its own only for ``AllowAny`` and ``IsAuthenticatedOrReadOnly``.
    """

    def get_auth(self) -> list[dict]:
        auths = super().get_auth()
        public_reads = any(
            getattr(permission, "documented_public_reads", False) for permission in self.view.get_permissions()
        )
        if self.method in SAFE_METHODS and public_reads and {} not in auths:
            auths.append({})
        return auths

    def _get_request_body(self, direction: str = "request") -> dict | None:
        """The request body, marked required when its serializer needs at least one field.

        drf-spectacular leaves every PATCH body optional (DRF validates it partially), but a
        :class:`ClosedObjectSerializer` with ``min_fields`` refuses a request without one.
        """
        body = super()._get_request_body(direction)
        if body is None:
            return None
        serializer = force_instance(self.get_request_serializer())
        if isinstance(serializer, ClosedObjectSerializer) and serializer.body.min_fields:
            body["required"] = True
        return body


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API: JSON with a message a person can act on."""

    detail = serializers.CharField(help_text="What went wrong and, where it applies, what to send instead.")


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: `detail` sums up every problem; `errors` lists them by parameter or field, when known."""

    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=(
            "The messages of each query parameter or body field that was refused, by name; "
            "`non_field_errors` holds those about the body as a whole. Absent when the request could "
            "not be read at all (e.g. malformed JSON)."
        ),
    )


def error_response(description: str, *, examples: dict[str, str] | None = None) -> OpenApiResponse:
    """A documented error answer with the ``{"detail": ...}`` body and ``examples`` as ``{name: detail}``."""
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[OpenApiExample(name, value={"detail": detail}) for name, detail in (examples or {}).items()],
    )


def validation_error_response(description: str, *, examples: dict[str, dict] | None = None) -> OpenApiResponse:
    """A documented 400 with the ``{"detail": ..., "errors": {...}}`` body and whole bodies as ``examples``."""
    return OpenApiResponse(
        response=ValidationErrorSerializer,
        description=description,
        examples=[OpenApiExample(name, value=value) for name, value in (examples or {}).items()],
    )
