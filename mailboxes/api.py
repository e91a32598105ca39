"""API viewsets for tenants, mailboxes and messages, with the message actions."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from mailboxes.access import Role
from mailboxes.api_base import ScopedReadOnlyViewSet
from mailboxes.filters import MailboxFilter, MessageFilter, TenantFilter
from mailboxes.models import Delivery, DispositionChange, Mailbox, Message, Tenant
from mailboxes.serializers import (
    MailboxSerializer,
    MessageDetailSerializer,
    MessageSerializer,
    TenantSerializer,
    TenantVerifySerializer,
)
from mailboxes.services import tenant_verify
from retraction.models import RetractionAttempt
from retraction.serializers import (
    QueuedAttemptsSerializer,
    ReclassifySerializer,
    RetractSerializer,
)
from retraction.services.decide import message_reclassify
from retraction.services.manual import retraction_request, retraction_undo

ERRORS = {
    400: OpenApiResponse(description='Invalid input: `{"field": ["message"]}`.'),
    403: OpenApiResponse(description="Your role on the tenant does not allow this."),
    404: OpenApiResponse(description="No such object among the tenants you may see."),
}


def validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TenantViewSet(ScopedReadOnlyViewSet):
    """Tenants you may see, with their authorization state (never their secrets)."""

    model = Tenant
    tenant_id_attr = "pk"
    serializer_class = TenantSerializer
    filterset_class = TenantFilter
    cursor_ordering = ("name", "id")
    action_roles = {"verify": Role.ANALYST}

    @extend_schema(request=None, responses={200: TenantVerifySerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        """Check the tenant's credentials against its provider now (analyst role)."""
        tenant = tenant_verify(tenant=self.get_object(), actor=request.user, via="api")
        return Response(TenantVerifySerializer(tenant).data)


class MailboxViewSet(ScopedReadOnlyViewSet):
    """Mailboxes: users, shared mailboxes and groups with their members."""

    model = Mailbox
    serializer_class = MailboxSerializer
    filterset_class = MailboxFilter
    cursor_ordering = ("address", "id")

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        members = self.scoped(Mailbox).only("id", "address").order_by("address")
        return queryset.prefetch_related(Prefetch("members", queryset=members))


class MessageViewSet(ScopedReadOnlyViewSet):
    """Messages with their delivered copies; the detail adds history and action log."""

    model = Message
    filterset_class = MessageFilter
    cursor_ordering = ("-received_at", "-id")
    action_roles = {"retract": Role.ANALYST, "undo": Role.ANALYST, "reclassify": Role.ANALYST}

    def get_serializer_class(self) -> type[MessageSerializer]:
        return MessageDetailSerializer if self.action == "retrieve" else MessageSerializer

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        if self.action in ("retract", "undo", "reclassify"):
            # The actions read one row and write; their answers are built separately.
            return queryset.select_related("tenant")
        if self.action == "retrieve":
            return self.with_history(queryset)
        deliveries = self.scoped(Delivery).order_by("recipient")
        return queryset.prefetch_related(Prefetch("deliveries", queryset=deliveries))

    def with_history(self, queryset: models.QuerySet) -> models.QuerySet:
        """The detail's prefetches: copies, disposition history and action log."""
        history = self.scoped(DispositionChange).select_related("changed_by")
        attempts = (
            self.scoped(RetractionAttempt)
            .select_related("delivery", "requested_by")
            .order_by("requested_at", "id")
        )
        return queryset.prefetch_related(
            Prefetch("deliveries", queryset=self.scoped(Delivery).order_by("recipient")),
            Prefetch("disposition_history", queryset=history),
            Prefetch("attempts", queryset=attempts),
        )

    @extend_schema(
        request=RetractSerializer,
        responses={202: QueuedAttemptsSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def retract(self, request: Request, pk: str | None = None) -> Response:
        """Move every copy of the message (analyst; hard_delete: tenant admin and confirm)."""
        message = self.get_object()
        data = validated(RetractSerializer, request)
        if not message.retractable:
            raise exceptions.ValidationError(
                {"internet_message_id": [message.not_retractable_reason]}
            )
        attempts = retraction_request(
            actor=request.user,
            tenant=message.tenant,
            action=data["action"],
            messages=[message],
            confirm_hard_delete=data["confirm_hard_delete"],
            via="api",
        )
        return self.queued(attempts)

    @extend_schema(request=None, responses={202: QueuedAttemptsSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str | None = None) -> Response:
        """Bring the retracted copies of the message back to the inbox (analyst)."""
        message = self.get_object()
        attempts = retraction_undo(
            actor=request.user, tenant=message.tenant, messages=[message], via="api"
        )
        return self.queued(attempts)

    @extend_schema(request=ReclassifySerializer, responses={200: MessageDetailSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def reclassify(self, request: Request, pk: str | None = None) -> Response:
        """Change the message's disposition (analyst); the tenant's policy may retract it.

        The same disposition again changes nothing: no history entry, no new attempts.
        """
        message = self.get_object()
        data = validated(ReclassifySerializer, request)
        message_reclassify(
            actor=request.user,
            message=message,
            disposition=data["disposition"],
            note=data["note"],
            via="api",
        )
        fresh = self.with_history(self.scoped(Message)).get(pk=message.pk)
        return Response(MessageDetailSerializer(fresh, context=self.get_serializer_context()).data)

    @staticmethod
    def queued(attempts: list[RetractionAttempt]) -> Response:
        body = {"attempts": [a.pk for a in attempts], "copies": len(attempts)}
        return Response(QueuedAttemptsSerializer(body).data, status=status.HTTP_202_ACCEPTED)
