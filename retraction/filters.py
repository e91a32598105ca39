"""Query filters for the policy and retraction endpoints."""

from __future__ import annotations

import django_filters
from django_filters import rest_framework as filters

from mailboxes.filters import StrictBooleanFilter, TenantChoiceFilter, visible_messages
from mailboxes.vocabulary import Action, FailureReason, PolicyAction, ReadState
from retraction.models import AttemptStatus, Mode, RetractionAttempt, RetractionPolicy


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
    status = django_filters.ChoiceFilter(choices=AttemptStatus.choices)
    reason = django_filters.ChoiceFilter(choices=FailureReason.choices)
    mode = django_filters.ChoiceFilter(choices=Mode.choices)
    action = django_filters.ChoiceFilter(choices=Action.choices)
    read_state = django_filters.ChoiceFilter(choices=ReadState.choices)
    completed_after = django_filters.IsoDateTimeFilter(
        field_name="completed_at", lookup_expr="gte", help_text="Completed at or after (ISO 8601)."
    )
    completed_before = django_filters.IsoDateTimeFilter(
        field_name="completed_at", lookup_expr="lt", help_text="Completed before (ISO 8601)."
    )

    class Meta:
        model = RetractionAttempt
        fields = [
            "tenant",
            "message",
            "status",
            "reason",
            "mode",
            "action",
            "read_state",
            "completed_after",
            "completed_before",
        ]
