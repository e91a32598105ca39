"""Mailboxes, messages and their delivered copies."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mailboxes.access import TenantScopedQuerySet
from mailboxes.vocabulary import Disposition

from .tenancy import Tenant


class MailboxKind(models.TextChoices):
    USER = "user", "User mailbox"
    SHARED = "shared", "Shared mailbox"
    GROUP = "group", "Group / distribution list"
    UNKNOWN = "unknown", "Unknown"


class Mailbox(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="mailboxes")
    address = models.CharField(max_length=320, help_text="SMTP address, lower case.")
    kind = models.CharField(max_length=16, choices=MailboxKind.choices, default=MailboxKind.UNKNOWN)
    display_name = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The provider's id for the user or group."
    )
    members = models.ManyToManyField(
        "self",
        through="GroupMembership",
        through_fields=("group", "member"),
        symmetrical=False,
        related_name="member_of",
        blank=True,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "mailboxes"
        ordering = ["address"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "address"], name="mailbox_unique_address")
        ]

    def __str__(self) -> str:
        return self.address


class GroupMembership(models.Model):
    """A member of a group / distribution list (as the provider's directory or ingest told us)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="group_memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="group_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.group}"


class MessageSource(models.TextChoices):
    API = "api", "Verdict API"
    UPLOAD = "upload", "Raw MIME upload"
    SMTP = "smtp", "SMTP journal / BCC"
    DEMO = "demo", "Demo data"


class MessageQuerySet(TenantScopedQuerySet):
    def retractable(self) -> MessageQuerySet:
        return self.exclude(internet_message_id__isnull=True)


class Message(models.Model):
    """A message as delivered to a tenant, unique per tenant by Internet Message-ID."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="messages")
    internet_message_id = models.CharField(
        "Message-ID",
        max_length=998,
        null=True,
        blank=True,
        help_text="With its angle brackets. Empty when the message had none: not retractable.",
    )
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    disposition = models.CharField(
        max_length=16, choices=Disposition.choices, default=Disposition.NONE
    )
    disposition_changed_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=16, choices=MessageSource.choices, default=MessageSource.API
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "internet_message_id"],
                condition=models.Q(internet_message_id__isnull=False),
                name="message_unique_per_tenant",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-received_at"], name="message_tenant_received"),
            models.Index(fields=["internet_message_id"], name="message_msgid"),
            models.Index(fields=["tenant", "sender"], name="message_tenant_sender"),
            models.Index(fields=["tenant", "disposition"], name="message_tenant_disposition"),
        ]

    def __str__(self) -> str:
        return self.subject or self.internet_message_id or f"message {self.pk}"

    @property
    def retractable(self) -> bool:
        return bool(self.internet_message_id)

    @property
    def not_retractable_reason(self) -> str:
        if not self.internet_message_id:
            return "The message has no Message-ID header, so its copies cannot be located."
        return ""


class DispositionChange(models.Model):
    """One entry of a message's disposition history."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="disposition_history"
    )
    previous = models.CharField(max_length=16, choices=Disposition.choices)
    disposition = models.CharField(max_length=16, choices=Disposition.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=32, help_text="api, admin, smtp, upload, ...")
    note = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.previous} → {self.disposition}"


class DeliveryStatus(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    RETRACTED = "retracted", "Retracted"
    RESTORED = "restored", "Restored to the inbox"
    FAILED = "failed", "Last retraction failed"


class Delivery(models.Model):
    """One delivered copy: a message × a recipient address."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.CharField(max_length=320, help_text="Lower-case SMTP address.")
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    via_group = models.ForeignKey(
        Mailbox,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="expanded_deliveries",
        help_text="The distribution list this copy came through.",
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.DELIVERED
    )
    provider_message_id = models.CharField(
        max_length=512, blank=True, help_text="The provider's id of the copy after the last move."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["message_id", "recipient"]
        constraints = [
            models.UniqueConstraint(fields=["message", "recipient"], name="delivery_unique_copy")
        ]
        indexes = [
            models.Index(fields=["tenant", "recipient"], name="delivery_tenant_recipient"),
            models.Index(fields=["tenant", "status"], name="delivery_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.message}"
