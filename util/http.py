"""Small helpers for HTTP headers."""

from django.http import HttpRequest


def prefers_representation(request: HttpRequest) -> bool:
    """True when the ``Prefer`` header (RFC 7240) asks for ``return=representation``."""
    header = request.headers.get("Prefer", "")
    preferences = {part.split(";", 1)[0].strip().lower().replace(" ", "") for part in header.split(",")}
    return "return=representation" in preferences
