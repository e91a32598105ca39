"""API representations of webhook endpoints and their delivery log (never the secret)."""

from __future__ import annotations

from rest_framework import serializers

from mailboxes.api_base import ScopedTenantField
from webhooks.models import WebhookDelivery, WebhookEndpoint

ENDPOINT_FIELDS = [
    "id",
    "tenant",
    "name",
    "url",
    "enabled",
    "event_types",
    "created_at",
    "updated_at",
    "last_success_at",
    "failing_since",
]


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """An endpoint as tenant admins manage it; the secret is never part of it."""

    tenant = ScopedTenantField(help_text="Tenant id; cannot change after creation.")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=50,
        help_text="Event types to send (e.g. policy.updated, or retraction.* for a prefix); "
        "empty: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ENDPOINT_FIELDS
        read_only_fields = [
            "id",
            "created_at",
            "updated_at",
            "last_success_at",
            "failing_since",
        ]
        extra_kwargs = {"url": {"help_text": "https:// URL the events are POSTed to."}}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None and not isinstance(self.instance, list):
            # A row never moves to another tenant.
            self.fields["tenant"].read_only = True


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The answer to creating an endpoint: the only time the signing secret is shown."""

    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (HMAC-SHA256 key). Shown once: store it now.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*ENDPOINT_FIELDS, "secret"]
        read_only_fields = fields


class WebhookSecretSerializer(serializers.Serializer):
    """A new signing secret, shown once."""

    secret = serializers.CharField(read_only=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "tenant",
            "endpoint",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields
