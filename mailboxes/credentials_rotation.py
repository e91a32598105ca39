"""Re-encrypt stored credentials with the newest key (`manage.py rotate_credentials`).

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

from django.db import transaction

from mailboxes import crypto
from mailboxes.audit import audit_record
from mailboxes.models import Tenant


def _encrypted() -> Any:
    """Every row with an encrypted column: Tenant.credentials_ciphertext is the only one."""
    return Tenant.objects.all_tenants().exclude(credentials_ciphertext="")


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
    """How many rows hold encrypted credentials (the progress bar's total)."""
    return _encrypted().count()


def credentials_rotate(
    *,
    actor: Any,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: Callable[[Tenant], None] | None = None,
    via: str = "",
) -> RotationReport:
    """Re-encrypt every tenant's credentials that an older key encrypted with the newest one.

    With `dry_run`, only count. Unreadable rows are collected in the report, never
    raised, so one bad row does not stop the others. A real run is audited once
    ("credentials.rotated", with the counts). Raises ImproperlyConfigured when the
    configured keys are missing or malformed.
    """
    report = RotationReport(dry_run=dry_run)
    for tenant in _rows(batch_size):
        report.checked += 1
        try:
            if crypto.uses_newest_key(tenant.credentials_ciphertext):
                report.current += 1
            else:
                report.older += 1
                if not dry_run and _rotate_row(tenant.pk):
                    report.rotated += 1
        except crypto.CredentialsUnreadable:
            report.unreadable.append(UnreadableRow(tenant.pk, tenant.slug, tenant.name))
        if progress is not None:
            progress(tenant)
    if not dry_run:
        audit_record(actor=actor, action="credentials.rotated", data=report.as_data(), via=via)
    return report


def _rows(batch_size: int) -> Iterator[Tenant]:
    """Rows with credentials in id order, a batch at a time (keyset, not OFFSET)."""
    last = 0
    while True:
        batch = list(
            _encrypted()
            .filter(pk__gt=last)
            .order_by("pk")
            .only("pk", "slug", "name", "credentials_ciphertext")[:batch_size]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


def _rotate_row(pk: int) -> bool:
    """Rotate one row under a row lock; False when it changed meanwhile and needs nothing."""
    with transaction.atomic():
        # SQLite has no row locks, but its IMMEDIATE transactions (settings) take the
        # write lock at BEGIN, which serialises this read-then-write the same way.
        token = (
            Tenant.objects.all_tenants()
            .select_for_update()
            .filter(pk=pk)
            .values_list("credentials_ciphertext", flat=True)
            .first()
        )
        # Saved or cleared meanwhile: new credentials are written with the newest key.
        if not token or crypto.uses_newest_key(token):
            return False
        # Only the ciphertext changes: credentials_updated_at stays, the secret is the same.
        Tenant.objects.all_tenants().filter(pk=pk).update(
            credentials_ciphertext=crypto.rotate(token)
        )
    return True
