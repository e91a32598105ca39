"""Re-encrypt stored secrets with the newest key (`manage.py rotate_credentials`).

Every encrypted column is listed in ENCRYPTED: tenants' provider credentials and
webhook signing secrets.

Fernet tokens do not name their key, so each row is tried with the newest key first:
rows it decrypts are current, rows only an older key decrypts are rotated
(MultiFernet.rotate), rows no configured key decrypts are reported and left alone.
Each rotation runs in its own short transaction on a locked, freshly read row, so a
credential change saved meanwhile is never overwritten with the old value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import F, QuerySet

from mailboxes import crypto
from mailboxes.audit import audit_record


@dataclass(frozen=True)
class Encrypted:
    """A column holding crypto tokens, and how a row names its tenant."""

    model: str  # app_label.ModelName
    column: str
    tenant_path: str  # to the tenant's slug and name: "" (the row is the tenant) or "tenant__"

    def queryset(self) -> QuerySet:
        manager = apps.get_model(self.model).objects
        rows = manager.all_tenants() if hasattr(manager, "all_tenants") else manager.all()
        return rows.exclude(**{self.column: ""})


# Every encrypted column: tenants' provider credentials, webhook signing secrets.
ENCRYPTED = (
    Encrypted("mailboxes.Tenant", "credentials_ciphertext", ""),
    Encrypted("webhooks.WebhookEndpoint", "secret_ciphertext", "tenant__"),
)


@dataclass(frozen=True)
class UnreadableRow:
    """A tenant whose stored credentials no configured key decrypts."""

    tenant_id: int
    slug: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.slug}, id {self.tenant_id})"


@dataclass
class RotationReport:
    dry_run: bool
    checked: int = 0
    current: int = 0  # already encrypted with the newest key
    older: int = 0  # found on an older key (rotated unless dry_run)
    rotated: int = 0
    unreadable: list[UnreadableRow] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "rotated": self.rotated,
            "already_current": self.current,
            "unreadable": len(self.unreadable),
            "unreadable_tenants": [row.slug for row in self.unreadable],
        }


def credentials_to_check() -> int:
    """How many rows hold encrypted values (the progress bar's total)."""
    return sum(source.queryset().count() for source in ENCRYPTED)


def credentials_rotate(
    *,
    actor: Any,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: Callable[[dict[str, Any]], None] | None = None,
    via: str = "",
) -> RotationReport:
    """Re-encrypt every value (ENCRYPTED) that an older key encrypted with the newest one.

    With `dry_run`, only count. Unreadable rows are collected in the report, never
    raised, so one bad row does not stop the others. A real run is audited once
    ("credentials.rotated", with the counts). Raises ImproperlyConfigured when the
    configured keys are missing or malformed.
    """
    report = RotationReport(dry_run=dry_run)
    for source in ENCRYPTED:
        for row in _rows(source, batch_size):
            report.checked += 1
            try:
                if crypto.uses_newest_key(row["token"]):
                    report.current += 1
                else:
                    report.older += 1
                    if not dry_run and _rotate_row(row["pk"], source):
                        report.rotated += 1
            except crypto.CredentialsUnreadable:
                report.unreadable.append(
                    UnreadableRow(row["owner_id"], row["owner_slug"], row["owner_name"])
                )
            if progress is not None:
                progress(row)
    if not dry_run:
        audit_record(actor=actor, action="credentials.rotated", data=report.as_data(), via=via)
    return report


def _rows(source: Encrypted, batch_size: int) -> Iterator[dict[str, Any]]:
    """The source's rows in id order, a batch at a time (keyset, not OFFSET)."""
    path = source.tenant_path
    columns = {
        "token": F(source.column),
        "owner_id": F(f"{path}pk" if path else "pk"),
        "owner_slug": F(f"{path}slug"),
        "owner_name": F(f"{path}name"),
    }
    last = 0
    while True:
        rows = source.queryset().filter(pk__gt=last).order_by("pk")
        batch = list(rows.values("pk", **columns)[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1]["pk"]


def _rotate_row(pk: int, source: Encrypted = ENCRYPTED[0]) -> bool:
    """Rotate one row under a row lock; False when it changed meanwhile and needs nothing."""
    rows = source.queryset()
    with transaction.atomic():
        # SQLite has no row locks, but its IMMEDIATE transactions (settings) take the
        # write lock at BEGIN, which serialises this read-then-write the same way.
        token = rows.select_for_update().filter(pk=pk).values_list(source.column, flat=True).first()
        # Saved or cleared meanwhile: new values are written with the newest key.
        if not token or crypto.uses_newest_key(token):
            return False
        # Only the ciphertext changes (credentials_updated_at stays: the secret is the same).
        rows.filter(pk=pk).update(**{source.column: crypto.rotate(token)})
    return True
