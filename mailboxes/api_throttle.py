"""API rate limits: per API key (a user may hold several), per user for browser sessions.

Three budgets, each a sliding window kept in the shared cache (settings.CACHES):

- `read`: GET, HEAD and OPTIONS (API_RATE_LIMIT, default 600/min);
- `ingest`: verdicts and raw messages posted by detection systems, which come in
  bursts (API_INGEST_RATE_LIMIT, default 120/min, each request up to 1,000 verdicts);
- `write`: every other change (API_WRITE_RATE_LIMIT, default 120/min).

A view names the actions that count as ingest in `throttle_scopes`. Over the limit the
API answers 429 with `Retry-After` (seconds) and a JSON `detail`. Anonymous callers
(the schema and docs pages) are counted per client address.

Kept apart from `api_base` because DRF reads DEFAULT_THROTTLE_CLASSES while
`rest_framework.views` is still loading, so this module imports no views.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import permissions, throttling

READ, WRITE, INGEST = "read", "write", "ingest"
_SETTING = {READ: "API_RATE_LIMIT", WRITE: "API_WRITE_RATE_LIMIT", INGEST: "API_INGEST_RATE_LIMIT"}


def scope_for(request: Any, view: Any) -> str:
    """Which budget a request spends: read, ingest or write."""
    if request.method in permissions.SAFE_METHODS:
        return READ
    scopes = getattr(view, "throttle_scopes", None) or {}
    return scopes.get(getattr(view, "action", None), WRITE)


def ident_for(request: Any) -> str:
    """Whose budget: the API key, else the signed-in user, else the client address."""
    from mailboxes.models import ApiKey

    if isinstance(request.auth, ApiKey):
        return f"key{request.auth.pk}"
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user{user.pk}"
    from mailboxes.signin import client_ip

    return f"addr{client_ip(request) or 'unknown'}"


class ApiRateThrottle(throttling.SimpleRateThrottle):
    """DRF's sliding-window throttle; the rate is read from settings on every request."""

    def __init__(self) -> None:
        # The scope, and so the rate, is only known once the request is seen.
        self.rate = None

    def allow_request(self, request: Any, view: Any) -> bool:
        self.scope = scope_for(request, view)
        self.rate = getattr(settings, _SETTING[self.scope], None)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident_for(request)}
