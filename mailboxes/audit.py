"""Recording audit events: the single helper every write goes through."""

from __future__ import annotations

from typing import Any

from django.db import models

from mailboxes.access import stored_user
from mailboxes.models import AuditEvent, Tenant


def actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    return getattr(actor, "get_username", lambda: str(actor))()


def audit_record(
    *,
    actor: Any,
    action: str,
    tenant: Tenant | None = None,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    via: str = "",
) -> AuditEvent:
    """Append one audit event; `via` names the door (admin, api, command, task)."""
    payload = dict(data or {})
    if via:
        payload["via"] = via
    user = stored_user(actor)
    event = AuditEvent.objects.create(
        tenant=tenant,
        tenant_label=tenant.name if tenant else "",
        actor=user,
        actor_label=actor_label(actor),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        data=payload,
    )
    # The outbound stream: a delivery per subscribed webhook, in this transaction.
    from webhooks.events import audit_recorded

    audit_recorded(event)
    return event
