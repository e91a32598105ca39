"""Tenants, who may act on them (memberships), and API keys."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from mailboxes import crypto
from mailboxes.access import Role, TenantScopedQuerySet, tenant_ids_for


class Provider(models.TextChoices):
    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google Workspace"


class IngestionMode(models.TextChoices):
    API = "api", "API verdicts"
    JOURNAL = "journal", "Journaling (SMTP)"
    BCC = "bcc", "BCC copies (SMTP)"


class AuthorizationStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    AUTHORIZED = "authorized", "Authorized"
    UNAUTHORIZED = "unauthorized", "Not authorized"
    ERROR = "error", "Check failed (provider error)"


class TenantQuerySet(models.QuerySet):
    def for_user(self, user: Any, role: Role | str = Role.VIEWER) -> TenantQuerySet:
        ids = tenant_ids_for(user, role)
        return self.all() if ids is None else self.filter(pk__in=ids)

    def all_tenants(self) -> TenantQuerySet:
        return self.all()


class Tenant(models.Model):
    """A customer organisation on Microsoft 365 or Google Workspace."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    domains = models.JSONField(default=list, blank=True, help_text="Mail domains of the tenant.")
    ingestion_mode = models.CharField(
        max_length=16, choices=IngestionMode.choices, default=IngestionMode.API
    )
    journal_address = models.EmailField(
        max_length=320,
        unique=True,
        null=True,
        blank=True,
        help_text="Envelope recipient that the tenant journals or BCCs to.",
    )
    # Microsoft 365: directory (tenant) id and application (client) id are not secret.
    ms_directory_tenant_id = models.CharField("directory tenant id", max_length=64, blank=True)
    ms_client_id = models.CharField("application (client) id", max_length=64, blank=True)
    # Google Workspace: the admin the service account impersonates for directory calls.
    google_admin_subject = models.EmailField("admin subject", max_length=320, blank=True)
    # Secret part (client secret, certificate key, service-account key), encrypted.
    credentials_ciphertext = models.TextField(blank=True, editable=False)
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Only for the demo, tests and benchmarks: the base URL of the provider emulator.
    # Production settings (ALLOW_PROVIDER_EMULATOR off) refuse to use it.
    provider_endpoint = models.URLField(
        "emulator endpoint",
        blank=True,
        help_text="Base URL of the provider emulator (demo and tests only; blank = real provider).",
    )

    authorization_status = models.CharField(
        max_length=16, choices=AuthorizationStatus.choices, default=AuthorizationStatus.UNKNOWN
    )
    authorization_checked_at = models.DateTimeField(null=True, blank=True)
    authorization_error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Tenant {self.pk} {self.slug} {self.provider}>"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_ciphertext)

    def set_credentials(self, credentials: dict[str, Any]) -> None:
        """Encrypt and keep the secret part of the credentials (caller saves)."""
        self.credentials_ciphertext = crypto.encrypt_json(credentials) if credentials else ""
        self.credentials_updated_at = timezone.now()

    def get_credentials(self) -> dict[str, Any]:
        if not self.credentials_ciphertext:
            return {}
        return crypto.decrypt_json(self.credentials_ciphertext)

    def credentials_summary(self) -> str:
        """A description of the stored credentials that reveals nothing secret."""
        if not self.credentials_ciphertext:
            return "none"
        try:
            creds = self.get_credentials()
        except crypto.CredentialsUnreadable:
            return "unreadable with the configured keys"
        if "client_secret" in creds:
            return "client secret"
        if "certificate_private_key" in creds:
            thumb = creds.get("certificate_thumbprint", "")
            return f"certificate {thumb[:8]}…" if thumb else "certificate"
        if "service_account_info" in creds:
            email = creds["service_account_info"].get("client_email", "")
            return f"service account {email}" if email else "service account key"
        return "set"


class Membership(models.Model):
    """A user's role on one tenant."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")
        ]
        ordering = ["tenant__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} · {self.tenant} · {self.get_role_display()}"


API_KEY_PREFIX = "cbk"


def hash_api_key(raw: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is as good as a slow one.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiKey(models.Model):
    """A key an integration sends as `Authorization: Bearer <key>`; acts as its user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, *, user: Any, name: str) -> tuple[ApiKey, str]:
        """Create a key; the plain text is returned once and never stored."""
        prefix = secrets.token_hex(4)
        raw = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        key = cls.objects.create(user=user, name=name, prefix=prefix, key_hash=hash_api_key(raw))
        return key, raw

    @classmethod
    def lookup(cls, raw: str) -> ApiKey | None:
        parts = raw.split("_", 2)  # the random part may contain "_" too
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
            return None
        if not (parts[1].isascii() and parts[1].isalnum()):
            return None  # not a prefix we issue (and a NUL would fail the query on PostgreSQL)
        key = cls.objects.active().select_related("user").filter(prefix=parts[1]).first()
        if key is None or not secrets.compare_digest(key.key_hash, hash_api_key(raw)):
            return None
        return key
