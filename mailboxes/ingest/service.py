"""The one ingest service behind every door: API verdicts, raw MIME uploads, SMTP.

Each door turns what it received into `IngestItem`s; one core (`ingest_messages`,
`_ingest_batch`) records them for a tenant in bulk (a query per kind of row for a
whole batch, never one per message), idempotently: the same message twice changes
nothing; new recipients are added; a new disposition goes through
`message_set_disposition`, which keeps the history and queues auto-retraction
on commit. Ingest itself never talks to a provider. One audit event per call
and tenant, with counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mailboxes.access import Role
from mailboxes.audit import audit_record
from mailboxes.ingest.bulk import InsertIgnoring, db_datetime
from mailboxes.ingest.items import (
    CREATED,
    INVALID,
    UNCHANGED,
    UPDATED,
    FieldErrors,
    IngestError,
    IngestItem,
    IngestResult,
)
from mailboxes.ingest.journal import item_from_raw
from mailboxes.ingest.limits import get_limits
from mailboxes.ingest.verdicts import NO_SUCH_TENANT, tenant_ref, validate_verdict
from mailboxes.models import (
    Delivery,
    GroupMembership,
    IngestionMode,
    Mailbox,
    MailboxKind,
    Message,
    MessageSource,
    Tenant,
)
from mailboxes.vocabulary import Disposition

logger = logging.getLogger(__name__)

# Rows per IN (...) list and per bulk insert: well inside every backend's parameter limit.
CHUNK = 500
AUDIT_ACTION = "messages.ingested"


# --- Results of a whole call ------------------------------------------------------------


@dataclass
class IngestReport:
    """The outcome of one call with one or many verdicts.

    `errors` are request-level (nothing was stored); otherwise `results` has one
    entry per item, in order.
    """

    many: bool
    results: list[IngestResult] = field(default_factory=list)
    errors: FieldErrors = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.status for r in self.results)
        return {s: counted.get(s, 0) for s in (CREATED, UPDATED, UNCHANGED, INVALID)}

    @property
    def http_status(self) -> int:
        """400 when nothing could be stored; 201 when one verdict created a message; else 200."""
        if self.errors or not any(r.ok for r in self.results):
            return 400
        if not self.many and self.results[0].status == CREATED:
            return 201
        return 200

    def as_data(self) -> dict[str, Any]:
        """The response body: field errors, one result, or every result with counts."""
        if self.errors:
            return self.errors
        if not self.many:
            result = self.results[0]
            return result.as_dict() if result.ok else result.errors
        return {**self.counts, "results": [r.as_dict() for r in self.results]}


# --- Doors ------------------------------------------------------------------------------


def ingest_verdicts(
    *,
    actor: Any,
    payload: Any,
    tenants_queryset: Any = None,
    source: str = MessageSource.API,
    via: str | None = None,
) -> IngestReport:
    """Validate and store one verdict dict or a list of them (at most INGEST_MAX_ITEMS).

    Only tenants on which `actor` holds the analyst role or better are accepted
    (within `tenants_queryset` if given); any other tenant is reported exactly
    like one that does not exist. Valid items are stored even when others are
    invalid; every item gets its result.
    """
    limits = get_limits()
    many = isinstance(payload, list)
    if not many and not isinstance(payload, dict):
        return IngestReport(
            many=False,
            errors={"non_field_errors": ["Expected a verdict object or a list of them."]},
        )
    raw_items: list[Any] = payload if many else [payload]
    if not raw_items:
        return IngestReport(many=True, errors={"non_field_errors": ["The list is empty."]})
    if len(raw_items) > limits.max_items:
        return IngestReport(
            many=True, errors={"non_field_errors": [limits.too_many_items(len(raw_items))]}
        )

    now = timezone.now()
    results: list[IngestResult | None] = [None] * len(raw_items)
    valid: list[tuple[int, int | str, IngestItem]] = []
    for index, data in enumerate(raw_items):
        try:
            ref, item = validate_verdict(data, limits=limits, now=now)
        except IngestError as exc:
            results[index] = IngestResult.invalid(exc.errors)
            continue
        valid.append((index, ref, item))

    tenants = writable_tenants(actor, {ref for _, ref, _ in valid}, tenants_queryset)
    by_tenant: dict[int, list[tuple[int, IngestItem]]] = {}
    for index, ref, item in valid:
        tenant = tenants.get(ref)
        if tenant is None:
            results[index] = IngestResult.invalid({"tenant": [NO_SUCH_TENANT]})
        else:
            by_tenant.setdefault(tenant.pk, []).append((index, item))

    if by_tenant:
        with transaction.atomic():
            for tenant_id, entries in by_tenant.items():
                tenant = next(t for t in tenants.values() if t.pk == tenant_id)
                stored = _ingest_and_audit(
                    tenant=tenant,
                    items=[item for _, item in entries],
                    actor=actor,
                    source=source,
                    via=via or source,
                    now=now,
                )
                for (index, _), result in zip(entries, stored, strict=True):
                    results[index] = result

    final = [r for r in results if r is not None]
    if many:
        for index, result in enumerate(final):
            result.index = index
    return IngestReport(many=many, results=final)


def ingest_raw(
    *,
    tenant: Tenant | int | str,
    raw: bytes,
    envelope_recipients: list[str] | None = None,
    actor: Any,
    source: str = MessageSource.UPLOAD,
    via: str | None = None,
) -> IngestResult:
    """Parse and store one raw RFC 822 message (a plain message or a journal report).

    Recipients are `envelope_recipients` if given, else the report's or the
    headers' (To, Cc, X-Gm-Original-To, Delivered-To ...; only the tenant's
    domains when it lists any). `actor` None means the system (SMTP receiver);
    a user needs the analyst role on the tenant, else the tenant is reported
    as missing.
    """
    resolved = _writable_tenant(tenant, actor)
    if resolved is None:
        return IngestResult.invalid({"tenant": [NO_SUCH_TENANT]})
    limits = get_limits()
    now = timezone.now()
    try:
        item = item_from_raw(
            raw, tenant=resolved, limits=limits, envelope_recipients=envelope_recipients, now=now
        )
    except IngestError as exc:
        return IngestResult.invalid(exc.errors)
    with transaction.atomic():
        [result] = _ingest_and_audit(
            tenant=resolved, items=[item], actor=actor, source=source, via=via or source, now=now
        )
    return result


def ingest_messages(
    *,
    tenant: Tenant,
    items: Sequence[IngestItem],
    actor: Any,
    source: str,
    via: str | None = None,
) -> list[IngestResult]:
    """Store already validated items for one tenant (no access check: callers do that)."""
    now = timezone.now()
    with transaction.atomic():
        return _ingest_and_audit(
            tenant=tenant, items=list(items), actor=actor, source=source, via=via or source, now=now
        )


@dataclass
class SmtpOutcome:
    """The SMTP reply for one received message, and what was stored."""

    reply: str
    results: list[IngestResult] = field(default_factory=list)

    @property
    def code(self) -> int:
        return int(self.reply[:3])


TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"


@dataclass
class SmtpEnvelope:
    """One message as the SMTP receiver got it."""

    raw: bytes
    rcpt_tos: Sequence[str]
    mail_from: str = ""
    peer: str = ""


def ingest_smtp(
    *, raw: bytes, rcpt_tos: Sequence[str], mail_from: str = "", peer: str = ""
) -> SmtpOutcome:
    """Store a journal report or BCC copy sent to tenants' journal addresses.

    Returns only after the transaction committed, so a 250 means stored. Mail
    that names no recipient in the tenant is accepted and dropped (bouncing it
    would only send a journal NDR); mail that cannot be used is refused (554).
    Unexpected errors propagate (the receiver answers 451).
    """
    envelope = SmtpEnvelope(raw, rcpt_tos, mail_from, peer)
    return ingest_smtp_many([envelope], fail_soft=False)[0]


def ingest_smtp_many(
    envelopes: Sequence[SmtpEnvelope], *, fail_soft: bool = True
) -> list[SmtpOutcome]:
    """`ingest_smtp` for messages that arrived together, in one transaction (group commit).

    With `fail_soft`, a failing batch is retried message by message, and a
    message that still fails gets a 451 reply instead of an exception.
    """
    addresses = [a for envelope in envelopes for a in envelope.rcpt_tos]
    tenants = journal_tenants(addresses)
    exclude = set(tenants) | {a.strip().lower() for a in addresses}
    limits = get_limits()
    now = timezone.now()
    outcomes: list[SmtpOutcome | None] = [None] * len(envelopes)
    work: dict[int, list[tuple[int, IngestItem]]] = {}
    by_pk: dict[int, Tenant] = {}
    for index, envelope in enumerate(envelopes):
        mine = {t.pk: t for a in envelope.rcpt_tos if (t := tenants.get(a.strip().lower()))}
        if not mine:
            outcomes[index] = SmtpOutcome("550 5.1.1 No recipient is a tenant's journal address")
            continue
        if len(envelope.raw) > limits.max_message_bytes:
            outcomes[index] = SmtpOutcome(f"552 5.3.4 {limits.message_too_big(len(envelope.raw))}")
            continue
        items: list[tuple[Tenant, IngestItem]] = []
        for tenant in mine.values():
            try:
                items.append(
                    (
                        tenant,
                        item_from_raw(
                            envelope.raw,
                            tenant=tenant,
                            limits=limits,
                            exclude=exclude,
                            now=now,
                            # Only Exchange writes journal reports; in a BCC copy, one
                            # would be the sender's forgery.
                            journal_reports=tenant.ingestion_mode != IngestionMode.BCC,
                        ),
                    )
                )
            except IngestError as exc:
                refusal = _smtp_refusal(exc, envelope, tenant)
                if refusal is not None:
                    outcomes[index] = refusal
                    break
        if outcomes[index] is not None:
            continue
        if not items:
            outcomes[index] = SmtpOutcome(
                "250 2.0.0 Accepted; no recipient in the tenant, nothing recorded"
            )
        for tenant, item in items:
            by_pk[tenant.pk] = tenant
            work.setdefault(tenant.pk, []).append((index, item))
    if not work:
        return _complete(outcomes)

    pending = sorted({index for entries in work.values() for index, _ in entries})
    results: dict[int, list[IngestResult]] = {index: [] for index in pending}
    try:
        with transaction.atomic():
            for tenant_pk, entries in work.items():
                stored = _ingest_and_audit(
                    tenant=by_pk[tenant_pk],
                    items=[item for _, item in entries],
                    actor=None,
                    source=MessageSource.SMTP,
                    via="smtp",
                    now=now,
                )
                for (index, _), result in zip(entries, stored, strict=True):
                    results[index].append(result)
    except Exception:
        if not fail_soft:
            raise
        if len(pending) == 1:
            logger.exception("smtp: storing mail from %s failed", envelopes[pending[0]].mail_from)
            outcomes[pending[0]] = SmtpOutcome(TEMPORARY_FAILURE)
        else:
            logger.warning(
                "smtp: storing %d messages together failed; one by one now",
                len(pending),
                exc_info=True,
            )
            for index in pending:
                outcomes[index] = ingest_smtp_many([envelopes[index]], fail_soft=True)[0]
        return _complete(outcomes)
    for index in pending:
        summary = ", ".join(f"message {r.id} {r.status}" for r in results[index])
        outcomes[index] = SmtpOutcome(f"250 2.0.0 Recorded: {summary}", results[index])
    return _complete(outcomes)


def _complete(outcomes: list[SmtpOutcome | None]) -> list[SmtpOutcome]:
    missing = [i for i, o in enumerate(outcomes) if o is None]
    if missing:
        raise RuntimeError(f"no SMTP outcome for envelopes {missing}")
    return [o for o in outcomes if o is not None]


def _smtp_refusal(exc: IngestError, envelope: SmtpEnvelope, tenant: Tenant) -> SmtpOutcome | None:
    """The reply for mail the tenant cannot use; None when it is merely not the tenant's."""
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
    if exc.code == "no_recipients":
        logger.info(
            "smtp: from %s (%s) for tenant %s: nothing to record (%s)",
            envelope.mail_from,
            envelope.peer,
            tenant.slug,
            detail,
        )
        return None
    logger.warning(
        "smtp: refused mail from %s (%s) for tenant %s: %s",
        envelope.mail_from,
        envelope.peer,
        tenant.slug,
        detail,
    )
    if exc.code == "too_big":
        return SmtpOutcome(f"552 5.3.4 {_reply_text(detail)}")
    if exc.code == "too_many_recipients":
        return SmtpOutcome(f"554 5.5.3 {_reply_text(detail)}")
    return SmtpOutcome(f"554 5.6.0 Message unusable: {_reply_text(detail)}")


