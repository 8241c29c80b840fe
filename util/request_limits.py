"""The words of a refusal that every layer of the serving stack gives alike: a request body too large.

The server's connection handler, the WSGI and ASGI entry points and the API's error handler each
refuse a body over the limit, at whichever point sees it first; they answer with this one message.
"""


def body_too_large_message(limit: int) -> str:
    """The ``detail`` of a 413 for a request body over ``limit`` bytes."""
    return f"Request body too large: at most {limit} bytes are accepted."
