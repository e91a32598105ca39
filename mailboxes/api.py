"""API viewsets for tenants, mailboxes and messages (read side)."""

from __future__ import annotations

from django.db import models
from django.db.models import Prefetch

from mailboxes.api_base import ScopedReadOnlyViewSet
from mailboxes.filters import MailboxFilter, MessageFilter, TenantFilter
from mailboxes.models import Delivery, DispositionChange, Mailbox, Message, Tenant
from mailboxes.serializers import (
    MailboxSerializer,
    MessageDetailSerializer,
    MessageSerializer,
    TenantSerializer,
)
from retraction.models import RetractionAttempt


class TenantViewSet(ScopedReadOnlyViewSet):
    """Tenants you may see, with their authorization state (never their secrets)."""

    model = Tenant
    tenant_id_attr = "pk"
    serializer_class = TenantSerializer
    filterset_class = TenantFilter
    cursor_ordering = ("name", "id")


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

    def get_serializer_class(self) -> type[MessageSerializer]:
        return MessageDetailSerializer if self.action == "retrieve" else MessageSerializer

    def prepare_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        deliveries = self.scoped(Delivery).order_by("recipient")
        queryset = queryset.prefetch_related(Prefetch("deliveries", queryset=deliveries))
        if self.action == "retrieve":
            history = self.scoped(DispositionChange).select_related("changed_by")
            attempts = (
                self.scoped(RetractionAttempt)
                .select_related("delivery", "requested_by")
                .order_by("requested_at", "id")
            )
            queryset = queryset.prefetch_related(
                Prefetch("disposition_history", queryset=history),
                Prefetch("attempts", queryset=attempts),
            )
        return queryset
