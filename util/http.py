"""Small helpers for HTTP headers."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

EVENT_STREAM = "text/event-stream"


def prefers_representation(request: HttpRequest) -> bool:
    """True when the ``Prefer`` header (RFC 7240) asks for ``return=representation``."""
    header = request.headers.get("Prefer", "")
    preferences = {part.split(";", 1)[0].strip().lower().replace(" ", "") for part in header.split(",")}
    return "return=representation" in preferences


class FirstRendererNegotiation(BaseContentNegotiation):
    """Always the view's first renderer, whatever ``Accept`` says.

    For views whose successful answer DRF does not render (a stream): their errors come out in the
    first renderer's format instead of a 406 for a client that accepts only the stream's type.
    """

    def select_parser(self, request: Request, parsers: Sequence[object]) -> object | None:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type
