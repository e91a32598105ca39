from .audit import AppendOnlyError, AuditEvent
from .mail import (
    Delivery,
    DeliveryStatus,
    DispositionChange,
    GroupMembership,
    Mailbox,
    MailboxKind,
    Message,
    MessageSource,
)
from .tenancy import (
    ApiKey,
    AuthorizationStatus,
    IngestionMode,
    Membership,
    Provider,
    Tenant,
)

__all__ = [
    "ApiKey",
    "AppendOnlyError",
    "AuditEvent",
    "AuthorizationStatus",
    "Delivery",
    "DeliveryStatus",
    "DispositionChange",
    "GroupMembership",
    "IngestionMode",
    "Mailbox",
    "MailboxKind",
    "Membership",
    "Message",
    "MessageSource",
    "Provider",
    "Tenant",
]
