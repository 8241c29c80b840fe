"""A strict JSON request parser: UTF-8 JSON objects as RFC 8259 defines them, and nothing looser.

DRF's own parser decodes the body with whatever charset the ``Content-Type`` names (a UTF-8 body
sent as ``charset=latin-1`` is stored garbled), keeps the last of duplicated keys silently, and
lets a deeply nested body fail with a server error. This one answers each of these with a 4xx
that says what is wrong. Bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` never reach it: DRF reads
them through ``request.body``, which refuses them first (a 413, see ``util.exceptions``).
"""

from __future__ import annotations

import codecs
import json
from typing import IO, Any

from django.utils.http import parse_header_parameters
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

from util.values import shown

# Far beyond any real request, well below the integer size Python refuses to convert (4300 digits).
_MAX_NUMBER_DIGITS = 100


def _is_utf8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing a key given twice: which of the two values wins is not defined."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {shown(key, limit=40)} in an object")
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has more than {_MAX_NUMBER_DIGITS} digits")
    return int(digits)


class StrictJSONParser(JSONParser):
    """Parse ``application/json`` bodies that are UTF-8 JSON text with no duplicated keys.

    A ``charset`` parameter other than UTF-8 is a 415 (RFC 8259 allows no other encoding). Bytes
    that are not UTF-8, malformed JSON, ``NaN``/``Infinity``, a key given twice in one object,
    numbers of more than 100 digits and nesting too deep to read are a 400 ``ParseError``
    whose message starts with ``JSON parse error``.
    """

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        charset = parse_header_parameters(media_type or "")[1].get("charset")
        if charset is not None and not _is_utf8(charset):
            raise UnsupportedMediaType(
                media_type,
                detail=f"JSON bodies must be UTF-8 (RFC 8259); charset {shown(charset, limit=40)} is not supported.",
            )
        raw = stream.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"JSON parse error - the body is not UTF-8 (invalid byte at position {exc.start})."
            ) from None
        try:
            return json.loads(
                text,
                object_pairs_hook=_object_without_duplicate_keys,
                parse_constant=_refuse_constant,
                parse_int=_bounded_int,
            )
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}.") from None