def _reply_text(text: str) -> str:
    """One printable ASCII line, short enough for an SMTP reply."""
    line = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return line[:400]


# --- Tenants ----------------------------------------------------------------------------


def writable_tenants(
    actor: Any, refs: Iterable[int | str], tenants_queryset: Any = None
) -> dict[int | str, Tenant]:
    """Tenants (by id and by slug) among `refs` that `actor` may ingest into."""
    ids = {r for r in refs if isinstance(r, int)}
    slugs = {r for r in refs if isinstance(r, str)}
    if not ids and not slugs:
        return {}
    base = tenants_queryset if tenants_queryset is not None else Tenant.objects.all()
    found: dict[int | str, Tenant] = {}
    for tenant in base.for_user(actor, Role.ANALYST).filter(Q(pk__in=ids) | Q(slug__in=slugs)):
        if tenant.pk in ids:
            found[tenant.pk] = tenant
        if tenant.slug in slugs:
            found[tenant.slug] = tenant
    return found


def _writable_tenant(tenant: Tenant | int | str, actor: Any) -> Tenant | None:
    if actor is None:  # the system itself (SMTP receiver): trusted callers only
        if isinstance(tenant, Tenant):
            return tenant
        ref = tenant_ref(tenant)
        if ref is None:
            return None
        lookup = {"pk": ref} if isinstance(ref, int) else {"slug": ref}
        return Tenant.objects.filter(**lookup).first()
    ref = tenant.pk if isinstance(tenant, Tenant) else tenant_ref(tenant)
    if ref is None:
        return None
    return writable_tenants(actor, [ref]).get(ref)


