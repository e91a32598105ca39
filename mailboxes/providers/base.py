"""The one interface retraction needs from a mail provider, and its result types.

Both real clients (graph.py for Microsoft 365, gmail.py for Google Workspace)
implement `MailProvider`. They take explicit endpoints, so tests and the demo can
point them at the emulator; `mailboxes.providers.provider_for(tenant)` builds
them from a Tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mailboxes.vocabulary import Action, FailureReason, ReadState


class Folder:
    """Where a located copy sits, in provider-neutral words."""

    INBOX = "inbox"
    JUNK = "junk"
    TRASH = "trash"  # Deleted Items / Gmail TRASH
    RECOVERABLE = "recoverable"  # Recoverable Items (Deletions) on Microsoft 365
    OTHER = "other"  # any other folder or label set (archive, custom folders)


# The folder a copy is in once an action has been applied.
ACTION_TARGET_FOLDER = {
    Action.JUNK: Folder.JUNK,
    Action.TRASH: Folder.TRASH,
    Action.SOFT_DELETE: Folder.RECOVERABLE,
    Action.INBOX: Folder.INBOX,
}


class ProviderError(Exception):
    """A provider call failed; `reason` is what the attempt will record.

    `transient` errors (429, 5xx, timeouts, resets) may succeed on a retry; the
    clients retry them within their budget and raise with reason THROTTLED or
    PROVIDER_ERROR once it is spent. Permanent ones carry NOT_FOUND,
    NOT_A_MAILBOX, NOT_AUTHORIZED or UNSUPPORTED.
    """

    def __init__(
        self,
        reason: FailureReason,
        detail: str = "",
        *,
        transient: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class LocatedCopy:
    """One copy of a message found in a mailbox."""

    provider_id: str
    folder: str  # a Folder value
    read: bool | None  # None when the provider did not say
    # The Message-ID it was located by (lets perform() look it up afresh after a 404).
    internet_message_id: str = ""


@dataclass(frozen=True)
class WorkItem:
    """One unit of bulk work: apply `action` to the copy of a message in a mailbox."""

    mailbox: str  # SMTP address (or UPN)
    internet_message_id: str  # with angle brackets
    action: Action
    key: Any = None  # the caller's handle (an attempt id), returned in the outcome


@dataclass
class Outcome:
    """What happened to one WorkItem."""

    key: Any
    ok: bool
    reason: FailureReason | None = None
    read_state: ReadState = ReadState.UNKNOWN
    provider_message_id: str = ""
    folder_before: str = ""
    already_there: bool = False  # the copy was already in the target folder: a success
    detail: str = ""
    requests: int = 0  # HTTP requests this item cost (batches count per item)


@dataclass(frozen=True)
class AddressInfo:
    address: str
    kind: str  # "user", "shared", "group", "unknown" (MailboxKind values)
    external_id: str = ""
    display_name: str = ""


@dataclass
class AuthorizationCheck:
    authorized: bool
    status: str  # AuthorizationStatus value: authorized, unauthorized, error
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class MailProvider(Protocol):
    def verify(self) -> AuthorizationCheck:
        """Check that the credentials work and grant what retraction needs."""
        ...

    def locate(self, mailbox: str, internet_message_id: str) -> list[LocatedCopy]:
        """Every copy of the message in the mailbox, in every folder."""
        ...

    def perform(self, mailbox: str, copy: LocatedCopy, action: Action) -> str:
        """Apply the action to a located copy; return the provider's (new) id."""
        ...

    def perform_many(self, items: Sequence[WorkItem]) -> list[Outcome]:
        """Locate and act on many copies, batched and concurrent within the limits.

        Returns exactly one Outcome per item (same `key`), never raises for a
        single item's failure.
        """
        ...

    def resolve(self, address: str) -> AddressInfo:
        """What an address is: user mailbox, shared mailbox, group, or unknown."""
        ...

    def group_members(self, address: str) -> list[AddressInfo]:
        """The (transitive) user members of a group."""
        ...
