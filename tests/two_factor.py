"""Two-factor helpers for tests: enrol an authenticator app, compute its codes, sign in with it."""

from __future__ import annotations

import functools
from typing import Any

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import is_verified
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from mailboxes.two_factor import APP_DEVICE_NAME


def enrol(user: Any, *, confirmed: bool = True) -> TOTPDevice:
    """The user's authenticator app (created if need be), as the two-factor page leaves it."""
    device = TOTPDevice.objects.filter(user=user).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=confirmed)
    return device


def code(device: TOTPDevice) -> str:
    """The code the app shows now, as if none had been used yet in this 30-second step.

    Tests outrun the clock: a device refuses a second code from the step it last accepted
    (replay protection) and delays the next try after a wrong one (throttling). Both are
    reset here; the tests of those two rules do not call this between their steps.
    """
    TOTPDevice.objects.filter(pk=device.pk).update(
        last_t=-1, throttling_failure_count=0, throttling_failure_timestamp=None
    )
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    right = int(code(device))
    return f"{(right + 500_000) % 1_000_000:06d}"


def verified(user: Any) -> Any:
    """The user as django-otp's middleware hands it to a session signed in with a code."""
    user.otp_device = enrol(user)
    user.is_verified = functools.partial(is_verified, user)
    return user


def force_verified_login(client: Any, user: Any) -> TOTPDevice:
    """`client.force_login(user)`, and the session marked as signed in with the user's app."""
    device = enrol(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


class VerifiedApiCalls:
    """Mixin for ApiTestCase: `call_verified`, like `call` from a session signed in with a code."""

    def call_verified(self, user: Any, method: str, url: str, data: Any = None, **extra: Any):
        self.client.logout()
        force_verified_login(self.client, user)
        handler = getattr(self.client, method.lower())
        return handler(url, data if data is not None else {}, format="json", **extra)
