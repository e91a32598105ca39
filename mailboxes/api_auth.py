"""API key authentication: `Authorization: Bearer <key>`.

A key acts as its user, with that user's roles but never with a signed-in session, so it
carries no second factor of its own. Hard delete (see `mailboxes.access.require_second_factor`)
therefore asks for the user's current TOTP code in the `X-Clawback-OTP` header, checked only
when an action needs it: the code is single-use, and other requests must not spend it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from mailboxes.models import ApiKey
from mailboxes.two_factor import OTP_HEADER_META, ApiSecondFactor

# Writing last_used_at on every request would turn each read into a write; once a
# minute is precise enough to tell a live key from a dead one.
_TOUCH_EVERY = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <key>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        key = ApiKey.lookup(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        user = key.user
        user.is_verified = ApiSecondFactor(user, request.META.get(OTP_HEADER_META, ""))
        return user, key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
