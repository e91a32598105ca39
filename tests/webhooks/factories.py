"""Webhook rows for tests: endpoints (with a known secret) and delivery log entries."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from mailboxes.models import Tenant
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

SECRET = "whsec_test-secret-for-signatures"


def make_endpoint(
    tenant: Tenant,
    url: str | None = None,
    *,
    name: str | None = None,
    secret: str = SECRET,
    **fields: Any,
) -> WebhookEndpoint:
    prefix = tenant.slug.split("-")[0]
    endpoint = WebhookEndpoint(
        tenant=tenant,
        name=name or f"{prefix}-siem",
        url=url or f"https://siem.{prefix}.example/hook",
        **fields,
    )
    endpoint.set_secret(secret)
    endpoint.save()
    return endpoint


def make_delivery(endpoint: WebhookEndpoint, **fields: Any) -> WebhookDelivery:
    event_id = uuid.uuid4()
    fields.setdefault("status", DeliveryStatus.SUCCEEDED)
    return WebhookDelivery.objects.create(
        tenant_id=endpoint.tenant_id,
        endpoint=endpoint,
        event_id=event_id,
        event_type=fields.pop("event_type", "webhook.ping"),
        payload={"id": str(event_id), "type": "webhook.ping", "tenant": {"id": endpoint.tenant_id}},
        attempts=1,
        delivered_at=timezone.now(),
        **fields,
    )


def add_webhook_rows(objects: dict[str, Any], tenant: Tenant) -> None:
    """A disabled endpoint (so other tests' writes queue nothing) and one delivery of it."""
    endpoint = make_endpoint(tenant, enabled=False)
    objects["webhook"] = endpoint
    objects["webhook_delivery"] = make_delivery(endpoint)
