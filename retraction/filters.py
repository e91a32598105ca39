"""Query filters for the policy, retraction and retraction job endpoints."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models
from django_filters import rest_framework as filters

from mailboxes.filters import (
    IsoDateTimeFilter,
    StrictBooleanFilter,
    TenantChoiceFilter,
    visible_messages,
)
from mailboxes.vocabulary import Action, FailureReason, PolicyAction, ReadState
from retraction.models import (
    AttemptStatus,
    JobState,
    Mode,
    RetractionAttempt,
    RetractionJob,
    RetractionPolicy,
)


def visible_jobs(request: Any) -> models.QuerySet:
    return RetractionJob.objects.for_user(getattr(request, "user", None))


class PolicyFilter(filters.FilterSet):
    tenant = TenantChoiceFilter()
    disposition = django_filters.ChoiceFilter(
        choices=RetractionPolicy._meta.get_field("disposition").choices
    )
    action = django_filters.ChoiceFilter(choices=PolicyAction.choices)
    enabled = StrictBooleanFilter()

    class Meta:
        model = RetractionPolicy
        fields = ["tenant", "disposition", "action", "enabled"]


class RetractionAttemptFilter(filters.FilterSet):
    tenant = TenantChoiceFilter()
    message = django_filters.ModelChoiceFilter(
        queryset=visible_messages, help_text="Message id (only messages you may see)."
    )
    job = django_filters.ModelChoiceFilter(
        queryset=visible_jobs, help_text="Retraction job id (only jobs you may see)."
    )
    status = django_filters.ChoiceFilter(choices=AttemptStatus.choices)
    reason = django_filters.ChoiceFilter(choices=FailureReason.choices)
    mode = django_filters.ChoiceFilter(choices=Mode.choices)
    action = django_filters.ChoiceFilter(choices=Action.choices)
    read_state = django_filters.ChoiceFilter(choices=ReadState.choices)
    completed_after = IsoDateTimeFilter(
        field_name="completed_at", lookup_expr="gte", help_text="Completed at or after (ISO 8601)."
    )
    completed_before = IsoDateTimeFilter(
        field_name="completed_at", lookup_expr="lt", help_text="Completed before (ISO 8601)."
    )

    class Meta:
        model = RetractionAttempt
        fields = [
            "tenant",
            "message",
            "job",
            "status",
            "reason",
            "mode",
            "action",
            "read_state",
            "completed_after",
            "completed_before",
        ]


class RetractionJobFilter(filters.FilterSet):
    tenant = TenantChoiceFilter()
    state = django_filters.ChoiceFilter(choices=JobState.choices)
    action = django_filters.ChoiceFilter(choices=Action.choices)

    class Meta:
        model = RetractionJob
        fields = ["tenant", "state", "action"]
