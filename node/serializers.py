"""The node's JSON shape, and validation of the PATCH body."""

from collections.abc import Iterable, Sequence
from typing import Any

from rest_framework import serializers

from node.models import PAUSE_REASON_MAX_LENGTH, Node
from node.services import UPDATABLE_FIELDS

NODE_FIELDS = ("id", "hostname", "pause_reason", "is_paused", "is_active", "deprecated", "created", "last_modified")


class NodeSerializer(serializers.ModelSerializer):
    """The eight documented fields of a node; datetimes in UTC ending in ``Z``."""

    class Meta:
        model = Node
        fields = NODE_FIELDS
        read_only_fields = NODE_FIELDS


def node_rows_data(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """``NodeSerializer(many=True).data`` for rows of ``NODE_FIELDS`` values, without the per-field work.

    The datetimes stay datetimes: the database hands them over in UTC, and ``OrjsonRenderer``
    writes them exactly as ``NodeSerializer`` does (ISO-8601 ending in ``Z``). Used by the list,
    whose cost per row this keeps to one dict.
    """
    return [dict(zip(NODE_FIELDS, row, strict=True)) for row in rows]


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean and nothing else: ``"true"``, ``1`` or ``null`` are refused."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data: object) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class StrictCharField(serializers.CharField):
    """A JSON string that can be stored as UTF-8: numbers are not strings, NULs and lone surrogates are refused."""

    default_error_messages = {"unencodable": "Must be valid Unicode text; lone surrogate characters are not allowed."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("unencodable")
        return value


class NodeUpdateSerializer(serializers.Serializer):
    """The PATCH body: a JSON object with any of the changeable fields and nothing else."""

    pause_reason = StrictCharField(
        max_length=PAUSE_REASON_MAX_LENGTH, allow_null=True, allow_blank=True, required=False
    )
    is_paused = StrictBooleanField(required=False)
    is_active = StrictBooleanField(required=False)

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown field(s): {', '.join(unknown)}. Only {', '.join(UPDATABLE_FIELDS)} can be changed."
            )
        if not attrs:
            raise serializers.ValidationError(f"Give at least one of {', '.join(UPDATABLE_FIELDS)}.")
        return attrs
