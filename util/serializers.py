"""Serializers for request bodies that must be exactly what the contract says."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

# An error message names at most this many unknown fields, each cut to this length: a body with thousands
# of keys, or one huge key, gets a short answer.
_MAX_NAMED_UNKNOWN = 10
_MAX_NAME_LENGTH = 40


def _short(name: str) -> str:
    return name if len(name) <= _MAX_NAME_LENGTH else name[:_MAX_NAME_LENGTH] + "..."


class ClosedObjectSerializer(serializers.Serializer):
    """A JSON object with only the declared fields, and at least ``min_fields`` of them.

    DRF ignores undeclared fields; here they are refused by name, so a typo (``is_pause``) or a
    field that cannot be changed (``hostname``) is a 400 rather than a silent no-op. The OpenAPI
    schema says the same with ``additionalProperties: false`` and ``minProperties``.
    """

    min_fields = 0

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        declared = ", ".join(self.fields)
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                named = ", ".join(_short(name) for name in unknown[:_MAX_NAMED_UNKNOWN])
                more = f" and {len(unknown) - _MAX_NAMED_UNKNOWN} more" if len(unknown) > _MAX_NAMED_UNKNOWN else ""
                raise serializers.ValidationError(f"Unknown field(s): {named}{more}. Only {declared} can be changed.")
        if len(attrs) < self.min_fields:
            count = "one" if self.min_fields == 1 else str(self.min_fields)
            raise serializers.ValidationError(f"Give at least {count} of {declared}.")
        return attrs


class ClosedObjectSerializerExtension(OpenApiSerializerExtension):
    """Document a :class:`ClosedObjectSerializer` as an object closed to other properties."""

    target_class = ClosedObjectSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        if self.target.min_fields:
            schema["minProperties"] = self.target.min_fields
        return schema
