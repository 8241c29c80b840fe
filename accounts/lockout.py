"""Lockout of repeated failed logins and token authentications (django-axes, state in the database).

django-axes records every failed attempt in the database, so a lockout holds on every instance.
A password login is locked out per user name and, separately, per client address; a failed API
token counts against the client address only (a token names no user). A locked-out client is
refused before any password is hashed or token looked up, so a guessing client costs one small
query per attempt instead of a password hash.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.throttling import BaseThrottle

# The key under which a failed token authentication is recorded; it holds no part of the token.
TOKEN_CREDENTIALS = {"username": None, "api_token": True}


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or with ``NUM_PROXIES`` > 0 the address the nearest proxy saw.

    DRF's own reading of ``X-Forwarded-For`` (as its throttles use it): only the entries appended by
    the ``NUM_PROXIES`` trusted proxies count, so a client cannot pick its address by sending one.
    """
    return BaseThrottle().get_ident(request)


def lockout_parameters(request: HttpRequest, credentials: dict[str, Any] | None) -> list[str]:
    """What a lockout is counted by: address alone for API tokens, else user name or address (each on its own)."""
    if credentials and credentials.get("api_token"):
        return ["ip_address"]
    return ["username", "ip_address"]


def is_locked_out(request: HttpRequest, *, credentials: dict[str, Any]) -> bool:
    """Whether the client (by ``credentials`` and address) is locked out now; never for an address that
    ``AXES_IP_WHITELIST`` exempts (loopback, in DEBUG)."""
    return not AxesProxyHandler.is_allowed(request, credentials)


def record_failed_token(request: HttpRequest) -> None:
    """Count a failed token authentication against the client's address, as a failed login is counted."""
    user_login_failed.send(sender=__name__, credentials=dict(TOKEN_CREDENTIALS), request=request)


def lockout_detail(request: HttpRequest | None = None) -> str:
    """What a locked-out client is told: how long the lockout lasts, and how an administrator lifts it at once
    (with the client's address as the service sees it, when ``request`` is given)."""
    cool_off = get_cool_off()
    minutes = f" for {int(cool_off.total_seconds() // 60)} minutes" if cool_off else ""
    address = (client_ip(request) if request is not None else None) or "<address>"
    return (
        f"Too many failed logins or tokens from this client: it is locked out{minutes}. An administrator can "
        f"lift the lockout at once with 'manage.py axes_reset_ip {address}' (or 'manage.py axes_reset_username "
        "<name>' for a user name)."
    )


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: Any) -> HttpResponse:
    """django-axes's answer to a locked-out login: 429 with ``Retry-After``, JSON under ``/v6/``."""
    cool_off = get_cool_off(request)
    if request.path.startswith("/v6/"):
        response: HttpResponse = JsonResponse({"detail": lockout_detail(request)}, status=429)
    else:
        response = HttpResponse(lockout_detail(request), status=429, content_type="text/plain; charset=utf-8")
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
