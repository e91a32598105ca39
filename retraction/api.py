"""API viewsets for retraction policies, attempts and bulk retraction jobs."""

from __future__ import annotations

from django.db import models
from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from mailboxes.access import Role
from mailboxes.api_base import SECOND_FACTOR_PARAMETER, ScopedReadOnlyViewSet, ScopedViewSet
from retraction.filters import PolicyFilter, RetractionAttemptFilter, RetractionJobFilter
from retraction.models import AttemptStatus, RetractionAttempt, RetractionJob, RetractionPolicy
from retraction.serializers import (
    PolicySerializer,
    RetractionAttemptSerializer,
    RetractionJobSerializer,
)
from retraction.services.jobs import job_cancel, job_create
from retraction.services.policies import policy_update

# The counters of `retraction.services.jobs.job_counts`, as one aggregate per page of jobs.
JOB_COUNTERS = {
    "succeeded": Count("attempts", filter=Q(attempts__status=AttemptStatus.SUCCEEDED)),
    "failed": Count("attempts", filter=Q(attempts__status=AttemptStatus.FAILED)),
    "pending": Count(
        "attempts",
        filter=Q(attempts__status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING]),
    ),
    "cancelled": Count("attempts", filter=Q(attempts__status=AttemptStatus.CANCELLED)),
}


@extend_schema_view(
    update=extend_schema(parameters=[SECOND_FACTOR_PARAMETER]),
    partial_update=extend_schema(parameters=[SECOND_FACTOR_PARAMETER]),
)
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


@extend_schema_view(
    create=extend_schema(
        description="Start a bulk retraction of `message_ids` or of the messages a `filter` finds.",
        responses={
            201: RetractionJobSerializer,
            400: OpenApiResponse(description='Invalid input: `{"field": ["message"]}`.'),
            403: OpenApiResponse(description="Your role on the tenant does not allow this."),
        },
        parameters=[SECOND_FACTOR_PARAMETER],
    )
)
class RetractionJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Bulk retraction jobs: every copy of a list of messages or of a message search.

    Creating or cancelling one needs the analyst role on its tenant (hard delete: tenant
    admin and `confirm_hard_delete`). Copies are discovered and moved in the background;
    the counters follow the job's attempts (retractions/?job=ID lists them).
    """

    model = RetractionJob
    serializer_class = RetractionJobSerializer
    filterset_class = RetractionJobFilter
    write_role = Role.ANALYST
    cursor_ordering = ("-created_at", "-id")

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset.select_related("requested_by").annotate(**JOB_COUNTERS)

    def perform_create(self, serializer: RetractionJobSerializer) -> None:
        # job_create checks the role (analyst; tenant admin for hard delete).
        data = serializer.validated_data
        job = job_create(
            actor=self.request.user,
            tenant=data["tenant"],
            action=data["action"],
            message_ids=data.get("message_ids"),
            filter=data.get("filter"),
            confirm_hard_delete=data["confirm_hard_delete"],
            via="api",
        )
        serializer.instance = self.get_queryset().get(pk=job.pk)

    @extend_schema(
        request=None,
        responses={
            200: RetractionJobSerializer,
            400: OpenApiResponse(description="The job is already finished."),
            403: OpenApiResponse(description="Your role on the tenant does not allow this."),
            404: OpenApiResponse(description="No such job among the tenants you may see."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Stop a job: its queued attempts are cancelled, running ones finish (analyst)."""
        job = job_cancel(job=self.get_object(), actor=request.user, via="api")
        return Response(self.get_serializer(self.get_queryset().get(pk=job.pk)).data)
