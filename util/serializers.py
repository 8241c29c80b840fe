"""A DRF serializer over a :class:`util.closed.ClosedObject`: the API's view of a body declared once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import get_doc
from rest_framework import serializers

from util.closed import ClosedObject, InvalidObject


class ClosedObjectSerializer(serializers.Serializer):
    """Validates a request body with ``body`` (a :class:`ClosedObject`) and answers its errors per field.

    A body that is not a JSON object is refused as DRF refuses it; the object itself is validated by
    ``body`` alone, so the rules and messages are those every other caller of ``body`` gets.
    """

    body: ClosedObject

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            # DRF's own refusal of anything but an object.
            return super().to_internal_value(data)
        try:
            return self.body.validate(data)
        except InvalidObject as exc:
            raise serializers.ValidationError(exc.errors) from None


class ClosedObjectSerializerExtension(OpenApiSerializerExtension):
    """Document a :class:`ClosedObjectSerializer` with the schema its ``body`` renders of itself."""

    target_class = ClosedObjectSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = self.target.body.json_schema()
        description = get_doc(self.target.__class__)
        if description and "description" not in schema:
            schema = {"type": schema["type"], "description": description, **schema}
        return schema
