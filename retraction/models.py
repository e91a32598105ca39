"""Retraction policies and attempts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mailboxes.access import TenantScopedQuerySet
from mailboxes.models import Delivery, Message, Tenant
from mailboxes.vocabulary import Action, Disposition, FailureReason, PolicyAction, ReadState


class RetractionPolicy(models.Model):
    """What to do, per tenant, with copies of a message of a given disposition."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="policies")
    disposition = models.CharField(
        max_length=16, choices=[c for c in Disposition.choices if c[0] != Disposition.NONE]
    )
    action = models.CharField(max_length=16, choices=PolicyAction.choices)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "retraction policies"
        ordering = ["tenant__name", "disposition"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "disposition"], name="policy_unique")
        ]

    def __str__(self) -> str:
        return f"{self.tenant}: {self.disposition} → {self.action}"

    @property
    def effective_action(self) -> str:
        return self.action if self.enabled else PolicyAction.NONE


# Sensible defaults for a new tenant: remove the dangerous, junk the unwanted.
DEFAULT_POLICY = {
    Disposition.MALICIOUS: PolicyAction.TRASH,
    Disposition.SPOOF: PolicyAction.TRASH,
    Disposition.SUSPICIOUS: PolicyAction.JUNK,
    Disposition.SPAM: PolicyAction.JUNK,
    Disposition.BULK: PolicyAction.NONE,
}


class Mode(models.TextChoices):
    AUTO = "auto", "Automatic (policy)"
    MANUAL = "manual", "Manual"


class AttemptStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.CANCELLED)


class JobState(models.TextChoices):
    PENDING = "pending", "Pending"
    DISCOVERING = "discovering", "Discovering copies"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


JOB_OPEN_STATES = (JobState.PENDING, JobState.DISCOVERING, JobState.PROCESSING)


class RetractionJob(models.Model):
    """A bulk retraction: everything a list of messages or a search matches."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="retraction_jobs")
    action = models.CharField(max_length=16, choices=Action.choices)
    message_ids = models.JSONField(default=list, blank=True)
    filter = models.JSONField(default=dict, blank=True, help_text="Message search filters.")
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING)
    discovered = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Job {self.pk}: {self.get_action_display()} ({self.state})"


class RetractionAttempt(models.Model):
    """One try at moving one delivered copy."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    job = models.ForeignKey(
        RetractionJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    mode = models.CharField(max_length=8, choices=Mode.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(
        max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.QUEUED
    )
    reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    read_state = models.CharField(
        max_length=8, choices=ReadState.choices, default=ReadState.UNKNOWN
    )
    detail = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=512, blank=True)
    tries = models.PositiveSmallIntegerField(default=0)
    # Set by the conditional update that claims the attempt for one worker run.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            # Finished attempts by time, with what the Retractions card and its "View
            # details" list filter on (status, action): their counts need no table rows.
            models.Index(
                fields=["tenant", "completed_at", "status", "action"],
                name="attempt_tenant_completed_st",
            ),
            models.Index(fields=["completed_at", "status", "action"], name="attempt_completed_st"),
            models.Index(fields=["status", "requested_at"], name="attempt_status_requested"),
            models.Index(fields=["tenant", "reason"], name="attempt_tenant_reason"),
            models.Index(fields=["message", "-requested_at"], name="attempt_message_requested"),
            models.Index(fields=["job", "status"], name="attempt_job_status"),
            models.Index(fields=["claim_token"], name="attempt_claim_token"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.delivery.recipient}: {self.status}"

    @property
    def recipient(self) -> str:
        return self.delivery.recipient
