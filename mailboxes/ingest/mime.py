"""Reading raw RFC 822 messages with the standard library, defensively.

`parse_bytes` turns bytes into an `EmailMessage` (policy.default, falling back to
compat32 when the modern parser gives up) after checking the size limits;
`HeaderReader` reads decoded header values and addresses, falling back to the
raw (compat32-style) values whenever policy.default's header parser raises on
broken input; `item_from_message` builds the IngestItem of a plain message (an
upload, or a BCC copy received by SMTP).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import policy
from email.header import decode_header, make_header
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from mailboxes.ingest.items import (
    NO_MESSAGE_ID_NOTE,
    IngestError,
    IngestItem,
    IngestRecipient,
    address_in_domains,
    clean_text,
    fix_surrogates,
    normalize_address,
    normalize_message_id,
    tenant_domains,
)
from mailboxes.ingest.limits import MAX_SENDER_LENGTH, MAX_SUBJECT_LENGTH, Limits
from mailboxes.vocabulary import Disposition

logger = logging.getLogger(__name__)

DEFAULT_VERDICT_HEADERS = ["X-Clawback-Disposition", "X-Area1Security-Disposition"]

# Headers naming who a copy was delivered to: the visible ones, and the ones MTAs add
# with the envelope recipient (Gmail routing, Postfix, qmail/Exim).
RECIPIENT_HEADERS = (
    "To",
    "Cc",
    "Bcc",
    "X-Gm-Original-To",
    "X-Original-To",
    "Delivered-To",
    "X-Envelope-To",
)

# Verdict words (case-insensitive) as Clawback and Area 1 style gateways write them.
VERDICT_WORDS = {
    "MALICIOUS": Disposition.MALICIOUS,
    "SUSPICIOUS": Disposition.SUSPICIOUS,
    "SPOOF": Disposition.SPOOF,
    "SPAM": Disposition.SPAM,
    "BULK": Disposition.BULK,
    "NONE": Disposition.NONE,
}

_FOLDING = re.compile(r"\r?\n[ \t]*")
_FIRST_WORD = re.compile(r"[A-Za-z_-]+")
# Dates outside this window are a forger's or a broken clock's, not a delivery time.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)


def verdict_header_names() -> list[str]:
    return list(getattr(settings, "CLAWBACK_VERDICT_HEADERS", DEFAULT_VERDICT_HEADERS))


def parse_bytes(raw: Any, limits: Limits, *, headers_only: bool = False) -> EmailMessage:
    """Parse a raw message; raises IngestError when it is too big or cannot be used.

    `headers_only` leaves the body as one unparsed string: enough for a plain
    message, and much cheaper for a large one.
    """
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise IngestError.of("raw", "Expected the message as bytes.")
    if len(raw) > limits.max_message_bytes:
        raise IngestError.of("raw", limits.message_too_big(len(raw)), code="too_big")
    if not raw.strip():
        raise IngestError.of("raw", "The message is empty.")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=headers_only)
    except Exception:
        logger.info("policy.default could not parse a message; trying compat32", exc_info=True)
        try:
            msg = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=headers_only)
        except Exception as exc:
            raise IngestError.of("raw", f"The message cannot be parsed ({exc}).") from exc
    check_header_sizes(msg, limits)
    return msg


def check_header_sizes(msg: EmailMessage, limits: Limits) -> None:
    """Refuse a header above the per-header limit, or headers above the total limit."""
    total = 0
    errors: list[str] = []
    for name, value in msg.raw_items():
        size = len(name) + len(value) + 2
        total += size
        if size > limits.max_header_bytes and len(errors) < 3:
            errors.append(limits.header_too_big(clean_text(name, 60), size))
    if total > limits.max_headers_bytes:
        errors.append(limits.headers_too_big(total))
    if errors:
        raise IngestError({"headers": errors}, code="headers")


def decode_raw_header(value: str) -> str:
    """Decode a raw header value the compat32 way (encoded words, 8-bit as UTF-8)."""
    value = _FOLDING.sub(" ", value)
    # On a broken value the raw text is the best we can do.
    with contextlib.suppress(Exception):
        value = str(make_header(decode_header(value)))
    return fix_surrogates(value)


class HeaderReader:
    """Decoded header values of one message, never raising on broken headers."""

    def __init__(self, msg: EmailMessage) -> None:
        self.msg = msg
        # A message the compat32 fallback parsed holds raw strings only.
        self.modern = isinstance(msg.policy, EmailPolicy)

    def raw(self, name: str) -> list[str]:
        wanted = name.lower()
        return [str(v) for k, v in self.msg.raw_items() if k.lower() == wanted]

    def has(self, name: str) -> bool:
        wanted = name.lower()
        return any(k.lower() == wanted for k in self.msg)

    def all(self, name: str) -> list[str]:
        if not self.modern:
            return [decode_raw_header(v) for v in self.raw(name)]
        try:
            values = self.msg.get_all(name) or []
            return [fix_surrogates(str(v)) for v in values]
        except Exception:
            return [decode_raw_header(v) for v in self.raw(name)]

    def first(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    def addresses(self, name: str) -> list[str]:
        """The addr-specs in an address header, as written (not yet validated)."""
        found: list[str] = []
        try:
            if not self.modern:
                raise TypeError("compat32")
            for header in self.msg.get_all(name) or []:
                for address in getattr(header, "addresses", None) or ():
                    found.append(fix_surrogates(address.addr_spec))
            if found or not self.raw(name):
                return found
        except Exception:  # noqa: S110 - fall through to the compat32 reading
            pass
        values = [decode_raw_header(v) for v in self.raw(name)]
        try:
            return [addr for _, addr in getaddresses(values) if addr]
        except Exception:
            return []


def first_valid_address(candidates: Iterable[str]) -> str:
    for candidate in candidates:
        try:
            return normalize_address(candidate)
        except ValueError:
            continue
    return ""


def message_sender(headers: HeaderReader) -> str:
    address = first_valid_address(headers.addresses("From"))
    if address:
        return address
    return clean_text(headers.first("From"), MAX_SENDER_LENGTH)


def message_subject(headers: HeaderReader) -> str:
    return clean_text(headers.first("Subject"), MAX_SUBJECT_LENGTH)


def message_id_from(headers: HeaderReader) -> tuple[str | None, list[str]]:
    """The first Message-ID header, normalized; notes say if it was missing or repeated."""
    values = headers.raw("Message-ID")
    notes: list[str] = []
    if len(values) > 1:
        notes.append(f"The message has {len(values)} Message-ID headers; the first was used.")
    value, more = normalize_message_id(values[0]) if values else (None, [])
    notes.extend(more)
    if value is None:
        notes.append(NO_MESSAGE_ID_NOTE)
    return value, notes


def _sane(moment: datetime | None, now: datetime) -> datetime | None:
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if not (_EARLIEST <= moment <= now + _FUTURE_SLACK):
        return None
    # In UTC: Python allows offsets up to ±23:59, PostgreSQL refuses those beyond ±15:59.
    return moment.astimezone(UTC)


def _parse_date(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value.strip())
    except Exception:
        return None


def message_received_at(headers: HeaderReader, now: datetime) -> tuple[datetime, list[str]]:
    """When the copy arrived: the newest Received stamp, else Date, else now."""
    received = headers.raw("Received")
    if received:
        stamp = _sane(_parse_date(decode_raw_header(received[0]).rpartition(";")[2]), now)
        if stamp:
            return stamp, []
    dates = headers.raw("Date")
    if dates:
        stamp = _sane(_parse_date(decode_raw_header(dates[0])), now)
        if stamp:
            return stamp, []
        return now, ["The Date header is unreadable or implausible; the time of ingest was used."]
    return now, []


def verdict_from(
    headers_list: Iterable[HeaderReader], header_names: list[str]
) -> tuple[str | None, str, list[str]]:
    """The disposition a verdict header states: (disposition, history note, notes).

    A header saying NONE, or a value we do not know, gives NONE to a new message but
    never clears a verdict already stored (so disposition None is returned for it).
    """
    for headers in headers_list:
        for name in header_names:
            values = headers.all(name)
            if not values:
                continue
            value = clean_text(values[0], 100)
            word = _FIRST_WORD.search(value)
            disposition = VERDICT_WORDS.get(word.group(0).upper()) if word else None
            note = f"{name}: {value}"
            if disposition is None:
                return None, note, [f"Unknown verdict {value!r} in {name}; treated as NONE."]
            if disposition == Disposition.NONE:
                return None, note, []
            return disposition, note, []
    return None, "", []


def collect_recipients(
    candidates: Iterable[tuple[str, str | None]],
    *,
    domains: list[str],
    exclude: set[str],
) -> tuple[list[IngestRecipient], list[str]]:
    """Validate, lower-case and de-duplicate; keep only the tenant's domains (if it has any)."""
    seen: dict[str, IngestRecipient] = {}
    invalid: list[str] = []
    outside = 0
    for raw_address, via_group in candidates:
        try:
            address = normalize_address(raw_address)
        except ValueError:
            invalid.append(clean_text(raw_address, 80))
            continue
        if address in exclude:
            continue
        if domains and not address_in_domains(address, domains):
            outside += 1
            continue
        if address not in seen:
            seen[address] = IngestRecipient(address, via_group)
        elif via_group and seen[address].via_group is None:
            seen[address].via_group = via_group
    notes = []
    if invalid:
        shown = ", ".join(repr(a) for a in invalid[:5])
        notes.append(f"{len(invalid)} unreadable recipient address(es) skipped: {shown}.")
    if outside:
        notes.append(f"{outside} recipient(s) outside the tenant's domains skipped.")
    return list(seen.values()), notes


