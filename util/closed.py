"""Closed objects: a JSON object with only declared fields, each of a strict type, validated without a framework.

A :class:`ClosedObject` is the one declaration of such a body: it validates a mapping (the same
rules and messages whoever calls it: an API serializer, a form, a command) and renders its own
JSON schema, so what is documented is what is enforced. Undeclared fields are refused by name, so
a typo (``is_pause``) or a field that cannot be changed is an error rather than a silent no-op.

The messages are those of Django REST framework's fields, which API clients already see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# An error message names at most this many unknown fields, each cut to this length: a body with thousands
# of keys, or one huge key, gets a short answer.
_MAX_NAMED_UNKNOWN = 10
_MAX_NAME_LENGTH = 40

OBJECT_ERRORS_KEY = "non_field_errors"


class InvalidObject(ValueError):
    """A body broke its declaration; ``errors`` maps each field (or ``non_field_errors``) to its messages.

    ``str()`` names each field with its messages, e.g. ``is_paused: Must be a JSON boolean (true or false).``
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(
            " ".join(
                message if name == OBJECT_ERRORS_KEY else f"{name}: {message}"
                for name, messages in errors.items()
                for message in messages
            )
        )


@dataclass(frozen=True)
class BooleanField:
    """A JSON boolean and nothing else: ``"true"``, ``1`` or ``null`` are refused."""

    name: str
    description: str

    def clean(self, value: object) -> tuple[bool | None, list[str]]:
        """The value and no message, or None and what is wrong with it."""
        if value is None:
            return None, ["This field may not be null."]
        if not isinstance(value, bool):
            return None, ["Must be a JSON boolean (true or false)."]
        return value, []

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean", "description": self.description}


@dataclass(frozen=True)
class TextField:
    """A JSON string (or null) of at most ``max_length`` characters, trimmed, that can be stored as UTF-8.

    Numbers are not strings; NUL characters and lone surrogates are refused; a blank string is ``""``.
    """

    name: str
    description: str
    max_length: int

    def clean(self, value: object) -> tuple[str | None, list[str]]:
        """The trimmed value and no messages, or None and every message that applies."""
        if value is None:
            return None, []
        if not isinstance(value, str):
            return None, ["Not a valid string."]
        text = value.strip()
        if not text:
            return "", []
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None, ["Must be valid Unicode text; lone surrogate characters are not allowed."]
        errors = []
        if len(text) > self.max_length:
            errors.append(f"Ensure this field has no more than {self.max_length} characters.")
        if "\x00" in text:
            errors.append("Null characters are not allowed.")
        return (None if errors else text), errors

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "nullable": True, "description": self.description, "maxLength": self.max_length}


Field = BooleanField | TextField


def _short(name: str) -> str:
    return name if len(name) <= _MAX_NAME_LENGTH else name[:_MAX_NAME_LENGTH] + "..."


@dataclass(frozen=True)
class ClosedObject:
    """An object of the declared ``fields`` only, with at least ``min_fields`` of them."""

    fields: Sequence[Field]
    min_fields: int = 0
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The cleaned values of the fields present in ``data``, in declaration order.

        Every field's value is checked first and all their errors are reported together; only a
        body whose values are all good is then checked for unknown fields and for too few fields.
        Raises :class:`InvalidObject`.
        """
        cleaned: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for field in self.fields:
            if field.name in data:
                value, messages = field.clean(data[field.name])
                if messages:
                    errors[field.name] = messages
                else:
                    cleaned[field.name] = value
        if errors:
            raise InvalidObject(errors)
        declared = ", ".join(self.names)
        unknown = sorted(set(data) - set(self.names))
        if unknown:
            named = ", ".join(_short(name) for name in unknown[:_MAX_NAMED_UNKNOWN])
            more = f" and {len(unknown) - _MAX_NAMED_UNKNOWN} more" if len(unknown) > _MAX_NAMED_UNKNOWN else ""
            message = f"Unknown field(s): {named}{more}. Only {declared} can be changed."
            raise InvalidObject({OBJECT_ERRORS_KEY: [message]})
        if len(cleaned) < self.min_fields:
            count = "one" if self.min_fields == 1 else str(self.min_fields)
            raise InvalidObject({OBJECT_ERRORS_KEY: [f"Give at least {count} of {declared}."]})
        return cleaned

    def json_schema(self) -> dict[str, Any]:
        """The OpenAPI 3.0 schema of the object: its properties, closed to others, with ``minProperties``."""
        schema: dict[str, Any] = {"type": "object"}
        if self.description:
            schema["description"] = self.description
        schema["properties"] = {field.name: field.json_schema() for field in self.fields}
        schema["additionalProperties"] = False
        if self.min_fields:
            schema["minProperties"] = self.min_fields
        return schema
