"""Admin for retraction policies (tenant admins change them) and attempts (read-only).

Manual retract / undo actions come with their own issue; they will call the
retraction services, like every other door.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from mailboxes.access import AccessDenied, Role
from mailboxes.admin_base import ReadOnlyAdminMixin, TenantFilter, TenantScopedAdmin
from retraction.models import RetractionAttempt, RetractionJob, RetractionPolicy
from retraction.services.jobs import job_counts
from retraction.services.policies import policy_update


@admin.register(RetractionPolicy)
class RetractionPolicyAdmin(TenantScopedAdmin):
    """One row per tenant and disposition, created with the tenant: only changed here."""

    change_role = Role.ADMIN
    list_display = ["tenant", "disposition", "action", "enabled", "updated_at", "updated_by"]
    list_display_links = ["tenant", "disposition"]
    list_filter = [("tenant", TenantFilter), "disposition", "action", "enabled"]
    list_select_related = ["tenant", "updated_by"]
    search_fields = ["tenant__name", "disposition"]
    fields = ["tenant", "disposition", "action", "enabled", "updated_at", "updated_by"]
    readonly_fields = ["tenant", "disposition", "updated_at", "updated_by"]

    def save_model(self, request: HttpRequest, obj: RetractionPolicy, form: Any, change: bool):
        # The form already wrote the new values onto obj; the service compares against
        # the stored row, so hand it a fresh copy.
        stored = RetractionPolicy.objects.select_related("tenant").get(pk=obj.pk)
        try:
            policy = policy_update(
                policy=stored,
                actor=request.user,
                action=form.cleaned_data["action"],
                enabled=form.cleaned_data["enabled"],
                via="admin",
            )
        except AccessDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.updated_at, obj.updated_by = policy.updated_at, policy.updated_by


@admin.register(RetractionAttempt)
class RetractionAttemptAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = [
        "requested_at",
        "recipient",
        "subject",
        "action",
        "mode",
        "status",
        "reason",
        "read_state",
        "requested_by",
        "completed_at",
        "tenant",
    ]
    list_select_related = ["delivery", "message", "tenant", "requested_by"]
    list_filter = [
        "status",
        "reason",
        "mode",
        "action",
        "read_state",
        ("tenant", TenantFilter),
        "completed_at",
    ]
    search_fields = ["delivery__recipient", "message__internet_message_id", "message__subject"]
    fields = [
        "tenant",
        "message",
        "delivery",
        "job",
        "mode",
        "action",
        "status",
        "reason",
        "detail",
        "read_state",
        "requested_by",
        "requested_at",
        "started_at",
        "completed_at",
        "provider_message_id",
        "tries",
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        # str(attempt) names the recipient (change page title, history). Django skips
        # list_select_related once a queryset has a select_related, so name them all here.
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description="recipient", ordering="delivery__recipient")
    def recipient(self, obj: RetractionAttempt) -> str:
        return obj.delivery.recipient

    @admin.display(description="subject")
    def subject(self, obj: RetractionAttempt) -> str:
        return str(obj.message)


@admin.register(RetractionJob)
class RetractionJobAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Bulk retractions, read-only here (they are started and cancelled through the API)."""

    list_display = ["created_at", "job", "action", "state", "discovered", "requested_by", "tenant"]
    list_display_links = ["created_at", "job"]
    list_select_related = ["tenant", "requested_by"]
    list_filter = ["state", "action", ("tenant", TenantFilter), "created_at"]
    fields = [
        "tenant",
        "action",
        "state",
        "progress",
        "message_ids",
        "filter",
        "error",
        "requested_by",
        "created_at",
        "finished_at",
    ]

    @admin.display(description="job", ordering="id")
    def job(self, obj: RetractionJob) -> str:
        return f"Job {obj.pk}"

    @admin.display(description="progress")
    def progress(self, obj: RetractionJob) -> str:
        counts = job_counts(obj)
        url = reverse("admin:retraction_retractionattempt_changelist")
        return format_html(
            "{} discovered: {} succeeded, {} failed, {} pending, {} cancelled "
            '(<a href="{}?job={}">attempts</a>)',
            counts["discovered"],
            counts["succeeded"],
            counts["failed"],
            counts["pending"],
            counts["cancelled"],
            url,
            obj.pk,
        )
