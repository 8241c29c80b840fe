"""Strict parsing of scalar query parameter values.

Each function raises ``ValueError`` with a message naming the parameter and what it accepts.
"""

import re

_TRUE_WORDS = frozenset({"true", "t", "1"})
_FALSE_WORDS = frozenset({"false", "f", "0"})
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# Beyond this many digits a number is only ever "too large"; converting it would cost time for nothing.
_MAX_DIGITS = 18


def shown(value: str, limit: int = 60) -> str:
    """Quote a client's value for an error message, cut short so a huge value cannot flood the reply."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def parse_boolean(value: str) -> bool:
    """Parse ``true/false``, ``t/f`` or ``1/0`` in any letter case; raise ``ValueError`` otherwise."""
    word = value.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"expected a boolean (true/false, t/f or 1/0), got {shown(value)}.")


def parse_int_in_range(value: str, *, minimum: int, maximum: int | None = None) -> int:
    """Parse a decimal integer made of ASCII digits only and check ``minimum <= n <= maximum``.

    Signs, spaces, exponents (``1e3``), underscores and decimal points are refused. With no
    ``maximum`` a number too long to matter is returned as ``10**_MAX_DIGITS``, which is larger than
    any real bound such as a page count. Raises ``ValueError`` naming the allowed range.
    """
    allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
    if not _ASCII_DIGITS.fullmatch(value):
        raise ValueError(f"expected {allowed}, got {shown(value)}.")
    digits = value.lstrip("0") or "0"
    number = 10**_MAX_DIGITS if len(digits) > _MAX_DIGITS else int(digits)
    if number < minimum or (maximum is not None and number > maximum):
        raise ValueError(f"expected {allowed}, got {shown(value)}.")
    return number


def check_length(value: str, *, min_length: int, max_length: int, too_short: str = "") -> str:
    """``value`` when it has ``min_length`` to ``max_length`` characters; else ``ValueError`` saying how many it
    has (with ``too_short``, why a shorter text is refused)."""
    if len(value) < min_length and too_short:
        raise ValueError(f"expected at least {min_length} characters, got {len(value)}: {too_short}")
    if not min_length <= len(value) <= max_length:
        raise ValueError(f"expected {min_length} to {max_length} characters, got {len(value)}.")
    return value
