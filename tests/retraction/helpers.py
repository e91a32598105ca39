"""Small helpers for engine tests."""

from __future__ import annotations

from mailboxes.models import Delivery, Mailbox, Message, Tenant
from mailboxes.providers.emulator import Emulator
from mailboxes.vocabulary import Disposition
from retraction.models import RetractionAttempt


def folder_of(emulator: Emulator, address: str, internet_message_id: str) -> str:
    """Where the emulator holds the (first live) copy: inbox, junk, trash, recoverable, purged."""
    copies = [
        c
        for c in emulator.state.mailbox_dump(address)["copies"]
        if c["internet_message_id"] == internet_message_id
    ]
    assert copies, f"{address} holds no copy of {internet_message_id}"
    return "purged" if copies[0]["gone"] else copies[0]["folder"]


def delivered(
    emulator: Emulator,
    tenant: Tenant,
    internet_message_id: str,
    recipients: list[str],
    *,
    members: dict[str, list[str]] | None = None,
    deliver: bool = True,
    disposition: str = Disposition.NONE,
) -> Message:
    """Deliver in the emulator and record in Clawback (group members listed if given)."""
    if deliver:
        emulator.state.deliver(
            tenant.slug, internet_message_id, recipients, "Urgent", "x@evil.test"
        )
    message = Message.objects.create(
        tenant=tenant,
        internet_message_id=internet_message_id,
        sender="x@evil.test",
        subject="Urgent",
        disposition=disposition,
    )
    boxes = {m.address: m for m in Mailbox.objects.for_tenant(tenant)}
    for address in recipients:
        Delivery.objects.create(
            tenant=tenant, message=message, recipient=address, mailbox=boxes.get(address)
        )
    for group, addresses in (members or {}).items():
        for address in addresses:
            Delivery.objects.get_or_create(
                tenant=tenant,
                message=message,
                recipient=address,
                defaults={"mailbox": boxes.get(address), "via_group": boxes[group]},
            )
    return message


def outcomes(message: Message) -> dict[str, tuple[str, str]]:
    """recipient → (status, reason) of the latest attempt per copy."""
    result: dict[str, tuple[str, str]] = {}
    for attempt in (
        RetractionAttempt.objects.for_tenant(message.tenant_id)
        .filter(message=message)
        .select_related("delivery")
        .order_by("requested_at", "id")
    ):
        result[attempt.delivery.recipient] = (attempt.status, attempt.reason)
    return result
