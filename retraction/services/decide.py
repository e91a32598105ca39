"""Deciding: a message's disposition changes, the tenant's policy says what to do.

One attempt per delivery is queued in the same transaction as the change and
handed to django-q2 on commit. The same verdict twice queues nothing new; a
harsher verdict re-retracts with the harsher action; NONE never undoes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from mailboxes.access import stored_user
from mailboxes.models import Delivery, DispositionChange, Message
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


def attempts_queue_for_policy(*, message: Message) -> list[int]:
    """Queue auto attempts for every copy the policy now covers (inside a transaction).

    Returns the new attempts' ids.
    """
    action = policy_action_for(message)
    if action == PolicyAction.NONE or not message.retractable:
        return []
    severity = ACTION_SEVERITY[Action(action)]
    done = _strongest_action_per_delivery(message)
    deliveries = message.deliveries.order_by("pk").values_list("pk", flat=True)
    covered = [pk for pk in deliveries if done.get(pk, -1) < severity]
    like = RetractionAttempt(
        tenant_id=message.tenant_id, mode=Mode.AUTO, action=action, requested_at=timezone.now()
    )
    ids = attempts_insert(covered, like=like)
    dispatch_on_commit(ids)
    return ids


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


# Copies per INSERT … SELECT: well inside SQLite's and PostgreSQL's parameter limits.
INSERT_CHUNK = 900


def attempts_insert(delivery_ids: Sequence[int], *, like: RetractionAttempt) -> list[int]:
    """Save one queued attempt per delivery, each like `like` for that delivery; their ids.

    Tenant, message and delivery come from the delivery row (only deliveries of
    `like`'s tenant are taken); every other field is `like`'s. One INSERT … SELECT …
    RETURNING per chunk and no model instance per row: bulk_create builds one per
    row and, on SQLite, sends 52 rows per statement (10,000 copies: 2 s of a
    verdict's commit, now a tenth of that). Dispatching is the caller's.
    """
    ids = list(delivery_ids)
    if not ids:
        return []
    connection = connections[router.db_for_write(RetractionAttempt)]
    if not connection.features.can_return_rows_from_bulk_insert:
        return _attempts_bulk_create(ids, like)
    quote = connection.ops.quote_name
    from_delivery = {"tenant": "tenant_id", "message": "message_id", "delivery": "id"}
    columns, values, constants = [], [], []
    for field in RetractionAttempt._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(quote(field.column))
        if field.name in from_delivery:
            values.append(f"d.{quote(from_delivery[field.name])}")
        else:
            values.append("%s")
            constants.append(field.get_db_prep_save(getattr(like, field.attname), connection))
    head = (
        f"INSERT INTO {quote(RetractionAttempt._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - names from the models
        f"SELECT {', '.join(values)} FROM {quote(Delivery._meta.db_table)} d "
        f"WHERE d.{quote('tenant_id')} = %s AND d.{quote('id')} IN "
    )
    tail = f" RETURNING {quote(RetractionAttempt._meta.pk.column)}"
    created: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), INSERT_CHUNK):
            chunk = ids[start : start + INSERT_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"{head}({marks}){tail}", [*constants, like.tenant_id, *chunk])
            created += [row[0] for row in cursor.fetchall()]
    return created


def _attempts_bulk_create(delivery_ids: list[int], like: RetractionAttempt) -> list[int]:
    rows = Delivery.objects.for_tenant(like.tenant_id).filter(pk__in=delivery_ids)
    common = {
        f.attname: getattr(like, f.attname)
        for f in RetractionAttempt._meta.concrete_fields
        if not f.primary_key
    }
    attempts = [
        RetractionAttempt(**{**common, "message_id": message_id, "delivery_id": delivery_id})
        for delivery_id, message_id in rows.values_list("pk", "message_id").iterator()
    ]
    return [a.pk for a in RetractionAttempt.objects.bulk_create(attempts)]


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
