"""The audit trail as CSV for an interval: one service behind the API and the admin.

Rows stream from the database in chunks (`iterator(chunk_size=2000)`) straight into
the response, so memory stays flat for millions of rows. Every cell that a
spreadsheet would read as a formula (starting with = + - @ tab or CR) gets a leading
single quote. The export is itself audited ("audit.exported", with the interval and
the filters) when it starts, before the first row is sent: who pulled the trail is
what matters, and a count at the end would be missing whenever a client hangs up.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.http import StreamingHttpResponse

from mailboxes.access import Role, is_owner, require_role
from mailboxes.audit import audit_record
from mailboxes.models import AuditEvent, Tenant

# One export covers at most a year (and a leap day); longer trails are several exports.
MAX_SPAN = timedelta(days=366)
CHUNK = 2000
ROWS_PER_WRITE = 500
COLUMNS = (
    "id",
    "time",
    "tenant_id",
    "tenant",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "via",
    "data",
)
_FIELDS = (
    "pk",
    "created_at",
    "tenant_id",
    "tenant_label",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "data",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def validate_interval(start: datetime | None, end: datetime | None) -> None:
    """Both given, end after start, at most MAX_SPAN; else field errors."""
    errors: dict[str, list[str]] = {}
    if start is None:
        errors["start"] = ["This field is required."]
    if end is None:
        errors["end"] = ["This field is required."]
    for name, value in (("start", start), ("end", end)):
        try:
            if value is not None:
                value.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00: past the last UTC instant
            errors[name] = ["This time has no UTC equivalent."]
    if start is not None and end is not None and not errors:
        if end <= start:
            errors["end"] = ["The end must be after the start."]
        elif end - start > MAX_SPAN:
            errors["end"] = [f"An export covers at most {MAX_SPAN.days} days."]
    if errors:
        raise ValidationError(errors)


def csv_safe(value: Any) -> str:
    """The cell's text, with a leading quote if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def audit_csv_rows(queryset: models.QuerySet) -> Iterator[list[str]]:
    """The header, then one row per event of `queryset`, in chunks from the database."""
    yield list(COLUMNS)
    rows = queryset.values_list(*_FIELDS).iterator(chunk_size=CHUNK)
    for pk, created, tenant_id, tenant, actor, action, t_type, t_id, t_repr, data in rows:
        data = data or {}
        via = data.get("via", "") if isinstance(data, dict) else ""
        yield [
            csv_safe(cell)
            for cell in (
                pk,
                iso_utc(created),
                tenant_id,
                tenant,
                actor,
                action,
                t_type,
                t_id,
                t_repr,
                via,
                json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
            )
        ]


class _Line:
    """A file-like object whose write() hands back what csv.writer wrote."""

    def write(self, value: str) -> str:
        return value


def csv_bytes(rows: Iterable[list[str]]) -> Iterator[bytes]:
    """UTF-8 CSV (RFC 4180, CRLF), a few hundred rows per chunk of output."""
    writer = csv.writer(_Line())
    buffer: list[str] = []
    for row in rows:
        buffer.append(writer.writerow(row))
        if len(buffer) >= ROWS_PER_WRITE:
            yield "".join(buffer).encode()
            buffer = []
    if buffer:
        yield "".join(buffer).encode()


def audit_export(
    *,
    actor: Any,
    start: datetime,
    end: datetime,
    tenant: Tenant | None = None,
    queryset: models.QuerySet | None = None,
    filters: Mapping[str, Any] | None = None,
    via: str = "",
) -> Iterator[bytes]:
    """Audit the export now; return the CSV of the events in [start, end), oldest first.

    `queryset` (the list's filters, the admin's changelist) is narrowed to what `actor`
    may see whatever it holds; `filters` are recorded in the audit event as given.
    """
    validate_interval(start, end)
    if tenant is not None:
        require_role(actor, tenant, Role.VIEWER)
    base = queryset if queryset is not None else AuditEvent.objects.all()
    rows = base.for_user(actor).filter(created_at__gte=start, created_at__lt=end)
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    data = {
        "start": iso_utc(start),
        "end": iso_utc(end),
        "filters": {k: str(v) for k, v in (filters or {}).items() if v not in (None, "")},
        "format": "csv",
    }
    # Each tenant in scope keeps the event in its own trail (and its webhooks see it);
    # an owner's export of every tenant is one MSP-level event.
    if tenant is not None:
        scope: list[Tenant | None] = [tenant]
    elif is_owner(actor):
        scope = [None]
    else:
        scope = list(Tenant.objects.for_user(actor))
    for each in scope:
        audit_record(actor=actor, action="audit.exported", tenant=each, data=data, via=via)
    return csv_bytes(audit_csv_rows(rows.order_by("created_at", "pk")))


def csv_response(stream: Iterator[bytes], *, start: datetime, end: datetime) -> Any:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    name = f"clawback-audit-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
