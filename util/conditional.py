"""Conditional requests (RFC 9110 section 13): entity tags, If-None-Match and If-Match.

Entity tags are built from values the caller takes from the database (for example a row's id and
modification time), never from process memory, so every instance of a service computes the same
tag for the same data. Tags are strong: equal tags promise byte-identical JSON.
"""

import hashlib
from collections.abc import Collection, Iterable

from django.http import HttpRequest, HttpResponseNotModified
from django.utils.http import parse_etags


class PreconditionFailed(Exception):
    """A write's precondition (``If-Match``) does not hold; the API answers 412 and writes nothing.

    ``etag`` is the current entity tag, sent back so the client can tell what it missed.
    """

    def __init__(self, message: str, *, etag: str | None = None) -> None:
        super().__init__(message)
        self.etag = etag


def make_etag(parts: Iterable[object]) -> str:
    """A strong, opaque entity tag (quoted) for the sequence of ``parts`` (compared by their ``str``)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(str(part).encode())
        digest.update(b"\x1f")
    return f'"{digest.hexdigest()}"'


def make_etag_of_bytes(data: bytes) -> str:
    """A strong, opaque entity tag (quoted) for the bytes of a representation."""
    return f'"{hashlib.blake2b(data, digest_size=16).hexdigest()}"'


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")


def etag_matches(etag: str, candidates: Collection[str], *, weak: bool) -> bool:
    """Whether ``etag`` is one of ``candidates`` (parsed tags, or ``["*"]`` for any current entity).

    Weak comparison (If-None-Match) ignores the ``W/`` prefix; strong comparison (If-Match) never
    matches a weak tag.
    """
    if "*" in candidates:
        return True
    if weak:
        return _opaque(etag) in {_opaque(tag) for tag in candidates}
    return not etag.startswith("W/") and etag in {tag for tag in candidates if not tag.startswith("W/")}


class InvalidPrecondition(ValueError):
    """A precondition header that names nothing (``If-Match:`` with an empty value); the API answers 400."""


def if_match_tags(request: HttpRequest) -> list[str] | None:
    """The tags of the request's ``If-Match`` header, ``["*"]`` for ``*``, or ``None`` without one.

    A header that holds no well-formed tag gives an empty list, which matches nothing. An empty
    header raises :class:`InvalidPrecondition`: it is a client's mistake (an unset variable), not
    a version that no longer matches.
    """
    header = request.META.get("HTTP_IF_MATCH")
    if header is None:
        return None
    if not header.strip():
        raise InvalidPrecondition(
            "If-Match is empty: send the ETag of the node as read (or *), or leave the header out."
        )
    return parse_etags(header)


def if_match_required_tags(request: HttpRequest) -> list[str] | None:
    """The strong tags of which a write needs one to be current, or ``None`` when the write is unconditional.

    No ``If-Match``, and ``If-Match: *`` (any current representation, which a write to an existing
    resource always has), are unconditional. Weak tags never match for a write (strong comparison),
    so they are dropped; a header with no usable tag gives an empty list, which nothing matches.
    """
    tags = if_match_tags(request)
    if tags is None or "*" in tags:
        return None
    return [tag for tag in tags if not tag.startswith("W/")]


def is_not_modified(request: HttpRequest, etag: str) -> bool:
    """True when the request's ``If-None-Match`` names ``etag``: the client's copy is current."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    return header is not None and etag_matches(etag, parse_etags(header), weak=True)


def not_modified(etag: str) -> HttpResponseNotModified:
    """A 304 with no body that repeats the current ``ETag``."""
    response = HttpResponseNotModified()
    response["ETag"] = etag
    return response
