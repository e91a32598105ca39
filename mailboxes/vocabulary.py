"""The words Clawback speaks everywhere: dispositions, actions, failure reasons, read states."""

from __future__ import annotations

from django.db import models


class Disposition(models.TextChoices):
    NONE = "NONE", "None (clean or not yet judged)"
    BULK = "BULK", "Bulk"
    SPAM = "SPAM", "Spam"
    SPOOF = "SPOOF", "Spoof"
    SUSPICIOUS = "SUSPICIOUS", "Suspicious"
    MALICIOUS = "MALICIOUS", "Malicious"


# Dispositions a policy can cover (NONE never triggers anything).
COVERED_DISPOSITIONS = [d for d in Disposition if d != Disposition.NONE]


class Action(models.TextChoices):
    """Where a copy goes; `inbox` is the undo."""

    JUNK = "junk", "Move to junk"
    TRASH = "trash", "Move to trash / deleted items"
    SOFT_DELETE = "soft_delete", "Soft delete (user recoverable)"
    HARD_DELETE = "hard_delete", "Hard delete"
    INBOX = "inbox", "Back to the inbox (undo)"


class PolicyAction(models.TextChoices):
    NONE = "none", "No action"
    JUNK = Action.JUNK.value, Action.JUNK.label
    TRASH = Action.TRASH.value, Action.TRASH.label
    SOFT_DELETE = Action.SOFT_DELETE.value, Action.SOFT_DELETE.label
    HARD_DELETE = Action.HARD_DELETE.value, Action.HARD_DELETE.label


class FailureReason(models.TextChoices):
    NOT_FOUND = (
        "not_found",
        "Already deleted or junked by the user or a mailbox filter",
    )
    NOT_A_MAILBOX = (
        "not_a_mailbox",
        "Distribution list or other non-mailbox (members' copies are retracted separately)",
    )
    NOT_AUTHORIZED = "not_authorized", "Retraction is not, or no longer, authorized"
    THROTTLED = "throttled", "Throttled by the provider (retry budget spent)"
    PROVIDER_ERROR = "provider_error", "Provider error"
    UNSUPPORTED = "unsupported", "Action not offered by this provider"


class ReadState(models.TextChoices):
    READ = "read", "Read"
    UNREAD = "unread", "Unread"
    UNKNOWN = "unknown", "Unknown"
