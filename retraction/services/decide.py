"""Deciding: a message's disposition changes, the tenant's policy says what to do.

One attempt per delivery is queued in the same transaction as the change and
handed to django-q2 on commit. The same verdict twice queues nothing new; a
harsher verdict re-retracts with the harsher action; NONE never undoes.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from mailboxes.access import stored_user
from mailboxes.models import DispositionChange, Message
from mailboxes.vocabulary import Action, Disposition, PolicyAction
from retraction.models import AttemptStatus, Mode, RetractionAttempt, RetractionPolicy

# How far each action takes a copy out of the user's reach; a later verdict only
# re-retracts when its action goes further than what was already done.
ACTION_SEVERITY = {
    Action.INBOX: 0,
    Action.JUNK: 1,
    Action.TRASH: 2,
    Action.SOFT_DELETE: 3,
    Action.HARD_DELETE: 4,
}


def message_set_disposition(
    *,
    message: Message,
    disposition: str,
    actor: Any,
    source: str,
    note: str = "",
) -> DispositionChange | None:
    """Set a message's disposition, keep its history, and let the policy act.

    Returns the history entry, or None when the disposition did not change.
    Callers hold the message row (it is saved here with update_fields).
    """
    if disposition not in Disposition.values:
        raise ValueError(f"unknown disposition {disposition!r}")
    if disposition == message.disposition:
        return None
    with transaction.atomic():
        change = DispositionChange.objects.create(
            tenant_id=message.tenant_id,
            message=message,
            previous=message.disposition,
            disposition=disposition,
            changed_by=stored_user(actor),
            source=source,
            note=note[:500],
        )
        message.disposition = disposition
        message.disposition_changed_at = change.changed_at
        message.save(update_fields=["disposition", "disposition_changed_at"])
        attempts_queue_for_policy(message=message)
    return change


def policy_action_for(message: Message) -> str:
    if message.disposition == Disposition.NONE:
        return PolicyAction.NONE
    policy = (
        RetractionPolicy.objects.for_tenant(message.tenant_id)
        .filter(disposition=message.disposition)
        .first()
    )
    return policy.effective_action if policy else PolicyAction.NONE


def attempts_queue_for_policy(*, message: Message) -> list[RetractionAttempt]:
    """Queue auto attempts for every copy the policy now covers (inside a transaction)."""
    action = policy_action_for(message)
    if action == PolicyAction.NONE or not message.retractable:
        return []
    severity = ACTION_SEVERITY[Action(action)]
    deliveries = list(message.deliveries.all())
    done = _strongest_action_per_delivery(message)
    now = timezone.now()
    attempts = [
        RetractionAttempt(
            tenant_id=message.tenant_id,
            message=message,
            delivery=delivery,
            mode=Mode.AUTO,
            action=action,
            requested_at=now,
        )
        for delivery in deliveries
        if done.get(delivery.pk, -1) < severity
    ]
    return attempts_enqueue(attempts)


def _strongest_action_per_delivery(message: Message) -> dict[int, int]:
    """Per delivery, the severity of the strongest retraction queued, running or done.

    An undo (inbox) after a retraction resets the copy: a later verdict acts again.
    """
    strongest: dict[int, int] = {}
    rows = (
        RetractionAttempt.objects.for_tenant(message.tenant_id)
        .filter(message=message)
        .exclude(status__in=[AttemptStatus.CANCELLED, AttemptStatus.FAILED])
        .order_by("requested_at", "id")
        .values_list("delivery_id", "action")
    )
    for delivery_id, action in rows:
        strongest[delivery_id] = ACTION_SEVERITY[Action(action)] if action != Action.INBOX else -1
    return strongest


def attempts_enqueue(attempts: list[RetractionAttempt]) -> list[RetractionAttempt]:
    """Save queued attempts and hand them to the workers once the transaction commits."""
    if not attempts:
        return []
    created = RetractionAttempt.objects.bulk_create(attempts)
    ids = [a.pk for a in created]
    if any(pk is None for pk in ids):  # backends without RETURNING
        raise RuntimeError("bulk_create did not return primary keys")
    dispatch_on_commit(ids)
    return created


class _Dispatch:
    """The attempts a transaction queued, handed to the workers once, on its commit."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.sent = False

    def __call__(self) -> None:
        from retraction.tasks import dispatch_attempts

        self.sent = True
        dispatch_attempts(self.ids)


def dispatch_on_commit(ids: list[int]) -> None:
    """Dispatch `ids` when the transaction commits, together with the others it queued.

    A verdict list of 1,000 messages becomes a few tasks grouped by mailbox, not
    1,000 tasks of one message each. The pending dispatch is the callback still
    registered on the connection: a rollback discards it with the attempts (the
    next queue starts afresh); ids from a rolled-back savepoint are harmless,
    claims only take attempts that exist and are queued.
    """
    connection = transaction.get_connection()
    pending = next(
        (
            func
            for _, func, _ in reversed(connection.run_on_commit)
            if isinstance(func, _Dispatch) and not func.sent
        ),
        None,
    )
    if pending is None:
        pending = _Dispatch()
        pending.ids.extend(ids)
        transaction.on_commit(pending)  # outside a transaction: runs at once
        return
    pending.ids.extend(ids)


def message_reclassify(
    *, actor: Any, message: Message, disposition: str, via: str = "", note: str = ""
) -> DispositionChange | None:
    """An analyst (or API client) changes a message's disposition; the policy may act."""
    from django.core.exceptions import ValidationError

    from mailboxes.access import Role, require_role
    from mailboxes.audit import audit_record

    require_role(actor, message.tenant_id, Role.ANALYST)
    if disposition not in Disposition.values:
        raise ValidationError(
            {"disposition": [f"'{disposition}' is not one of {', '.join(Disposition.values)}."]}
        )
    with transaction.atomic():
        previous = message.disposition
        change = message_set_disposition(
            message=message, disposition=disposition, actor=actor, source=via or "manual", note=note
        )
        if change is not None:
            audit_record(
                actor=actor,
                action="message.reclassified",
                tenant=message.tenant,
                target=message,
                data={"from": previous, "to": disposition},
                via=via,
            )
    return change
