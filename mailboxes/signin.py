"""Sign-in lockout (django-axes): the client address, the lockout page, the audit event.

Axes counts failed sign-ins per user name *and* address (AXES_LOCKOUT_PARAMETERS): after
AXES_FAILURE_LIMIT of them that pair is refused, the right password included, until
AXES_COOLOFF_TIME has passed without a new try. Someone guessing alice's password from
one address therefore locks alice out from that address only; she can still sign in
from elsewhere, and so can everyone else. API keys and signed-in sessions are not
touched: only the password sign-in goes through `authenticate()`.

Hooked up by settings (AXES_CLIENT_IP_CALLABLE, AXES_LOCKOUT_CALLABLE) and, for the
audit event, by `ClawbackAdminConfig.ready()`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str | None:
    """The address a sign-in came from: REMOTE_ADDR, or the proxy's header if BEHIND_PROXY.

    Behind proxies, the entry PROXY_COUNT places from the right of CLIENT_IP_HEADER is
    the one the nearest trusted proxy wrote; entries left of it are the client's own
    words and would let anyone pick the address they are counted under.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    if not settings.BEHIND_PROXY:
        return remote
    meta = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
    entries = [e.strip() for e in request.META.get(meta, "").split(",") if e.strip()]
    if len(entries) < settings.PROXY_COUNT:
        return remote
    try:
        return str(ipaddress.ip_address(entries[-settings.PROXY_COUNT]))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The page a locked-out sign-in gets instead of the login form (HTTP 429)."""
    from django.contrib import admin

    cool_off = settings.AXES_COOLOFF_TIME
    tried_at = getattr(request, "axes_attempt_time", None) or timezone.now()
    # Each try during the lockout starts the wait again, so it ends a cool-off after this one.
    retry_at = tried_at + cool_off
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    # Rendered here: a response made in middleware (AxesMiddleware) is not rendered later.
    response = render(
        request,
        "axes/lockout.html",
        {
            **admin.site.each_context(request),
            "title": "Too many failed sign-ins",
            "username": username,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": math.ceil(cool_off.total_seconds() / 60),
            "retry_at": retry_at,
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response


def record_lockout(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    """Audit the moment a user name gets locked out from an address (axes' user_locked_out).

    Axes sends the signal again on every refused try during the lockout; only the try
    that reached the limit is recorded (the log has each of them).
    """
    from mailboxes.audit import audit_record

    logger.warning("Sign-in locked out: user name %r from %s", username, ip_address)
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    audit_record(
        actor=None,
        action="signin.locked_out",
        data={"username": username or "", "ip": ip_address or ""},
    )
