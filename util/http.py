"""Small helpers for HTTP headers."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

EVENT_STREAM = "text/event-stream"


def prefers_representation(request: HttpRequest) -> bool:
    """True when the ``Prefer`` header (RFC 7240) asks for ``return=representation``."""
    header = request.META.get("HTTP_PREFER", "")
    preferences = {part.split(";", 1)[0].strip().lower().replace(" ", "") for part in header.split(",")}
    return "return=representation" in preferences


# At most this many Accept headers (per set of renderers) have their choice remembered; others are negotiated anew.
REMEMBERED_ACCEPT_HEADERS = 256
_remembered_choices: dict[tuple[str, tuple[type, ...]], tuple[int, str]] = {}


class RememberedContentNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, which remembers what it chose for each ``Accept`` header and set of renderers.

    Without a format override (``?format=``, a format suffix), DRF's choice depends only on the
    ``Accept`` header and the renderers' classes, and every client of the API sends the same header
    on every request: the header is parsed and matched once, not on every request. A header that
    nothing renders is refused (406) as DRF refuses it.
    """

    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        """The renderer of ``renderers`` and the media type that DRF's negotiation chooses for ``request``."""
        if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
            return super().select_renderer(request, renderers, format_suffix)
        key = (request.META.get("HTTP_ACCEPT", "*/*"), tuple(type(renderer) for renderer in renderers))
        choice = _remembered_choices.get(key)
        if choice is None:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            choice = (next(i for i, candidate in enumerate(renderers) if candidate is renderer), media_type)
            if len(_remembered_choices) < REMEMBERED_ACCEPT_HEADERS:
                _remembered_choices[key] = choice
        return renderers[choice[0]], choice[1]


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
