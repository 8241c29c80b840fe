"""A JSON renderer that cannot fail on text a client sent."""

from __future__ import annotations

from typing import Any

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
