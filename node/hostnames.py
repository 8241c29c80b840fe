"""Hostname validation (RFC 1123)."""

import re

# A label: 1-63 letters, digits and hyphens, neither starting nor ending with a hyphen.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
# The same rule for a whole hostname in one match: a bulk registration checks a million names.
_HOSTNAME = re.compile(rf"{_LABEL.pattern}(?:\.{_LABEL.pattern})*", re.ASCII)


def validate_hostname(value: str, *, max_length: int = 253) -> str:
    """Return ``value`` if it is an RFC 1123 hostname of at most ``max_length`` characters.

    A single trailing dot (the DNS root) is refused so that one host has one spelling. Raises
    ``ValueError`` saying what is wrong.
    """
    if not value:
        raise ValueError("a hostname must not be empty.")
    if len(value) > max_length:
        raise ValueError(f"a hostname has at most {max_length} characters, this one has {len(value)}.")
    if _HOSTNAME.fullmatch(value):
        return value
    for label in value.split("."):
        if not _LABEL.fullmatch(label):
            raise ValueError(
                f"{value[:60]!r} is not a valid hostname: each dot-separated label must be 1-63 letters, "
                "digits or hyphens, not starting or ending with a hyphen."
            )
    return value
