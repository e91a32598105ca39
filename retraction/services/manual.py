"""Manual retraction and undo: the one entry point for the admin, the API and the commands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mailboxes.access import Role, require_role, require_second_factor, stored_user
from mailboxes.audit import audit_record
from mailboxes.models import Delivery, DeliveryStatus, Message, Tenant
from mailboxes.vocabulary import Action
from retraction.models import Mode, RetractionAttempt
from retraction.services.decide import attempts_enqueue


def check_action_allowed(
    *, actor: Any, tenant: Tenant | int, action: str, confirm_hard_delete: bool
) -> None:
    """Analysts retract and undo; hard delete needs a tenant admin, a yes, a second factor.

    The second factor (`require_second_factor`): a session signed in with a TOTP code, an
    API key request with a current code in X-Clawback-OTP, or a shell operator.
    """
    if action not in Action.values:
        raise ValidationError({"action": [f"'{action}' is not one of {', '.join(Action.values)}."]})
    if action == Action.HARD_DELETE:
        require_role(actor, tenant, Role.ADMIN)
        if not confirm_hard_delete:
            raise ValidationError(
                {
                    "confirm_hard_delete": [
                        "Hard delete cannot be undone (on Gmail it is permanent): "
                        "confirm it explicitly."
                    ]
                }
            )
        require_second_factor(actor)
    else:
        require_role(actor, tenant, Role.ANALYST)


def retraction_request(
    *,
    actor: Any,
    tenant: Tenant,
    action: str,
    messages: Iterable[Message] = (),
    deliveries: Iterable[Delivery] = (),
    confirm_hard_delete: bool = False,
    via: str = "",
) -> list[RetractionAttempt]:
    """Queue a manual attempt for every copy of the given messages, or the given copies."""
    check_action_allowed(
        actor=actor, tenant=tenant, action=action, confirm_hard_delete=confirm_hard_delete
    )
    targets = _targets(tenant=tenant, action=action, messages=messages, deliveries=deliveries)
    return _queue(
        actor=actor,
        tenant=tenant,
        action=action,
        deliveries=list(targets.select_related("message")),
        via=via,
    )


def retraction_undo(
    *, actor: Any, tenant: Tenant, messages: Iterable[Message] = (), deliveries=(), via: str = ""
) -> list[RetractionAttempt]:
    """Bring retracted copies back to the inbox."""
    return retraction_request(
        actor=actor,
        tenant=tenant,
        action=Action.INBOX,
        messages=messages,
        deliveries=deliveries,
        via=via,
    )


def estimate(
    *, tenant: Tenant, messages: Iterable[Message] = (), deliveries=(), action: str = ""
) -> dict[str, int]:
    """How many copies in how many mailboxes a request would move (confirmation pages).

    The same copies `retraction_request` would queue: only those of messages with a
    Message-ID, and for an undo (`action="inbox"`) only the retracted ones.
    """
    qs = _targets(tenant=tenant, action=action, messages=messages, deliveries=deliveries)
    qs = qs.exclude(message__internet_message_id__isnull=True).exclude(
        message__internet_message_id=""
    )
    return {"copies": qs.count(), "mailboxes": qs.values("recipient").distinct().count()}


def _targets(
    *, tenant: Tenant, action: str, messages: Iterable[Message], deliveries: Iterable[Delivery]
) -> Any:
    """The copies a request names: every copy of the messages, or the given copies."""
    targets = Delivery.objects.for_tenant(tenant)
    message_ids = [m.pk for m in messages]
    if message_ids:
        targets = targets.filter(message_id__in=message_ids)
    else:
        targets = targets.filter(pk__in=[d.pk for d in deliveries])
    if action == Action.INBOX:
        targets = targets.filter(status=DeliveryStatus.RETRACTED)
    return targets


def _queue(
    *, actor: Any, tenant: Tenant, action: str, deliveries: list[Delivery], via: str
) -> list[RetractionAttempt]:
    now = timezone.now()
    user = stored_user(actor)
    with transaction.atomic():
        attempts = attempts_enqueue(
            [
                RetractionAttempt(
                    tenant=tenant,
                    message_id=d.message_id,
                    delivery=d,
                    mode=Mode.MANUAL,
                    action=action,
                    requested_by=user,
                    requested_at=now,
                )
                for d in deliveries
                if d.message.retractable
            ]
        )
        audit_record(
            actor=actor,
            action="retraction.undo_requested"
            if action == Action.INBOX
            else "retraction.requested",
            tenant=tenant,
            data={
                "action": action,
                "copies": len(attempts),
                "messages": sorted({d.message_id for d in deliveries}),
            },
            via=via,
        )
    return attempts
