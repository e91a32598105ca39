"""Writes on webhook endpoints (one entry point each; tenant admins only, audited)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mailboxes.access import Role, require_role
from mailboxes.audit import actor_label, audit_record
from mailboxes.models import Tenant
from webhooks import events
from webhooks.addresses import validate_url
from webhooks.models import (
    OPEN_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    new_secret,
)

EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")
MAX_EVENT_TYPES = 50
FIELDS = ("name", "url", "enabled", "event_types")


def clean_event_types(value: Any) -> list[str]:
    """A list of event types or prefixes ("retraction.*"); empty means every event."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"event_types": ["Enter a list of event types."]})
    cleaned = sorted({v.strip() for v in value if v.strip()})
    if len(cleaned) > MAX_EVENT_TYPES:
        raise ValidationError({"event_types": [f"At most {MAX_EVENT_TYPES} event types."]})
    bad = [v for v in cleaned if len(v) > 64 or not EVENT_TYPE.match(v)]
    if bad:
        raise ValidationError(
            {
                "event_types": [
                    f"'{v[:64]}' is not an event type (e.g. policy.updated or retraction.*)."
                    for v in bad
                ]
            }
        )
    return cleaned


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(changes)
    if "url" in cleaned:
        cleaned["url"] = validate_url(cleaned["url"])
    if "event_types" in cleaned:
        cleaned["event_types"] = clean_event_types(cleaned["event_types"])
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
        if not cleaned["name"]:
            raise ValidationError({"name": ["This field is required."]})
    return cleaned


def _audit_data(endpoint: WebhookEndpoint) -> dict[str, Any]:
    # The URL may carry a receiver's token (some SIEM collectors): only its host is kept.
    from urllib.parse import urlsplit

    return {
        "name": endpoint.name,
        "host": urlsplit(endpoint.url).hostname or "",
        "enabled": endpoint.enabled,
        "event_types": endpoint.event_types,
    }


def webhook_create(
    *,
    tenant: Tenant,
    actor: Any,
    name: str,
    url: str,
    enabled: bool = True,
    event_types: list[str] | None = None,
    via: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; the signing secret is returned once and only kept encrypted."""
    require_role(actor, tenant, Role.ADMIN)
    data = _clean({"name": name, "url": url, "event_types": event_types or []})
    secret = new_secret()
    endpoint = WebhookEndpoint(tenant=tenant, enabled=enabled, **data)
    endpoint.set_secret(secret)
    with transaction.atomic():
        endpoint.save()
        audit_record(
            actor=actor,
            action="webhook.created",
            tenant=tenant,
            target=endpoint,
            data=_audit_data(endpoint),
            via=via,
        )
    return endpoint, secret


def webhook_update(
    *, endpoint: WebhookEndpoint, actor: Any, via: str = "", **changes: Any
) -> WebhookEndpoint:
    """Change name, URL, enabled or event types; disabling gives up what was still queued."""
    require_role(actor, endpoint.tenant_id, Role.ADMIN)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    cleaned = _clean(changes)
    fields = [name for name, value in cleaned.items() if getattr(endpoint, name) != value]
    if not fields:
        return endpoint
    before = {name: getattr(endpoint, name) for name in fields}
    for name in fields:
        setattr(endpoint, name, cleaned[name])
    endpoint.updated_at = timezone.now()
    with transaction.atomic():
        endpoint.save(update_fields=[*fields, "updated_at"])
        if "enabled" in fields and not endpoint.enabled:
            _give_up_open(endpoint, "the endpoint was disabled")
        if "url" in before:  # may hold a token: say that it changed, not what it was
            before["url"] = "(changed)"
        audit_record(
            actor=actor,
            action="webhook.changed",
            tenant=endpoint.tenant,
            target=endpoint,
            data={**_audit_data(endpoint), "fields": fields, "before": before},
            via=via,
        )
    return endpoint


def webhook_delete(*, endpoint: WebhookEndpoint, actor: Any, via: str = "") -> None:
    """Remove an endpoint; its delivery log stays, what was still queued is given up."""
    require_role(actor, endpoint.tenant_id, Role.ADMIN)
    with transaction.atomic():
        _give_up_open(endpoint, "the endpoint was deleted")
        audit_record(
            actor=actor,
            action="webhook.deleted",
            tenant=endpoint.tenant,
            target=endpoint,
            data=_audit_data(endpoint),
            via=via,
        )
        endpoint.delete()


def webhook_rotate_secret(*, endpoint: WebhookEndpoint, actor: Any, via: str = "") -> str:
    """A new signing secret, returned once; POSTs from now on are signed with it."""
    require_role(actor, endpoint.tenant_id, Role.ADMIN)
    secret = new_secret()
    endpoint.set_secret(secret)
    endpoint.updated_at = timezone.now()
    with transaction.atomic():
        endpoint.save(update_fields=["secret_ciphertext", "updated_at"])
        audit_record(
            actor=actor,
            action="webhook.secret_rotated",
            tenant=endpoint.tenant,
            target=endpoint,
            via=via,
        )
    return secret


def webhook_ping(*, endpoint: WebhookEndpoint, actor: Any, via: str = "") -> WebhookDelivery:
    """Queue a `webhook.ping` event for this endpoint only (tenant admins).

    Not an audit event: it changes nothing, and its delivery (with who asked) is the record.
    """
    require_role(actor, endpoint.tenant_id, Role.ADMIN)
    with transaction.atomic():
        return events.ping(endpoint, actor_label=actor_label(actor), via=via)


def _give_up_open(endpoint: WebhookEndpoint, why: str) -> None:
    WebhookDelivery.objects.for_tenant(endpoint.tenant_id).filter(
        endpoint=endpoint, status__in=OPEN_STATUSES
    ).update(status=DeliveryStatus.GAVE_UP, next_attempt_at=None, last_error=why)
