"""Validating API-shaped verdicts into IngestItems, with field-level errors.

A verdict is `{tenant, internet_message_id, sender, subject, received_at,
recipients: [address | {address, via_group}], disposition}`; `tenant` is an id or
a slug, `recipients` is required, everything else optional. Errors come back in
the REST API's shape, `{"recipients": ["Entry 2: 'x@' is not a valid email address."]}`.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mailboxes.ingest.items import (
    NO_MESSAGE_ID_NOTE,
    FieldErrors,
    IngestError,
    IngestItem,
    IngestRecipient,
    clean_text,
    normalize_address,
    normalize_message_id,
)
from mailboxes.ingest.limits import MAX_SENDER_LENGTH, MAX_SUBJECT_LENGTH, Limits
from mailboxes.vocabulary import Disposition

NO_SUCH_TENANT = "No tenant with this id or slug."
FUTURE_SLACK = timedelta(days=1)


# Database ids are signed 64-bit; a larger number names no row (and overflows the query).
MAX_ID = 2**63 - 1


def tenant_ref(value: Any) -> int | str | None:
    """A tenant reference as an id (int) or a slug (str); None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_ID <= value <= MAX_ID else None
    if isinstance(value, str):
        text = value.strip()
        # isdigit() alone lets "²" through, which int() refuses.
        if text.isascii() and text.isdigit() and len(text) < 19:
            return int(text)
        if text and len(text) <= 64:
            return text
    return None


def parse_disposition(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().upper() in Disposition.values:
        return value.strip().upper()
    raise ValueError(f"{clean_text(value, 40)!r} is not one of {', '.join(Disposition.values)}.")


def parse_received_at(value: Any, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            moment = None
        if moment is None:
            raise ValueError("Not a date and time; use ISO 8601, e.g. 2025-01-31T08:15:00Z.")
    else:
        raise ValueError("Not a date and time; use ISO 8601, e.g. 2025-01-31T08:15:00Z.")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    try:
        # In UTC: Python allows offsets up to ±23:59, PostgreSQL refuses those beyond ±15:59.
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 lies before the first UTC instant
        raise ValueError("Out of range; use ISO 8601, e.g. 2025-01-31T08:15:00Z.") from None
    if moment > now + FUTURE_SLACK:
        raise ValueError("Lies in the future; is the time zone right?")
    return moment


def parse_recipients(value: Any, limits: Limits) -> tuple[list[IngestRecipient], set[str]]:
    """Recipients and the groups they came through; raises IngestError on any bad entry."""
    if not isinstance(value, list):
        raise IngestError.of("recipients", "Expected a list of addresses or {address, via_group}.")
    if not value:
        raise IngestError.of("recipients", "Give at least one recipient.")
    if len(value) > limits.max_recipients:
        raise IngestError.of(
            "recipients", limits.too_many_recipients(len(value)), code="too_many_recipients"
        )
    recipients: dict[str, IngestRecipient] = {}
    groups: set[str] = set()
    errors: list[str] = []
    for position, entry in enumerate(value):
        via_group: str | None = None
        try:
            if isinstance(entry, dict):
                if "address" not in entry:
                    raise ValueError("Missing 'address'.")
                address = normalize_address(entry["address"])
                if entry.get("via_group") not in (None, ""):
                    try:
                        via_group = normalize_address(entry["via_group"])
                    except ValueError as exc:
                        raise ValueError(f"via_group: {exc}") from None
                    if via_group == address:
                        raise ValueError("A recipient cannot come through itself (via_group).")
            else:
                address = normalize_address(entry)
        except ValueError as exc:
            if len(errors) < 20:
                errors.append(f"Entry {position}: {exc}")
            continue
        if via_group:
            groups.add(via_group)
        known = recipients.get(address)
        if known is None:
            recipients[address] = IngestRecipient(address, via_group)
        elif via_group and known.via_group is None:
            known.via_group = via_group
    if errors:
        raise IngestError({"recipients": errors})
    return list(recipients.values()), groups


def _text(value: Any, name: str, max_length: int, errors: FieldErrors) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return ""
    text = clean_text(value, max_length + 1)
    if len(text) > max_length:
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
        return ""
    return text


def validate_verdict(
    data: Any, *, limits: Limits, now: datetime | None = None
) -> tuple[int | str, IngestItem]:
    """(tenant reference, item) from one verdict dict; raises IngestError with every field error.

    The tenant reference is resolved (and access checked) by the caller.
    """
    now = now or timezone.now()
    if not isinstance(data, dict):
        raise IngestError.of("non_field_errors", "Expected a verdict object.")
    errors: FieldErrors = {}
    notes: list[str] = []

    ref = tenant_ref(data.get("tenant"))
    if data.get("tenant") in (None, ""):
        errors["tenant"] = ["This field is required."]
    elif ref is None:
        errors["tenant"] = [NO_SUCH_TENANT]

    message_id: str | None = None
    try:
        message_id, more = normalize_message_id(data.get("internet_message_id"))
        notes.extend(more)
        if message_id is None:
            notes.append(NO_MESSAGE_ID_NOTE)
    except IngestError as exc:
        errors.update(exc.errors)

    recipients: list[IngestRecipient] = []
    groups: set[str] = set()
    if "recipients" not in data:
        errors["recipients"] = ["This field is required."]
    else:
        try:
            recipients, groups = parse_recipients(data["recipients"], limits)
        except IngestError as exc:
            errors.update(exc.errors)

    sender = _text(data.get("sender"), "sender", MAX_SENDER_LENGTH, errors)
    if sender and "@" in sender:
        # A display form or an odd sender is kept as written.
        with contextlib.suppress(ValueError):
            sender = normalize_address(sender)
    subject = _text(data.get("subject"), "subject", MAX_SUBJECT_LENGTH, errors)

    received_at = None
    try:
        received_at = parse_received_at(data.get("received_at"), now)
    except ValueError as exc:
        errors["received_at"] = [str(exc)]

    disposition = None
    try:
        disposition = parse_disposition(data.get("disposition"))
    except ValueError as exc:
        errors["disposition"] = [str(exc)]

    if errors:
        raise IngestError(errors)
    assert ref is not None
    item = IngestItem(
        internet_message_id=message_id,
        recipients=recipients,
        sender=sender,
        subject=subject,
        received_at=received_at,
        disposition=disposition,
        groups=groups,
        notes=notes,
    )
    return ref, item