def journal_tenants(addresses: Iterable[str]) -> dict[str, Tenant]:
    """Tenants by journal address (lower case) for the given envelope recipients."""
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return {}
    query = Q()
    for address in wanted:
        query |= Q(journal_address__iexact=address)
    return {
        t.journal_address.lower(): t
        for t in Tenant.objects.filter(query)
        if t.journal_address and t.journal_address.lower() in wanted
    }


# --- The batch --------------------------------------------------------------------------


def _ingest_and_audit(
    *,
    tenant: Tenant,
    items: list[IngestItem],
    actor: Any,
    source: str,
    via: str,
    now: datetime,
) -> list[IngestResult]:
    results: list[IngestResult] = []
    for start in range(0, len(items), 1000):
        results.extend(
            _ingest_batch(
                tenant=tenant,
                items=items[start : start + 1000],
                actor=actor,
                source=source,
                now=now,
            )
        )
    counted = Counter(r.status for r in results)
    audit_record(
        actor=actor,
        action=AUDIT_ACTION,
        tenant=tenant,
        data={
            "source": source,
            "items": len(results),
            "created": counted.get(CREATED, 0),
            "updated": counted.get(UPDATED, 0),
            "unchanged": counted.get(UNCHANGED, 0),
            "deliveries_created": sum(r.deliveries_created for r in results),
            "dispositions_changed": sum(1 for r in results if r.disposition_changed),
        },
        via=via,
    )
    return results


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _mailboxes_ensure(
    tenant_id: int, addresses: set[str], groups: set[str], now: datetime
) -> dict[str, int]:
    """Mailbox ids by address; unknown ones are created (kind group if known as a list).

    Addresses seen as a distribution list are marked kind group if their kind was
    unknown; the provider directory has the last word on anything else.
    """
    ordered = sorted(addresses)
    known: dict[str, tuple[int, str]] = {}

    def load(chunk: Sequence[str]) -> None:
        rows = (
            Mailbox.objects.for_tenant(tenant_id)
            .filter(address__in=chunk)
            .values_list("address", "pk", "kind")
        )
        known.update((address, (pk, kind)) for address, pk, kind in rows)

    for chunk in _chunks(ordered):
        load(chunk)
    missing = [a for a in ordered if a not in known]
    if missing:
        InsertIgnoring(Mailbox, ["address", "kind"], tenant_id=tenant_id, created_at=now).run(
            (a, MailboxKind.GROUP if a in groups else MailboxKind.UNKNOWN) for a in missing
        )
        for chunk in _chunks(missing):
            load(chunk)
    to_group = [known[a][0] for a in groups if a in known and known[a][1] == MailboxKind.UNKNOWN]
    if to_group:
        Mailbox.objects.for_tenant(tenant_id).filter(
            pk__in=to_group, kind=MailboxKind.UNKNOWN
        ).update(kind=MailboxKind.GROUP)
    return {address: pk for address, (pk, _) in known.items()}


