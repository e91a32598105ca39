"""Outbound webhooks: endpoints per tenant and the log of every event sent to them."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from mailboxes import crypto
from mailboxes.access import TenantScopedQuerySet
from mailboxes.models import Tenant

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    """A URL of a tenant's SIEM (or any receiver) that gets every event, signed."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    name = models.CharField(max_length=100, help_text="For you, e.g. 'Splunk (SOC)'.")
    url = models.URLField(
        "URL", max_length=2000, help_text="HTTPS address the events are POSTed to."
    )
    # The signing secret, encrypted like tenant credentials; shown once, never again.
    secret_ciphertext = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text="Event types to send (exact, or a prefix such as 'retraction.*'); "
        "empty: every event.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failure since the last success."
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["tenant__name", "name", "id"]

    def __str__(self) -> str:
        return self.name

    def set_secret(self, secret: str) -> None:
        # "signing_secret" is among crypto.SECRET_FIELDS: log redaction knows the value.
        self.secret_ciphertext = crypto.encrypt_json({"signing_secret": secret})

    def get_secret(self) -> str:
        return crypto.decrypt_json(self.secret_ciphertext)["signing_secret"]

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribed to `event_type` (no filter: everything)."""
        return wants(self.event_types, event_type)


def wants(patterns: list[str], event_type: str) -> bool:
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (will retry)"
    GAVE_UP = "gave_up", "Gave up"


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class WebhookDelivery(models.Model):
    """One event for one endpoint: what was (or will be) sent, and how it went."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # The log outlives a deleted endpoint (its open deliveries are given up then).
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    event_id = models.UUIDField(help_text="The event's id: the same for every endpoint.")
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The event as sent (without the delivery id).")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Set by the conditional update that claims the delivery for one sending run.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            # What the sender looks for: open deliveries that are due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "failed"]),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["tenant", "-created_at"], name="webhook_delivery_tenant"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
            models.Index(fields=["claim_token"], name="webhook_delivery_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint or 'deleted endpoint'} ({self.status})"
