"""Query filters for webhook endpoints and deliveries (choices limited to what you may see)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models
from django_filters import rest_framework as filters

from mailboxes.filters import IsoDateTimeFilter, StrictBooleanFilter, TenantChoiceFilter
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


def visible_endpoints(request: Any) -> models.QuerySet:
    return WebhookEndpoint.objects.for_user(getattr(request, "user", None))


class WebhookEndpointFilter(filters.FilterSet):
    tenant = TenantChoiceFilter()
    enabled = StrictBooleanFilter()

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "enabled"]


class WebhookDeliveryFilter(filters.FilterSet):
    tenant = TenantChoiceFilter()
    endpoint = django_filters.ModelChoiceFilter(
        queryset=visible_endpoints, help_text="Endpoint id (only endpoints you may see)."
    )
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter()
    event_id = django_filters.UUIDFilter()
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="At or after (ISO 8601)."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Before (ISO 8601)."
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "tenant",
            "endpoint",
            "status",
            "event_type",
            "event_id",
            "created_after",
            "created_before",
        ]