def _ingest_batch(
    *,
    tenant: Tenant,
    items: list[IngestItem],
    actor: Any,
    source: str,
    now: datetime,
) -> list[IngestResult]:
    """Record up to ~1,000 items for one tenant, in bulk (inside the caller's transaction)."""
    tenant_id = tenant.pk
    results = [
        IngestResult(
            status=UNCHANGED,
            tenant_id=tenant_id,
            internet_message_id=item.internet_message_id,
            notes=list(item.notes),
        )
        for item in items
    ]

    # Mailboxes for every recipient and every list they came through; list memberships.
    groups: set[str] = set()
    addresses: set[str] = set()
    for item in items:
        groups |= item.groups
        for recipient in item.recipients:
            addresses.add(recipient.address)
            if recipient.via_group:
                groups.add(recipient.via_group)
    mailbox_ids = _mailboxes_ensure(tenant_id, addresses | groups, groups, now)
    memberships = sorted(
        {
            (mailbox_ids[r.via_group], mailbox_ids[r.address])
            for item in items
            for r in item.recipients
            if r.via_group
        }
    )
    if memberships:
        InsertIgnoring(
            GroupMembership, ["group_id", "member_id"], tenant_id=tenant_id, created_at=now
        ).run(memberships)

    # Messages: which exist; insert the others (a concurrent ingest of the same message
    # is ignored); then read them all back, locked, in a stable order.
    message_ids = sorted({i.internet_message_id for i in items if i.internet_message_id})
    existing: set[str] = set()
    for chunk in _chunks(message_ids):
        existing.update(
            Message.objects.for_tenant(tenant_id)
            .filter(internet_message_id__in=chunk)
            .values_list("internet_message_id", flat=True)
        )
    first_index: dict[str, int] = {}
    without_id: dict[int, Message] = {}
    for index, item in enumerate(items):
        key = item.internet_message_id
        if key is None:
            without_id[index] = _new_message(tenant_id, item, source, now)
        elif key not in existing and key not in first_index:
            first_index[key] = index
    if first_index:
        InsertIgnoring(
            Message,
            ["internet_message_id", "sender", "subject", "received_at"],
            tenant_id=tenant_id,
            source=source,
            created_at=now,
            disposition=Disposition.NONE,
        ).run(
            (
                key,
                items[index].sender,
                items[index].subject,
                db_datetime(items[index].received_at or now),
            )
            for key, index in sorted(first_index.items())
        )
    if without_id:
        Message.objects.bulk_create(list(without_id.values()), batch_size=CHUNK)
    # (pk, disposition, sender, subject) by Message-ID
    rows: dict[str, tuple[int, str, str, str]] = {}
    for chunk in _chunks(message_ids):
        query = (
            Message.objects.for_tenant(tenant_id)
            .filter(internet_message_id__in=chunk)
            .select_for_update()
            .order_by("pk")
            .values_list("internet_message_id", "pk", "disposition", "sender", "subject")
        )
        rows.update((key, (pk, d, sender, subject)) for key, pk, d, sender, subject in query)

    message_pks: list[int] = []
    for index, item in enumerate(items):
        key = item.internet_message_id
        pk = without_id[index].pk if key is None else rows[key][0]
        message_pks.append(pk)
        results[index].id = pk
        if key is None or first_index.get(key) == index:
            results[index].status = CREATED

    # Deliveries: the copies already recorded for messages that existed, then the new ones.
    present: dict[tuple[int, str], tuple[int | None, int | None]] = {}
    old_pks = [rows[k][0] for k in sorted(existing) if k in rows]
    for chunk in _chunks(old_pks):
        found = (
            Delivery.objects.for_tenant(tenant_id)
            .filter(message_id__in=chunk)
            .values_list("message_id", "recipient", "pk", "via_group_id")
        )
        present.update(((m, r), (pk, via)) for m, r, pk, via in found)
    new_deliveries: list[tuple[int, str, int, int | None]] = []
    via_fills: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        message_pk = message_pks[index]
        for recipient in item.recipients:
            key = (message_pk, recipient.address)
            via_id = mailbox_ids[recipient.via_group] if recipient.via_group else None
            known = present.get(key)
            if known is None:
                present[key] = (None, via_id)
                new_deliveries.append(
                    (message_pk, recipient.address, mailbox_ids[recipient.address], via_id)
                )
                results[index].deliveries_created += 1
                _mark_updated(results[index])
            elif known[1] is None and via_id is not None:
                # Now we know the copy came through a list: say so (rare, row by row).
                present[key] = (known[0], via_id)
                if known[0] is not None:
                    via_fills.append((known[0], via_id))
                _mark_updated(results[index])
    if new_deliveries:
        new_deliveries.sort()
        InsertIgnoring(
            Delivery,
            ["message_id", "recipient", "mailbox_id", "via_group_id"],
            tenant_id=tenant_id,
            created_at=now,
        ).run(new_deliveries)
    for delivery_pk, via_id in via_fills:
        Delivery.objects.filter(pk=delivery_pk, via_group__isnull=True).update(via_group_id=via_id)

    # Rare per-message work: fill blanks an earlier report left, apply verdicts. A
    # message stated more than once in the batch gets each verdict in turn.
    stated = Counter(
        i.internet_message_id for i in items if i.internet_message_id and i.disposition
    )
    needs_row: list[int] = []
    for index, item in enumerate(items):
        key = item.internet_message_id
        if key is None:
            if item.disposition is not None:
                needs_row.append(index)
            continue
        row = rows[key]
        verdict = item.disposition is not None and (item.disposition != row[1] or stated[key] > 1)
        blanks = results[index].status != CREATED and _has_blanks(row, item)
        if verdict or blanks:
            needs_row.append(index)
    if needs_row:
        _apply_per_message(items, results, needs_row, without_id, message_pks, actor, source)
    return results


