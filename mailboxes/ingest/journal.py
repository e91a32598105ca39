"""Exchange journal reports and plain BCC copies, as they arrive by SMTP (or upload).

An Exchange (Online) envelope journal report is a message to the tenant's journal
address whose first text part lists the journaled message's envelope, one field a
line, and whose attachment (message/rfc822) is the original, unaltered:

    Sender: attacker@evil.example
    Subject: Invoice
    Message-Id: <abc@evil.example>
    To: user@contoso.com
    Recipient: member@contoso.com, Expanded: sales@contoso.com
    Cc: fwd@contoso.com, Forwarded: user2@contoso.com

Recipient lines are `To:`, `Cc:`, `Bcc:` or `Recipient:`, optionally followed by
`, Expanded: <distribution list>` (the copy came through that list) or
`, Forwarded: <address>` (the categorizer redirected it). Reports carry the
`X-MS-Journal-Report` header. Reference: "Journal report format" in the Exchange
Server protocol documentation (MS-OXJRNL / technet bb738122).

Anything else sent to a journal address is a BCC copy (Google Workspace "Also deliver
to", a transport rule): its recipients come from the headers (X-Gm-Original-To,
Delivered-To, To, Cc ...), the journal address itself excluded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message as EmailMessage
from typing import Any

from django.utils import timezone

from mailboxes.ingest.items import (
    NO_MESSAGE_ID_NOTE,
    IngestError,
    IngestItem,
    IngestRecipient,
    clean_text,
    normalize_address,
    normalize_message_id,
    tenant_domains,
)
from mailboxes.ingest.limits import MAX_SENDER_LENGTH, MAX_SUBJECT_LENGTH, Limits
from mailboxes.ingest.mime import (
    HeaderReader,
    check_header_sizes,
    collect_recipients,
    envelope_recipients_validated,
    item_from_message,
    message_id_from,
    message_received_at,
    message_sender,
    message_subject,
    no_recipients_error,
    parse_bytes,
    verdict_from,
    verdict_header_names,
)

logger = logging.getLogger(__name__)

JOURNAL_HEADER = "X-MS-Journal-Report"
RECIPIENT_FIELDS = {"to", "cc", "bcc", "recipient"}
_FIELD = re.compile(r"^\s*([A-Za-z][A-Za-z-]*)\s*:\s*(.*?)\s*$")
_REDIRECTION = re.compile(r",\s*(?=(?:expanded|forwarded)\s*:)", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
# A report body is small; a huge first text part is not a report.
_MAX_REPORT_TEXT = 2 * 1024 * 1024


@dataclass
class JournalReport:
    sender: str = ""
    subject: str = ""
    message_id_values: list[str] = field(default_factory=list)
    # (recipient address as written, distribution list it was expanded from)
    recipients: list[tuple[str, str | None]] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)
    original: EmailMessage | None = None
    notes: list[str] = field(default_factory=list)


def _part_text(part: EmailMessage) -> str:
    try:
        text = part.get_content()
        if isinstance(text, str):
            return text
    except Exception:  # noqa: S110 - unknown charset or broken encoding: decode by hand below
        pass
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        return ""
    if isinstance(payload, str):
        return payload
    return payload.decode("utf-8", "replace")


def _report_parts(msg: EmailMessage) -> tuple[str | None, EmailMessage | None]:
    """The report's text (first text part outside the attachment) and the attached original."""
    text: str | None = None
    html: str | None = None
    original: EmailMessage | None = None
    stack = [msg]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            if original is None:
                payload = part.get_payload()
                inner = payload[0] if isinstance(payload, list) and payload else None
                if isinstance(inner, EmailMessage):
                    original = inner
            continue  # never read the original's own text as the report
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, EmailMessage)]
            continue
        if content_type == "text/plain" and text is None:
            text = _part_text(part)
        elif content_type == "text/html" and html is None:
            html = _TAGS.sub("\n", _part_text(part))
    return (text if text is not None else html), original


def _may_be_report(msg: EmailMessage) -> bool:
    """From the headers alone: could this be a journal report (so worth a full parse)?"""
    headers = HeaderReader(msg)
    if headers.has(JOURNAL_HEADER) or headers.has("Content-Identifier"):
        return True
    try:
        return msg.get_content_maintype() == "multipart"
    except Exception:
        return True


def is_journal_report(msg: EmailMessage) -> bool:
    headers = HeaderReader(msg)
    if headers.has(JOURNAL_HEADER):
        return True
    if "exjournalreport" in headers.first("Content-Identifier").lower():
        return True
    if not msg.is_multipart():
        return False
    text, original = _report_parts(msg)
    if original is None or not text:
        return False
    keys = {m.group(1).lower() for m in map(_FIELD.match, text.splitlines()[:50]) if m}
    return {"sender", "message-id"} <= keys and bool(keys & RECIPIENT_FIELDS)


def parse_journal_report(msg: EmailMessage) -> JournalReport:
    text, original = _report_parts(msg)
    report = JournalReport(original=original)
    if not text:
        return report
    if len(text) > _MAX_REPORT_TEXT:
        raise IngestError.of("raw", "The journal report's text part is implausibly large.")
    for line in text.splitlines():
        match = _FIELD.match(line)
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "sender" and not report.sender:
            report.sender = value
        elif key == "subject" and not report.subject:
            report.subject = value
        elif key == "message-id":
            report.message_id_values.append(value)
        elif key in RECIPIENT_FIELDS:
            _add_recipient(report, value)
    return report