def envelope_recipients_validated(values: Iterable[Any]) -> list[IngestRecipient]:
    """Explicit envelope recipients: every one must be valid (field error otherwise)."""
    recipients: dict[str, IngestRecipient] = {}
    errors: list[str] = []
    for position, value in enumerate(values):
        try:
            address = normalize_address(value)
        except ValueError as exc:
            errors.append(f"Entry {position}: {exc}")
            continue
        recipients.setdefault(address, IngestRecipient(address))
    if errors:
        raise IngestError({"recipients": errors[:20]})
    return list(recipients.values())


def no_recipients_error(domains: list[str]) -> IngestError:
    where = f" in the tenant's domains ({', '.join(domains)})" if domains else ""
    return IngestError.of(
        "recipients",
        f"No recipients{where} found in To, Cc, Delivered-To or X-Gm-Original-To; "
        "give the envelope recipients.",
        code="no_recipients",
    )


def item_from_message(
    msg: EmailMessage,
    *,
    tenant: Any,
    limits: Limits,
    envelope_recipients: list[str] | None = None,
    exclude: set[str] | None = None,
    now: datetime | None = None,
) -> IngestItem:
    """The IngestItem of a plain message (an upload, or a BCC copy)."""
    now = now or timezone.now()
    headers = HeaderReader(msg)
    message_id, notes = message_id_from(headers)
    domains = tenant_domains(tenant)
    if envelope_recipients:
        recipients = envelope_recipients_validated(envelope_recipients)
    else:
        candidates = [(a, None) for name in RECIPIENT_HEADERS for a in headers.addresses(name)]
        recipients, more = collect_recipients(candidates, domains=domains, exclude=exclude or set())
        notes.extend(more)
    if not recipients:
        raise no_recipients_error(domains)
    if len(recipients) > limits.max_recipients:
        raise IngestError.of(
            "recipients", limits.too_many_recipients(len(recipients)), code="too_many_recipients"
        )
    received_at, more = message_received_at(headers, now)
    notes.extend(more)
    disposition, disposition_note, more = verdict_from([headers], verdict_header_names())
    notes.extend(more)
    return IngestItem(
        internet_message_id=message_id,
        recipients=recipients,
        sender=message_sender(headers),
        subject=message_subject(headers),
        received_at=received_at,
        disposition=disposition,
        disposition_note=disposition_note,
        notes=notes,
    )