def _has_blanks(row: tuple[int, str, str, str], item: IngestItem) -> bool:
    _, _, sender, subject = row
    return bool((not sender and item.sender) or (not subject and item.subject))


def _apply_per_message(
    items: list[IngestItem],
    results: list[IngestResult],
    indexes: list[int],
    without_id: dict[int, Message],
    message_pks: list[int],
    actor: Any,
    source: str,
) -> None:
    from retraction.services.decide import message_set_disposition

    wanted = {message_pks[i] for i in indexes if i not in without_id}
    loaded = {m.pk: m for m in Message.objects.filter(pk__in=wanted)} if wanted else {}
    for index in indexes:
        item, result = items[index], results[index]
        message = without_id.get(index) or loaded[message_pks[index]]
        if result.status != CREATED:
            _fill_blanks(message, item, result)
        if item.disposition is not None:
            change = message_set_disposition(
                message=message,
                disposition=item.disposition,
                actor=actor,
                source=source,
                note=item.disposition_note,
            )
            if change is not None:
                result.disposition_changed = True
                _mark_updated(result)


def _new_message(tenant_id: int, item: IngestItem, source: str, now: datetime) -> Message:
    # Created undecided: the verdict is applied through message_set_disposition so that
    # it has its history entry and the policy acts on it.
    return Message(
        tenant_id=tenant_id,
        internet_message_id=item.internet_message_id,
        sender=item.sender,
        subject=item.subject,
        received_at=item.received_at or now,
        source=source,
        created_at=now,
    )


def _mark_updated(result: IngestResult) -> None:
    if result.status == UNCHANGED:
        result.status = UPDATED


def _fill_blanks(message: Message, item: IngestItem, result: IngestResult) -> None:
    """A later report may know the sender or subject an earlier one lacked; never overwrite."""
    fields = [
        name for name in ("sender", "subject") if not getattr(message, name) and getattr(item, name)
    ]
    for name in fields:
        setattr(message, name, getattr(item, name))
    if fields:
        message.save(update_fields=fields)
        _mark_updated(result)