def _add_recipient(report: JournalReport, value: str) -> None:
    address, *redirections = _REDIRECTION.split(value)
    via_group: str | None = None
    for redirection in redirections:
        kind, _, source = redirection.partition(":")
        kind = kind.strip().lower()
        try:
            source_address = normalize_address(source.strip())
        except ValueError:
            report.notes.append(f"Unreadable {kind} address {clean_text(source, 80)!r} skipped.")
            continue
        if kind == "expanded":
            report.groups.add(source_address)
            # The first list named is the one the copy came through; nested lists
            # are still recorded as groups.
            via_group = via_group or source_address
    report.recipients.append((address.strip(), via_group))


def item_from_journal_report(
    msg: EmailMessage,
    *,
    tenant: Any,
    limits: Limits,
    envelope_recipients: list[str] | None = None,
    exclude: set[str] | None = None,
    now: datetime | None = None,
) -> IngestItem:
    """The IngestItem of an Exchange journal report: the report's envelope, the original's rest."""
    now = now or timezone.now()
    report = parse_journal_report(msg)
    notes = list(report.notes)
    outer = HeaderReader(msg)
    inner = HeaderReader(report.original) if report.original is not None else None
    if report.original is not None:
        check_header_sizes(report.original, limits)

    if report.message_id_values:
        if len(report.message_id_values) > 1:
            notes.append("The journal report has several Message-Id lines; the first was used.")
        message_id, more = normalize_message_id(report.message_id_values[0])
        notes.extend(more)
        if message_id is None:
            notes.append(NO_MESSAGE_ID_NOTE)
    elif inner is not None:
        message_id, more = message_id_from(inner)
        notes.extend(more)
    else:
        message_id = None
        notes.append(NO_MESSAGE_ID_NOTE)

    domains = tenant_domains(tenant)
    if envelope_recipients:
        recipients = envelope_recipients_validated(envelope_recipients)
    else:
        recipients, more = collect_recipients(
            report.recipients, domains=domains, exclude=exclude or set()
        )
        notes.extend(more)
    if not recipients:
        raise no_recipients_error(domains)
    if len(recipients) > limits.max_recipients:
        raise IngestError.of(
            "recipients", limits.too_many_recipients(len(recipients)), code="too_many_recipients"
        )
    used_groups = {r.via_group for r in recipients if r.via_group}

    sender = ""
    if report.sender:
        try:
            sender = normalize_address(report.sender)
        except ValueError:
            sender = clean_text(report.sender, MAX_SENDER_LENGTH)
    if not sender and inner is not None:
        sender = message_sender(inner)
    subject = clean_text(report.subject, MAX_SUBJECT_LENGTH)
    if not subject and inner is not None:
        subject = message_subject(inner)

    received_at, more = message_received_at(inner or outer, now)
    notes.extend(more)
    readers = [inner, outer] if inner is not None else [outer]
    disposition, disposition_note, more = verdict_from(readers, verdict_header_names())
    notes.extend(more)
    return IngestItem(
        internet_message_id=message_id,
        recipients=recipients,
        sender=sender,
        subject=subject,
        received_at=received_at,
        disposition=disposition,
        disposition_note=disposition_note,
        groups=set(report.groups) | used_groups,
        notes=notes,
    )


def item_from_raw(
    raw: bytes,
    *,
    tenant: Any,
    limits: Limits,
    envelope_recipients: list[str] | None = None,
    exclude: set[str] | None = None,
    now: datetime | None = None,
    journal_reports: bool = True,
) -> IngestItem:
    """Parse a raw message (journal report or plain copy) into an IngestItem.

    With `journal_reports` False the message is read as a plain copy even if it
    looks like a journal report (for BCC tenants, whose copies are the sender's
    own message: a forged report in it must not name other messages or people).
    Raises IngestError with field errors when it cannot be used.
    """
    try:
        return _item_from_raw(
            raw,
            tenant=tenant,
            limits=limits,
            envelope_recipients=envelope_recipients,
            exclude=exclude,
            now=now,
            journal_reports=journal_reports,
        )
    except IngestError:
        raise
    except Exception as exc:
        # The parsers are meant not to raise on broken mail; should one still do, the
        # message is refused cleanly (and the log has the detail to fix it).
        logger.warning("ingest: a message could not be read", exc_info=True)
        raise IngestError.of("raw", f"The message cannot be read ({type(exc).__name__}).") from exc


def _item_from_raw(
    raw: bytes,
    *,
    tenant: Any,
    limits: Limits,
    envelope_recipients: list[str] | None,
    exclude: set[str] | None,
    now: datetime | None,
    journal_reports: bool,
) -> IngestItem:
    msg = parse_bytes(raw, limits, headers_only=True)
    if envelope_recipients is not None and not isinstance(envelope_recipients, list | tuple):
        raise IngestError.of("recipients", "Expected a list of addresses.")
    envelope = list(envelope_recipients or [])
    if journal_reports and _may_be_report(msg):
        msg = parse_bytes(raw, limits)  # the MIME structure is needed now
    if journal_reports and is_journal_report(msg):
        return item_from_journal_report(
            msg,
            tenant=tenant,
            limits=limits,
            envelope_recipients=envelope,
            exclude=exclude,
            now=now,
        )
    return item_from_message(
        msg,
        tenant=tenant,
        limits=limits,
        envelope_recipients=envelope,
        exclude=exclude,
        now=now,
    )


__all__ = [
    "IngestRecipient",
    "JournalReport",
    "is_journal_report",
    "item_from_journal_report",
    "item_from_raw",
    "parse_journal_report",
]
