"""API viewsets for retraction policies and attempts."""

from __future__ import annotations

from django.db import models
from rest_framework import mixins

from mailboxes.access import Role
from mailboxes.api_base import ScopedReadOnlyViewSet, ScopedViewSet
from retraction.filters import PolicyFilter, RetractionAttemptFilter
from retraction.models import RetractionAttempt, RetractionPolicy
from retraction.serializers import PolicySerializer, RetractionAttemptSerializer
from retraction.services.policies import policy_update


class PolicyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, ScopedViewSet
):
    """Per tenant and disposition: the action taken. Changing one needs the tenant admin role."""

    model = RetractionPolicy
    serializer_class = PolicySerializer
    filterset_class = PolicyFilter
    write_role = Role.ADMIN
    cursor_ordering = ("id",)

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset.select_related("updated_by")

    def perform_update(self, serializer: PolicySerializer) -> None:
        data = serializer.validated_data
        policy_update(
            policy=serializer.instance,
            actor=self.request.user,
            action=data.get("action"),
            enabled=data.get("enabled"),
            via="api",
        )


class RetractionAttemptViewSet(ScopedReadOnlyViewSet):
    """Retraction attempts: one try on one delivered copy, with outcome and reason."""

    model = RetractionAttempt
    serializer_class = RetractionAttemptSerializer
    filterset_class = RetractionAttemptFilter
    cursor_ordering = ("-requested_at", "-id")

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset.select_related("delivery", "requested_by")
