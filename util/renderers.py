"""JSON renderers: one that cannot fail on text a client sent, and a fast one for the node lists.

``JSONRenderer`` is DRF's, falling back to ASCII escapes for text UTF-8 cannot encode.

``OrjsonRenderer`` writes DRF's ``JSONRenderer`` bytes several times faster, with orjson. DRF
renders compact JSON with ``json.dumps`` (``ensure_ascii=False``, ``,`` and ``:`` separators) and
escapes U+2028 and U+2029 afterwards. orjson writes the very same bytes for dicts with string keys,
lists, tuples, strings, integers, booleans, None, dates and datetimes (ISO-8601, with ``Z`` for UTC
as DRF's encoder writes them), so a view may hand it rows straight from the database.

Use it on views whose data holds no floats and no enums: orjson writes floats below 1e-4 in
another exponent notation, NaN and infinity as null, and plain enums by value, where DRF's path
differs or refuses. Everything else orjson cannot render (lazy translations, decimals, integers
beyond 64 bits, non-string keys, lone surrogates...) and pretty-printed responses (``indent``) go
through ``JSONRenderer``'s path, so they come out exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework import renderers


class _AsciiJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer (UTF-8, unescaped), falling back to ASCII escapes for text UTF-8 cannot encode.

    A JSON body may carry lone surrogates (``"\\ud800"``), valid JSON escapes that no UTF-8 text
    can hold; an error message that names such a key would otherwise fail to render and turn a
    400 into a 500. Escaped, it is still the same JSON value.
    """

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _AsciiJSONRenderer().render(data, accepted_media_type, renderer_context)


_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))
# Dataclasses pass through to ``_refuse``: DRF's encoder does not render them.
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS


class _LeftToDRF(Exception):
    """A value orjson does not render like DRF's encoder: the response goes through DRF's path."""


def _refuse(value: object) -> object:
    raise _LeftToDRF


class OrjsonRenderer(JSONRenderer):
    """``JSONRenderer``'s output for float-free data, produced by orjson (see the module docstring)."""

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        """The JSON bytes of ``data``, exactly as ``JSONRenderer.render`` writes them."""
        if data is None:
            return b""
        if (
            self.ensure_ascii
            or not self.compact
            or not self.strict
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_refuse, option=_OPTIONS)
        except (_LeftToDRF, orjson.JSONEncodeError, TypeError):
            return super().render(data, accepted_media_type, renderer_context)
        for raw, escaped in _LINE_SEPARATORS:
            if raw in body:
                body = body.replace(raw, escaped)
        return body
