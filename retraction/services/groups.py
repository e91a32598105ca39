"""Distribution lists: the list's copy is not a mailbox; its members' copies are retracted."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction

from mailboxes.models import Delivery, GroupMembership, Mailbox, MailboxKind
from mailboxes.providers import provider_for
from mailboxes.providers.base import ProviderError
from mailboxes.vocabulary import FailureReason
from retraction.models import AttemptStatus, RetractionAttempt
from retraction.services.decide import attempts_enqueue

log = logging.getLogger(__name__)


def groups_expand(attempt_ids: Sequence[int]) -> int:
    """For failed not_a_mailbox attempts, retract the members' copies the ingest did not list.

    The members come from what Clawback already knows (GroupMembership), else
    from the provider's directory. Returns the number of attempts queued.
    """
    queued = 0
    attempts = (
        RetractionAttempt.objects.all_tenants()
        .filter(pk__in=list(attempt_ids), reason=FailureReason.NOT_A_MAILBOX)
        .select_related("delivery", "delivery__mailbox", "message", "tenant")
    )
    for attempt in attempts:
        queued += _expand_one(attempt)
    return queued


def _expand_one(attempt: RetractionAttempt) -> int:
    delivery, tenant = attempt.delivery, attempt.tenant
    group = delivery.mailbox
    if group is None:
        group, _ = Mailbox.objects.get_or_create(
            tenant=tenant, address=delivery.recipient, defaults={"kind": MailboxKind.GROUP}
        )
    members = list(Mailbox.objects.for_tenant(tenant).filter(member_of=group))
    if not members:
        try:
            provider = provider_for(tenant)
            info = provider.resolve(group.address)
            if info.kind != MailboxKind.GROUP:
                return 0
            directory = provider.group_members(group.address)
        except ProviderError as exc:
            log.warning("cannot list members of %s: %s", group.address, exc.reason)
            return 0
        members = _store_members(
            group, [(m.address.lower(), m.kind, m.display_name) for m in directory]
        )
    elif group.kind != MailboxKind.GROUP:
        Mailbox.objects.filter(pk=group.pk).update(kind=MailboxKind.GROUP)
    with transaction.atomic():
        existing = set(
            Delivery.objects.for_tenant(tenant)
            .filter(message=attempt.message)
            .values_list("recipient", flat=True)
        )
        new = [
            Delivery(
                tenant=tenant,
                message=attempt.message,
                recipient=m.address,
                mailbox=m,
                via_group=group,
            )
            for m in members
            if m.address not in existing
        ]
        Delivery.objects.bulk_create(new, ignore_conflicts=True)
        created = Delivery.objects.for_tenant(tenant).filter(
            message=attempt.message, via_group=group, recipient__in=[d.recipient for d in new]
        )
        return len(
            attempts_enqueue(
                [
                    RetractionAttempt(
                        tenant=tenant,
                        message=attempt.message,
                        delivery=d,
                        job=attempt.job,
                        mode=attempt.mode,
                        action=attempt.action,
                        requested_by=attempt.requested_by,
                        status=AttemptStatus.QUEUED,
                    )
                    for d in created
                ]
            )
        )


def _store_members(group: Mailbox, members: list[tuple[str, str, str]]) -> list[Mailbox]:
    tenant_id = group.tenant_id
    with transaction.atomic():
        if group.kind != MailboxKind.GROUP:
            group.kind = MailboxKind.GROUP
            group.save(update_fields=["kind"])
        Mailbox.objects.bulk_create(
            [
                Mailbox(
                    tenant_id=tenant_id,
                    address=address,
                    kind=kind or MailboxKind.USER,
                    display_name=name,
                )
                for address, kind, name in members
            ],
            ignore_conflicts=True,
        )
        rows = list(
            Mailbox.objects.for_tenant(tenant_id).filter(address__in=[a for a, _, _ in members])
        )
        GroupMembership.objects.bulk_create(
            [GroupMembership(tenant_id=tenant_id, group=group, member=m) for m in rows],
            ignore_conflicts=True,
        )
    return rows
