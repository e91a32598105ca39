"""API viewsets: webhook endpoints (tenant admins manage, others read) and their delivery log."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from mailboxes.access import Role
from mailboxes.api import ERRORS
from mailboxes.api_base import ScopedReadOnlyViewSet, ScopedViewSet
from webhooks.filters import WebhookDeliveryFilter, WebhookEndpointFilter
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookSecretSerializer,
)
from webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_ping,
    webhook_rotate_secret,
    webhook_update,
)


@extend_schema_view(
    create=extend_schema(responses={201: WebhookEndpointCreatedSerializer, **ERRORS}),
    update=extend_schema(responses={200: WebhookEndpointSerializer, **ERRORS}),
    partial_update=extend_schema(responses={200: WebhookEndpointSerializer, **ERRORS}),
    destroy=extend_schema(responses={204: None, **ERRORS}),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Where a tenant's events go (a SIEM): signed POSTs, retried (see webhooks/README.md).

    Tenant admins create, change and delete endpoints; other roles read them. The
    signing secret is in the answer to the creation (and to rotate-secret) only.
    """

    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    filterset_class = WebhookEndpointFilter
    write_role = Role.ADMIN
    cursor_ordering = ("id",)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = webhook_create(
            tenant=data["tenant"],
            actor=request.user,
            name=data["name"],
            url=data["url"],
            enabled=data.get("enabled", True),
            event_types=data.get("event_types", []),
            via="api",
        )
        endpoint.secret = secret
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    def perform_update(self, serializer: WebhookEndpointSerializer) -> None:
        changes = {k: v for k, v in serializer.validated_data.items() if k != "tenant"}
        webhook_update(endpoint=serializer.instance, actor=self.request.user, via="api", **changes)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhook_delete(endpoint=instance, actor=self.request.user, via="api")

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a `webhook.ping` event to this endpoint now (tenant admin).

        Queued like every event; follow it at webhook-deliveries/{id}/.
        """
        delivery = webhook_ping(endpoint=self.get_object(), actor=request.user, via="api")
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(WebhookSecretSerializer, description="Shown once."),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """Replace the signing secret (tenant admin); the new one is shown once."""
        secret = webhook_rotate_secret(endpoint=self.get_object(), actor=request.user, via="api")
        return Response(WebhookSecretSerializer({"secret": secret}).data)


class WebhookDeliveryViewSet(ScopedReadOnlyViewSet):
    """The delivery log: every event sent (or to be sent) to an endpoint, and how it went."""

    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    cursor_ordering = ("-created_at", "-id")
