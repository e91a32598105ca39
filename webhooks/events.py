"""What goes out: the audit trail, finished retraction attempts and pings, as events.

Each event becomes one `WebhookDelivery` per enabled endpoint of its tenant that
subscribed to its type, written in the caller's transaction, and the sender is
dispatched on commit. Enqueuing must cost nothing when no tenant has a webhook
(the retraction engine records thousands of outcomes a second): the ids of the
tenants with an enabled endpoint are cached per process for `CACHE_SECONDS`, so
the usual answer ("nobody listens") takes no query at all. Only when a tenant
involved has an endpoint is there one query for its endpoints and one bulk insert.

A new endpoint is seen at once in the process that saved it (the cache is dropped
on every endpoint save and delete), and within `CACHE_SECONDS` in the others.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from webhooks.models import WebhookDelivery, WebhookEndpoint, wants

if TYPE_CHECKING:
    from mailboxes.models import AuditEvent, Tenant
    from retraction.models import RetractionAttempt

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
ATTEMPT_FINISHED = "retraction.attempt.finished"
PING = "webhook.ping"

_subscribed: tuple[float, frozenset[int]] | None = None


# --- The cache of tenants with an enabled endpoint -------------------------------------


def subscribed_tenants() -> frozenset[int]:
    """Ids of the tenants with at least one enabled endpoint (cached a few seconds)."""
    global _subscribed
    cached = _subscribed
    now = time.monotonic()
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    ids = frozenset(
        WebhookEndpoint.objects.all_tenants()
        .filter(enabled=True)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    _subscribed = (now, ids)
    return ids


def forget_endpoints(**_: Any) -> None:
    """Drop the cache (an endpoint was saved or deleted in this process)."""
    global _subscribed
    _subscribed = None


def connect_signals() -> None:
    # Not business logic: only keeps this process's cache in step with the table.
    for signal in (post_save, post_delete):
        signal.connect(forget_endpoints, sender=WebhookEndpoint, dispatch_uid=f"webhooks-{signal}")


# --- Events --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    tenant_id: int
    type: str
    payload: dict[str, Any]

    @property
    def id(self) -> str:
        return self.payload["id"]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(
    *, tenant: Tenant, event_type: str, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": iso(occurred_at),
        "tenant": {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name},
        "data": data,
    }


def audit_event(event: AuditEvent) -> Event:
    data = dict(event.data)
    payload = envelope(
        tenant=event.tenant,
        event_type=event.action,
        occurred_at=event.created_at,
        data={
            "audit_event_id": event.pk,
            "actor": event.actor_label,
            "actor_id": event.actor_id,
            "action": event.action,
            "target": {
                "type": event.target_type,
                "id": event.target_id,
                "repr": event.target_repr,
            },
            "via": data.get("via", ""),
            "details": data,
        },
    )
    return Event(event.tenant_id, event.action, payload)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def attempt_event(attempt: RetractionAttempt) -> Event:
    """The outcome of one attempt; reads only rows the engine has loaded already."""
    message, delivery = attempt.message, attempt.delivery
    read = {"read": True, "unread": False}.get(attempt.read_state)
    payload = envelope(
        tenant=attempt.tenant,
        event_type=ATTEMPT_FINISHED,
        occurred_at=attempt.completed_at or timezone.now(),
        data={
            "attempt_id": attempt.pk,
            "message_id": message.pk,
            "internet_message_id": message.internet_message_id,
            "sender": message.sender,
            "subject": message.subject[:300],
            "recipient": delivery.recipient,
            "action": attempt.action,
            "mode": attempt.mode,
            "status": attempt.status,
            "reason": attempt.reason,
            "read_state": attempt.read_state,
            "was_read": read,
            "detail": attempt.detail[:500],
            "job_id": attempt.job_id,
            "requested_by_id": attempt.requested_by_id,
            "timings": {
                "received_at": iso(message.received_at),
                "requested_at": iso(attempt.requested_at),
                "started_at": iso(attempt.started_at),
                "completed_at": iso(attempt.completed_at),
                "seconds_requested_to_completed": _seconds(
                    attempt.requested_at, attempt.completed_at
                ),
                "seconds_received_to_completed": _seconds(
                    message.received_at, attempt.completed_at
                ),
            },
        },
    )
    return Event(attempt.tenant_id, ATTEMPT_FINISHED, payload)


# --- Enqueuing -----------------------------------------------------------------------------


def audit_recorded(event: AuditEvent) -> None:
    """Called by mailboxes.audit.audit_record for every new audit event."""
    if event.tenant_id is None or event.tenant_id not in subscribed_tenants():
        return
    _enqueue_safely(lambda: [audit_event(event)])


def attempts_finished(attempts: Sequence[RetractionAttempt]) -> int:
    """Called by the retraction engine with each batch of recorded outcomes."""
    subscribed = subscribed_tenants()
    if not subscribed:
        return 0
    mine = [a for a in attempts if a.tenant_id in subscribed]
    if not mine:
        return 0
    return _enqueue_safely(lambda: [attempt_event(a) for a in mine])


def _enqueue_safely(build: Callable[[], list[Event]]) -> int:
    """Enqueue in a savepoint: a failure here loses events, never the caller's write."""
    try:
        with transaction.atomic():
            return enqueue(build())
    except Exception:
        log.exception("webhook events could not be queued")
        return 0


def enqueue(events: Iterable[Event]) -> int:
    """Write one delivery per event and subscribed endpoint; dispatch the sender on commit."""
    events = list(events)
    tenants = {e.tenant_id for e in events}
    endpoints: dict[int, list[tuple[int, list[str]]]] = defaultdict(list)
    rows = (
        WebhookEndpoint.objects.all_tenants()
        .filter(enabled=True, tenant_id__in=tenants)
        .values_list("tenant_id", "pk", "event_types")
    )
    for tenant_id, pk, types in rows:
        endpoints[tenant_id].append((pk, types or []))
    now = timezone.now()
    deliveries = [
        WebhookDelivery(
            tenant_id=event.tenant_id,
            endpoint_id=pk,
            event_id=event.id,
            event_type=event.type,
            payload=event.payload,
            next_attempt_at=now,
            created_at=now,
        )
        for event in events
        for pk, types in endpoints.get(event.tenant_id, ())
        if wants(types, event.type)
    ]
    if not deliveries:
        return 0
    WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
    from webhooks.tasks import dispatch

    transaction.on_commit(dispatch)
    return len(deliveries)


def ping(endpoint: WebhookEndpoint, *, actor_label: str, via: str = "") -> WebhookDelivery:
    """A test event for one endpoint, enabled or not, whatever its event types."""
    payload = envelope(
        tenant=endpoint.tenant,
        event_type=PING,
        occurred_at=timezone.now(),
        data={"endpoint_id": endpoint.pk, "requested_by": actor_label, "via": via},
    )
    delivery = WebhookDelivery.objects.create(
        tenant_id=endpoint.tenant_id,
        endpoint=endpoint,
        event_id=payload["id"],
        event_type=PING,
        payload=payload,
        next_attempt_at=timezone.now(),
    )
    from webhooks.tasks import dispatch

    transaction.on_commit(dispatch)
    return delivery
