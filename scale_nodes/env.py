"""Reading settings from the environment: shared by the Django settings and the gunicorn config."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable (1/0, true/false, yes/no, on/off in any case)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "t", "yes", "y", "on"}:
        return True
    if value in {"0", "false", "f", "no", "n", "off"}:
        return False
    raise ImproperlyConfigured(f"Environment variable {name} must be a boolean (true/false), got {raw!r}.")


def env_int(name: str, default: int) -> int:
    """Read a non-negative integer environment variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ImproperlyConfigured(f"Environment variable {name} must be a non-negative integer, got {raw!r}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated environment variable into a list of non-empty items."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def max_body_bytes() -> int:
    """The largest request body (``DATA_UPLOAD_MAX_MEMORY_SIZE``, Django's default 2.5 MB).

    One reading for both limits: Django's (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and the ASGI worker's,
    which refuses a larger body before reading it.
    """
    return env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
