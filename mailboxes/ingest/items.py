"""What every door hands to the ingest service, what it gets back, and the normalizers.

An `IngestItem` is one message as a verdict, an upload or a journal report
describes it, already validated and normalized; an `IngestResult` is what
happened to it. Field errors use the REST API's shape: `{"field": ["message"]}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from mailboxes.ingest.limits import MAX_ADDRESS_LENGTH, MAX_MESSAGE_ID_LENGTH

FieldErrors = dict[str, list[str]]

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
INVALID = "invalid"

NO_MESSAGE_ID_NOTE = "No Message-ID: stored, but its copies cannot be located to retract."


class IngestError(Exception):
    """One or more field errors that make an item unusable.

    `code` tells the SMTP receiver which reply fits (too_big, headers,
    no_recipients, too_many_recipients, invalid).
    """

    def __init__(self, errors: FieldErrors, *, code: str = "invalid") -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors
        self.code = code

    @classmethod
    def of(cls, field_name: str, message: str, *, code: str = "invalid") -> IngestError:
        return cls({field_name: [message]}, code=code)


@dataclass
class IngestRecipient:
    address: str
    via_group: str | None = None


@dataclass
class IngestItem:
    """One message to record, normalized (addresses lower case, Message-ID with brackets)."""

    internet_message_id: str | None
    recipients: list[IngestRecipient]
    sender: str = ""
    subject: str = ""
    received_at: datetime | None = None
    # None: the door said nothing about the verdict (keep what is stored).
    disposition: str | None = None
    disposition_note: str = ""
    # Addresses the door knows to be groups / distribution lists.
    groups: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    status: str
    id: int | None = None
    internet_message_id: str | None = None
    tenant_id: int | None = None
    index: int | None = None
    deliveries_created: int = 0
    disposition_changed: bool = False
    errors: FieldErrors = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != INVALID

    @classmethod
    def invalid(cls, errors: FieldErrors, *, index: int | None = None) -> IngestResult:
        return cls(status=INVALID, errors=errors, index=index)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.index is not None:
            data["index"] = self.index
        data["status"] = self.status
        if self.ok:
            data["id"] = self.id
            data["tenant"] = self.tenant_id
            data["internet_message_id"] = self.internet_message_id
            data["retractable"] = bool(self.internet_message_id)
            data["deliveries_created"] = self.deliveries_created
        else:
            data["errors"] = self.errors
        if self.notes:
            data["notes"] = self.notes
        return data


# --- Text ---------------------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")
# Unicode category Cc is exactly these two ranges.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def fix_surrogates(value: str) -> str:
    """Turn surrogate-escaped bytes back into text (UTF-8 if it is, U+FFFD otherwise)."""
    if not _SURROGATES.search(value):
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", value)


def clean_text(value: Any, max_length: int) -> str:
    """A single line of storable text: no control characters, no NUL, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value)
    if not text.isprintable():
        text = _CONTROL.sub(" ", fix_surrogates(text))
    if "  " in text or text[:1].isspace() or text[-1:].isspace() or not text.isprintable():
        text = " ".join(text.split())
    return text[:max_length]


# --- Addresses ----------------------------------------------------------------------

_email_validator = EmailValidator()


@lru_cache(maxsize=100_000)
def _address_or_error(value: str) -> tuple[str, str]:
    address = value.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1].strip()
    address = address.lower()
    if not address:
        return "", "An address is empty."
    if len(address) > MAX_ADDRESS_LENGTH:
        return "", f"{address[:40]!r}… is longer than {MAX_ADDRESS_LENGTH} characters."
    try:
        _email_validator(address)
    except ValidationError:
        return "", f"{clean_text(value, 80)!r} is not a valid email address."
    return address, ""


def normalize_address(value: Any) -> str:
    """A lower-case, validated SMTP address; raises ValueError with a readable message."""
    if not isinstance(value, str):
        raise ValueError(f"Expected an address as a string, not {type(value).__name__}.")
    if len(value) > 4 * MAX_ADDRESS_LENGTH:
        raise ValueError(f"{value[:40]!r}… is longer than {MAX_ADDRESS_LENGTH} characters.")
    address, error = _address_or_error(value)
    if error:
        raise ValueError(error)
    return address


def address_in_domains(address: str, domains: list[str]) -> bool:
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in domains)


def tenant_domains(tenant: Any) -> list[str]:
    return [str(d).strip().lower().lstrip("@") for d in (tenant.domains or []) if str(d).strip()]


# --- Message-ID ---------------------------------------------------------------------

_FOLDING = re.compile(r"[\r\n]+")
_BRACKETED = re.compile(r"<[^<>]*>")
_UNUSABLE_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


def normalize_message_id(value: Any) -> tuple[str | None, list[str]]:
    """The Message-ID as it should be stored (with angle brackets), and notes about it.

    None when there is none. Raises IngestError for values that cannot be an id.
    """
    notes: list[str] = []
    if value is None:
        return None, notes
    if not isinstance(value, str):
        raise IngestError.of("internet_message_id", "Must be a string.")
    if len(value) > 4 * MAX_MESSAGE_ID_LENGTH:
        raise IngestError.of(
            "internet_message_id",
            f"Too long ({len(value):,} characters); at most {MAX_MESSAGE_ID_LENGTH}.",
        )
    text = _FOLDING.sub("", fix_surrogates(value)).strip()
    if not text:
        return None, notes
    if "<" in text or ">" in text:
        ids = _BRACKETED.findall(text)
        if not ids:
            raise IngestError.of(
                "internet_message_id", "Not a Message-ID: its angle brackets do not match."
            )
        if len(ids) > 1:
            notes.append(f"The Message-ID field held {len(ids)} ids; the first was kept.")
        inner = ids[0][1:-1].strip()
    else:
        inner = text
        if any(ch.isspace() for ch in inner):
            raise IngestError.of(
                "internet_message_id", "Not a Message-ID: it contains spaces and no brackets."
            )
        notes.append("Angle brackets were added around the Message-ID.")
    if not inner:
        raise IngestError.of("internet_message_id", "The Message-ID is empty (<>).")
    if _UNUSABLE_IN_ID.search(inner):
        raise IngestError.of(
            "internet_message_id", "The Message-ID contains control or undecodable characters."
        )
    normalized = f"<{inner}>"
    if len(normalized) > MAX_MESSAGE_ID_LENGTH:
        raise IngestError.of(
            "internet_message_id",
            f"Too long ({len(normalized):,} characters); at most {MAX_MESSAGE_ID_LENGTH}.",
        )
    return normalized, notes
