"""Two-factor sign-in (TOTP through django-otp): login form, self-enrolment page, API check.

Two-factor authentication is optional per person: whoever enrols an authenticator app
must give its code at every sign-in; whoever has none signs in with the password alone.
Hard delete (`mailboxes.access.require_second_factor`) is where it stops being optional:
only a session signed in with a code, or an API request carrying one, may hard delete.

Codes come in two shapes, and a token is only tried on the device of its shape (trying it
on every device would count a failure, and a throttling delay, on the others):

- six digits: the authenticator app (one TOTP device per person, `Authenticator app`);
- eight letters and digits: one of the ten single-use backup codes handed out when the app
  is confirmed, for the day the phone is lost (sign-in and the page below only; the API
  takes app codes alone).
"""

from __future__ import annotations

import re
from base64 import b32encode
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django_otp import login as otp_login
from django_otp.models import Device, VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mailboxes.audit import audit_record
from mailboxes.forms import AdminLoginForm

OTP_HEADER = "X-Clawback-OTP"
OTP_HEADER_META = "HTTP_X_CLAWBACK_OTP"
APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODES = 10

_APP_CODE = re.compile(r"^\d{6,8}$")
_BACKUP_CODE = re.compile(r"^[a-z2-7]{8}$")


def has_two_factor(user: Any) -> bool:
    """Whether the user enrolled (and confirmed) an authenticator app."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def _normalized(token: str) -> str:
    return re.sub(r"[\s-]", "", token or "").lower()


def check_token(user: Any, token: str, *, backup_codes: bool = True) -> tuple[Device | None, str]:
    """(the user's confirmed device that accepts `token` now, None) or (None, why not)."""
    token = _normalized(token)
    if not token:
        return None, "Enter the 6-digit code from your authenticator app."
    if _APP_CODE.match(token):
        model: type[Device] = TOTPDevice
    elif backup_codes and _BACKUP_CODE.match(token):
        model = StaticDevice
    else:
        shape = "a 6-digit code" + (" or an 8-character backup code" if backup_codes else "")
        return None, f"This is not a two-factor code: enter {shape}."
    with transaction.atomic():
        # Locked rows: two requests with the same code cannot both spend it.
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            allowed, extra = device.verify_is_allowed()
            if not allowed:
                return None, _throttled(extra or {})
            if device.verify_token(token):
                return device, ""
    return None, "This code is not valid: it is wrong, expired or already used."


def _throttled(extra: dict[str, Any]) -> str:
    if extra.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS and extra.get("locked_until"):
        wait = max(1, int((extra["locked_until"] - timezone.now()).total_seconds()) + 1)
        return f"Too many wrong codes in a row: wait {wait} seconds, then enter a new code."
    return "Two-factor codes cannot be checked right now: try again in a minute."


class ApiSecondFactor:
    """`user.is_verified` for an API key's user: a valid current app code in X-Clawback-OTP.

    Checked on the first call only (a code is spent when checked); `refusal` then says
    what was wrong, for the 403 answer.
    """

    def __init__(self, user: Any, token: str) -> None:
        self.user = user
        self.token = token
        self.refusal = ""
        self._verified: bool | None = None

    def __call__(self) -> bool:
        if self._verified is None:
            self._verified = self._check()
        return self._verified

    def _check(self) -> bool:
        if not has_two_factor(self.user):
            self.refusal = (
                "Hard delete needs two-factor authentication, and the API key's user has "
                "none: enrol an authenticator app in the admin (“Two-factor authentication”), "
                f"then send its current code in the {OTP_HEADER} header."
            )
            return False
        if not _normalized(self.token):
            self.refusal = (
                "Hard delete needs two-factor authentication: send the current code of the "
                f"API key's user's authenticator app in the {OTP_HEADER} header."
            )
            return False
        device, problem = check_token(self.user, self.token, backup_codes=False)
        if device is None:
            self.refusal = f"{OTP_HEADER}: {problem}"
            return False
        self.user.otp_device = device
        return True


# --- Sign-in --------------------------------------------------------------------------------


class TwoFactorLoginForm(AdminLoginForm):
    """The admin login: password, then a code for whoever enrolled an authenticator app.

    A wrong code counts as a failed sign-in for the lockout (django-axes), as a wrong
    password does, on top of django-otp's growing delay between tries.
    """

    otp_token = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
        help_text="Only if you turned on two-factor authentication: the code from your "
        "authenticator app, or one of your backup codes.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        user = self.get_user()
        if user is None or not has_two_factor(user):
            return data
        token = data.get("otp_token", "")
        device, problem = check_token(user, token)
        if device is None:
            if _normalized(token):
                user_login_failed.send(
                    sender=type(self),
                    credentials={"username": data.get("username")},
                    request=self.request,
                )
            raise forms.ValidationError(
                "This account signs in with two-factor authentication. " + problem,
                code="otp_token",
            )
        # django-otp's user_logged_in receiver keeps it in the session: is_verified().
        user.otp_device = device
        return data


# --- The "Two-factor authentication" page ----------------------------------------------------


class TokenForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


def qr_svg(text: str) -> str:
    """`text` as a QR code: an inline <svg> (no image file, no script), white behind it."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, border=2)
    svg = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code of the key" ', 1)


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _new_backup_codes(user: Any) -> list[str]:
    """Replace the user's backup codes with BACKUP_CODES new ones; returns them."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def two_factor_view(request: HttpRequest, *, site: Any) -> HttpResponse:
    """Enrol an authenticator app (QR code, confirm with a code), renew backup codes, remove."""
    user = request.user
    app = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    pending = None if app else TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    page_url = reverse(f"{site.name}:two_factor")
    form = TokenForm(request.POST if request.method == "POST" else None)
    step = request.POST.get("step", "") if request.method == "POST" else ""
    new_codes: list[str] = []

    if step == "start" and app is None:
        with transaction.atomic():
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
        return HttpResponseRedirect(page_url)
    if step == "cancel" and pending is not None:
        pending.delete()
        return HttpResponseRedirect(page_url)
    if step == "confirm" and pending is not None and form.is_valid():
        allowed, extra = pending.verify_is_allowed()
        if not allowed:
            form.add_error("otp_token", _throttled(extra or {}))
        elif pending.verify_token(_normalized(form.cleaned_data["otp_token"])):
            with transaction.atomic():
                pending.confirmed = True
                pending.save(update_fields=["confirmed"])
                new_codes = _new_backup_codes(user)
                audit_record(
                    actor=user, action="two_factor.enrolled", target=user, data={}, via="admin"
                )
            # The code just given proves the app: this session counts as signed in with it.
            otp_login(request, pending)
            app, pending = pending, None
            messages.success(
                request,
                "Two-factor authentication is on: from now on, signing in asks for a code "
                "from your authenticator app.",
            )
        else:
            form.add_error(
                "otp_token",
                "This code does not match: check the time on your phone, then enter the code "
                "the app shows now.",
            )
    if step in ("renew", "remove") and app is not None and form.is_valid():
        device, problem = check_token(user, form.cleaned_data["otp_token"])
        if device is None:
            form.add_error("otp_token", problem)
        elif step == "renew":
            with transaction.atomic():
                new_codes = _new_backup_codes(user)
                audit_record(
                    actor=user,
                    action="two_factor.backup_codes_renewed",
                    target=user,
                    data={},
                    via="admin",
                )
            messages.success(request, "New backup codes: the old ones no longer work.")
        else:
            with transaction.atomic():
                TOTPDevice.objects.filter(user=user).delete()
                StaticDevice.objects.filter(user=user).delete()
                audit_record(
                    actor=user, action="two_factor.removed", target=user, data={}, via="admin"
                )
            messages.warning(
                request,
                "Two-factor authentication is off: you sign in with your password alone, "
                "and you cannot hard delete until you turn it on again.",
            )
            return HttpResponseRedirect(page_url)

    context: dict[str, Any] = {
        **site.each_context(request),
        "title": "Two-factor authentication",
        "app": app,
        "pending": pending,
        "form": form if form.errors else TokenForm(),
        "failed_step": step if form.errors else "",
        "new_codes": new_codes,
        "verified": user.is_verified(),
    }
    if app is not None:
        context["backup_codes_left"] = StaticToken.objects.filter(device__user=user).count()
    if pending is not None:
        context["otpauth_url"] = pending.config_url
        context["secret"] = _grouped(b32encode(pending.bin_key).decode())
        # Our own markup from the qrcode library, not user input.
        context["qr_svg"] = mark_safe(qr_svg(pending.config_url))  # noqa: S308
    return TemplateResponse(request, "admin/two_factor/manage.html", context)
