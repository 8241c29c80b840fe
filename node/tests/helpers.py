"""Small helpers shared by the node tests."""

from django.http import HttpResponse


def body(response: HttpResponse) -> str:
    """The response body as text, for assertion messages that explain a failure."""
    return response.content.decode(errors="replace")
