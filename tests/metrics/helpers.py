"""Hand-made retraction attempts for the metrics tests, written in bulk."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailboxes.models import Delivery, Message, Tenant
from mailboxes.vocabulary import Disposition, ReadState
from retraction.models import AttemptStatus, Mode, RetractionAttempt

_seq = itertools.count(1)
T0 = datetime(2025, 3, 10, tzinfo=UTC)  # a Monday, well in the past


@dataclass
class Spec:
    """One attempt and the message it belongs to (times default around completed_at)."""

    completed_at: datetime | None
    status: str = AttemptStatus.SUCCEEDED
    reason: str = ""
    mode: str = Mode.AUTO
    read_state: str = ReadState.UNREAD
    action: str = "trash"
    received_at: datetime | None = None  # default: completed_at - 1 h
    verdict_at: datetime | None = None  # message.disposition_changed_at (default: requested_at)
    requested_at: datetime | None = None  # default: completed_at - 30 s


def make_attempts(tenant: Tenant, specs: list[Spec]) -> list[RetractionAttempt]:
    """One message with one delivery per spec, and its attempt."""
    anchor = [s.completed_at or T0 for s in specs]
    requested = [
        s.requested_at or (a - timedelta(seconds=30)) for s, a in zip(specs, anchor, strict=True)
    ]
    messages = Message.objects.bulk_create(
        Message(
            tenant=tenant,
            internet_message_id=f"<metrics-{next(_seq)}@evil.example>",
            subject="Metrics test",
            received_at=s.received_at or (a - timedelta(hours=1)),
            disposition=Disposition.MALICIOUS,
            disposition_changed_at=s.verdict_at or r,
        )
        for s, a, r in zip(specs, anchor, requested, strict=True)
    )
    deliveries = Delivery.objects.bulk_create(
        Delivery(tenant=tenant, message=m, recipient=f"user{m.pk}@{tenant.slug}.example")
        for m in messages
    )
    return RetractionAttempt.objects.bulk_create(
        RetractionAttempt(
            tenant=tenant,
            message=m,
            delivery=d,
            mode=s.mode,
            action=s.action,
            status=s.status,
            reason=s.reason,
            read_state=s.read_state,
            requested_at=r,
            started_at=r,
            completed_at=s.completed_at,
        )
        for s, m, d, r in zip(specs, messages, deliveries, requested, strict=True)
    )
