"""Admin forms: login by membership, write-only tenant credentials, memberships, API keys.

Secrets are write-only: the credential inputs never render a value, not even
the one just submitted when the form comes back with an error, and an empty
input keeps what is stored. Validation errors describe the problem, never the
input.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_domain_name

from mailboxes.access import has_any_role
from mailboxes.models import ApiKey, Mailbox, Membership, Provider, Tenant


class AdminLoginForm(AdminAuthenticationForm):
    """Admin login for superusers and anyone holding a role on a tenant (no `is_staff`)."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter the correct %(username)s and password of an account with "
            "access to at least one tenant. Both fields may be case-sensitive."
        ),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        if not user.is_active or not has_any_role(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value: what goes in a secret field stays out of pages."""

    def format_value(self, value: Any) -> None:
        return None


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def _secret_textarea() -> WriteOnlyTextarea:
    return WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})


class DomainListField(forms.CharField):
    """Mail domains as one comma- or space-separated line; a list of lower-case names."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [d.lower() for d in re.split(r"[\s,;]+", text or "") if d]

    def validate(self, value: list[str]) -> None:
        for domain in value:
            try:
                validate_domain_name(domain)
            except ValidationError:
                raise ValidationError(f"“{domain}” is not a domain name.") from None


THUMBPRINT = re.compile(r"^[0-9A-F]{40}$")


def load_private_key(pem: str) -> Any:
    """Parse an unencrypted PEM private key, or raise a readable ValidationError."""
    try:
        return serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except TypeError:
        raise ValidationError(
            "The private key is protected by a password; export it without one."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationError(
            "This is not a PEM private key (a block starting with -----BEGIN PRIVATE KEY-----)."
        ) from None


def _public_der(key: Any) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate_thumbprint(value: str, private_key: Any) -> str:
    """The SHA-1 thumbprint (upper-case hex) from a PEM certificate or a thumbprint as typed."""
    value = value.strip()
    if "-----BEGIN" in value:
        try:
            cert = x509.load_pem_x509_certificate(value.encode())
        except ValueError:
            raise ValidationError("This is not a PEM certificate.") from None
        if private_key is not None and _public_der(cert.public_key()) != _public_der(
            private_key.public_key()
        ):
            raise ValidationError("This certificate does not belong to the private key.")
        # Microsoft identifies app certificates by their SHA-1 thumbprint.
        return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    thumbprint = re.sub(r"[\s:]", "", value).upper()
    if not THUMBPRINT.match(thumbprint):
        raise ValidationError(
            "Enter the certificate (PEM) or its SHA-1 thumbprint (40 hexadecimal digits)."
        )
    return thumbprint


SERVICE_ACCOUNT_KEYS = ("client_email", "private_key", "token_uri")


def parse_service_account_key(text: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        raise ValidationError(
            "This is not JSON: paste the whole key file downloaded from Google Cloud."
        ) from None
    if not isinstance(info, dict):
        raise ValidationError("The key file must be a JSON object.")
    if info.get("type", "service_account") != "service_account":
        raise ValidationError(
            "This is not a service-account key (its type is not service_account)."
        )
    missing = [k for k in SERVICE_ACCOUNT_KEYS if not isinstance(info.get(k), str) or not info[k]]
    if missing:
        raise ValidationError(f"The key file lacks {', '.join(missing)}.")
    try:
        load_private_key(info["private_key"])
    except ValidationError:
        raise ValidationError("The private_key in the key file is not a PEM private key.") from None
    return info


class TenantForm(forms.ModelForm):
    """A tenant with write-only credentials; `credentials_change` says what to store."""

    SECRET_FIELDS = (
        "ms_client_secret",
        "ms_certificate_private_key",
        "ms_certificate",
        "google_service_account_key",
    )
    CREDENTIAL_FIELDS = (*SECRET_FIELDS, "clear_credentials")

    domains = DomainListField(
        required=False, help_text="Mail domains of the tenant, separated by commas."
    )
    ms_client_secret = forms.CharField(
        label="Client secret",
        required=False,
        widget=_secret_input(),
        help_text="Microsoft 365: the app registration's client secret value.",
    )
    ms_certificate_private_key = forms.CharField(
        label="Certificate private key (PEM)",
        required=False,
        strip=False,
        widget=_secret_textarea(),
        help_text="Microsoft 365, instead of a client secret: the certificate's private key.",
    )
    ms_certificate = forms.CharField(
        label="Certificate (PEM) or thumbprint",
        required=False,
        widget=_secret_textarea(),
        help_text="The public certificate uploaded to the app registration, or its thumbprint.",
    )
    google_service_account_key = forms.CharField(
        label="Service-account key (JSON)",
        required=False,
        widget=_secret_textarea(),
        help_text="Google Workspace: the key file of the service account with domain-wide "
        "delegation.",
    )
    clear_credentials = forms.BooleanField(
        label="Clear the stored credentials",
        required=False,
        help_text="Retraction stops working for this tenant until new credentials are entered.",
    )

    class Meta:
        model = Tenant
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # None: keep the stored credentials; {}: clear them; a dict: replace them.
        self.credentials_change: dict[str, Any] | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not any(name in self.fields for name in self.CREDENTIAL_FIELDS):
            return data
        given = {name for name in self.SECRET_FIELDS if data.get(name, "").strip()}
        if data.get("clear_credentials"):
            if given:
                self.add_error(
                    "clear_credentials", "Either clear the credentials or enter new ones."
                )
            else:
                self.credentials_change = {}
            return data
        if not given:
            return data
        provider = data.get("provider") or self.instance.provider
        if provider == Provider.MICROSOFT:
            self._clean_microsoft(data, given)
        elif provider == Provider.GOOGLE:
            self._clean_google(data, given)
        return data

    def _clean_microsoft(self, data: dict[str, Any], given: set[str]) -> None:
        if "google_service_account_key" in given:
            self.add_error(
                "google_service_account_key",
                "This tenant is on Microsoft 365: enter a client secret or a certificate.",
            )
            return
        if "ms_client_secret" in given:
            if given & {"ms_certificate_private_key", "ms_certificate"}:
                self.add_error(
                    "ms_client_secret", "Enter a client secret or a certificate, not both."
                )
                return
            self.credentials_change = {"client_secret": data["ms_client_secret"].strip()}
            return
        if "ms_certificate_private_key" not in given:
            self.add_error(
                "ms_certificate_private_key", "A certificate needs its private key as well."
            )
            return
        if "ms_certificate" not in given:
            self.add_error("ms_certificate", "Enter the certificate or its thumbprint as well.")
            return
        pem = data["ms_certificate_private_key"].strip()
        try:
            key = load_private_key(pem)
        except ValidationError as exc:
            self.add_error("ms_certificate_private_key", exc)
            return
        try:
            thumbprint = certificate_thumbprint(data["ms_certificate"], key)
        except ValidationError as exc:
            self.add_error("ms_certificate", exc)
            return
        self.credentials_change = {
            "certificate_private_key": pem + "\n",
            "certificate_thumbprint": thumbprint,
        }

    def _clean_google(self, data: dict[str, Any], given: set[str]) -> None:
        for name in given - {"google_service_account_key"}:
            self.add_error(
                name, "This tenant is on Google Workspace: enter a service-account key instead."
            )
        if "google_service_account_key" not in given or self.errors:
            return
        try:
            info = parse_service_account_key(data["google_service_account_key"])
        except ValidationError as exc:
            self.add_error("google_service_account_key", exc)
            return
        self.credentials_change = {"service_account_info": info}


def _active_user(username: str) -> Any:
    user = get_user_model()._default_manager.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError("There is no active user with this user name.")
    return user


class MembershipForm(forms.ModelForm):
    """A role on a tenant; on creation the user is named by exact user name, not picked.

    A dropdown would list every account of the installation to every tenant admin.
    """

    username = forms.CharField(
        label="User name",
        max_length=150,
        help_text="The exact user name of an existing, active account.",
    )

    class Meta:
        model = Membership
        fields = ["tenant", "role"]

    def clean_username(self) -> Any:
        return _active_user(self.cleaned_data["username"].strip())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        user, tenant = data.get("username"), data.get("tenant")
        if user is not None:
            self.instance.user = user
            if tenant is not None and Membership.objects.filter(user=user, tenant=tenant).exists():
                self.add_error(
                    "username", "This user already has a role on this tenant; change that one."
                )
        return data


class ApiKeyForm(forms.ModelForm):
    """A new API key: a name, and (superusers only) whose key it is."""

    username = forms.CharField(
        label="For user",
        max_length=150,
        required=False,
        help_text="Leave blank for a key of your own. The key acts with that user's roles.",
    )

    class Meta:
        model = ApiKey
        fields = ["name"]

    def clean_username(self) -> Any:
        username = self.cleaned_data["username"].strip()
        return _active_user(username) if username else None


class MailboxForm(forms.ModelForm):
    class Meta:
        model = Mailbox
        fields = ["tenant", "address", "kind", "display_name", "external_id"]

    def clean_address(self) -> str:
        return self.cleaned_data["address"].strip().lower()
