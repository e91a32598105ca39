"""The live computation: tallies straight from RetractionAttempt rows, in two GROUP BY queries.

The rollup calls the same function for whole days, so a rolled-up day holds
exactly what a live scan of that day returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from django.db import NotSupportedError, connections
from django.db.models import Case, Count, F, FloatField, Func, OuterRef, Q, Subquery, When
from django.db.models.functions import TruncDate
from django.db.models.lookups import LessThanOrEqual

from mailboxes.models import Message
from mailboxes.vocabulary import Action
from metrics.services.buckets import LATENCY_EDGES
from metrics.services.tally import Tally
from retraction.models import AttemptStatus, Mode

Range = tuple[datetime, datetime]

# What the card counts: finished retractions. Cancelled attempts never ran; an undo
# (action "inbox") puts a copy back and is not a retraction.
COUNTED_STATUSES = (AttemptStatus.SUCCEEDED, AttemptStatus.FAILED)
PENDING_STATUSES = (AttemptStatus.QUEUED, AttemptStatus.RUNNING)
NOT_RETRACTIONS = (Action.INBOX,)
RETRACTION_ACTIONS = tuple(a for a in Action.values if a not in NOT_RETRACTIONS)


class UtcDate(TruncDate):
    """The UTC calendar date of a timestamp (the rollup's day)."""

    def __init__(self, expression: Any) -> None:
        super().__init__(expression, tzinfo=UTC)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # Django stores SQLite timestamps as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]":
        # its first ten characters are the UTC date (a native call, not a Python one).
        sql, params = compiler.compile(self.lhs)
        return f"substr({sql}, 1, 10)", params


class SecondsBetween(Func):
    """Seconds from `earlier` to `later` (a float; SQLite to the millisecond)."""

    output_field = FloatField()
    arity = 2

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # julianday() works in whole milliseconds; rounding to them undoes the
        # floating-point noise of the difference (60 s must not come out as 59.99999).
        return self.as_sql(
            compiler,
            connection,
            template="round((julianday(%(expressions)s)) * 86400.0, 3)",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::float8",
            arg_joiner=" - ",
            **extra,
        )

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        if "template" not in extra:  # pragma: no cover - Clawback runs on SQLite and PostgreSQL
            raise NotSupportedError(f"SecondsBetween does not support {connection.vendor}")
        return super().as_sql(compiler, connection, **extra)


def bucket_sql(column: str, lo: int = 0, hi: int = len(LATENCY_EDGES)) -> str:
    """SQL for the bucket (see buckets.LATENCY_EDGES) of a seconds column: a nested CASE
    that bisects the bounds, about six comparisons a row."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi + 1) // 2  # bucket >= mid exactly when seconds >= LATENCY_EDGES[mid - 1]
    below, above = bucket_sql(column, lo, mid - 1), bucket_sql(column, mid, hi)
    return f"CASE WHEN {column} < {LATENCY_EDGES[mid - 1]} THEN {below} ELSE {above} END"


def message_field(name: str) -> Subquery:
    """A field of the attempt's message, looked up by primary key for each attempt.

    Not a join: on PostgreSQL a join lets the planner hash the whole message table
    for a few thousand attempts; a correlated lookup stays an index probe a row.
    """
    return Subquery(Message.objects.filter(pk=OuterRef("message_id")).order_by().values(name)[:1])


def verdict_time() -> Case:
    """When the verdict that caused an attempt was given.

    Auto: the message's last disposition change, unless it changed again after the
    attempt was queued (then the stored time names a later verdict, and requested_at,
    written in the same transaction as the causing change, stands in). Manual: the
    request itself.
    """
    changed_at = message_field("disposition_changed_at")
    return Case(
        When(LessThanOrEqual(changed_at, F("requested_at")), mode=Mode.AUTO, then=changed_at),
        default=F("requested_at"),
    )


def ranges_q(ranges: Iterable[Range], field: str = "completed_at") -> Q:
    q = Q()
    for start, end in ranges:
        q |= Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return q


def counted(queryset: Any, ranges: Sequence[Range]) -> Any:
    """Attempts the card counts, completed within any of `ranges` (half-open)."""
    return queryset.filter(ranges_q(ranges), status__in=COUNTED_STATUSES).exclude(
        action__in=NOT_RETRACTIONS
    )


def scan_counts(
    queryset: Any, ranges: Sequence[Range], *, by_tenant: bool = False, by_day: bool = False
) -> dict[tuple[int | None, date | None], Tally]:
    """Counts (no histograms) of the attempts completed within `ranges`.

    Keyed by (tenant id, UTC date), each None unless asked for.
    """
    tallies: dict[tuple[int | None, date | None], Tally] = defaultdict(Tally)
    if not ranges:
        return tallies
    group = ["status", "reason", "mode", "read_state"]
    if by_tenant:
        group.insert(0, "tenant_id")
    extra = {"day": UtcDate("completed_at")} if by_day else {}
    rows = counted(queryset, ranges).values(*group, **extra).annotate(n=Count("id")).order_by()
    for row in rows:
        tallies[(row.get("tenant_id"), row.get("day"))].add_attempts(
            status=row["status"],
            reason=row["reason"],
            mode=row["mode"],
            read_state=row["read_state"],
            n=row["n"],
        )
    return tallies


def scan_latency(
    queryset: Any, ranges: Sequence[Range], *, by_tenant: bool = False
) -> dict[int | None, Tally]:
    """Time-to-retract histograms (no counts) of the attempts that succeeded within `ranges`."""
    tallies: dict[int | None, Tally] = defaultdict(Tally)
    if not ranges:
        return tallies
    group = ["tenant_id"] if by_tenant else []
    inner = (
        counted(queryset, ranges)
        .filter(status=AttemptStatus.SUCCEEDED)
        .annotate(
            from_delivery=SecondsBetween(F("completed_at"), message_field("received_at")),
            from_verdict=SecondsBetween(F("completed_at"), verdict_time()),
        )
        .values(*group, "from_delivery", "from_verdict")
        .order_by()
    )
    sql, params = inner.query.sql_with_params()
    # Seconds computed once a row in the CTE; bucketed and counted outside it.
    columns = [*group, bucket_sql("from_delivery"), bucket_sql("from_verdict")]
    positions = ", ".join(str(i + 1) for i in range(len(columns)))
    # Column names and bucket bounds are constants, the subquery comes from the ORM.
    # MATERIALIZED: a plain subquery is flattened, and each CASE level would compute
    # the seconds again (three times slower on SQLite).
    select = ", ".join(columns)
    outer = (
        f"WITH latency AS MATERIALIZED ({sql}) "  # noqa: S608
        f"SELECT {select}, COUNT(*) FROM latency GROUP BY {positions}"
    )
    with connections[inner.db].cursor() as cursor:
        cursor.execute(outer, params)
        rows = cursor.fetchall()
    for *tenant, delivery_bucket, verdict_bucket, n in rows:
        tallies[tenant[0] if tenant else None].add_latency(
            delivery_bucket=delivery_bucket, verdict_bucket=verdict_bucket, n=n
        )
    return tallies


def scan_by_tenant(queryset: Any, ranges: Sequence[Range]) -> dict[int, Tally]:
    """Whole tallies (counts and histograms) per tenant: what the rollup stores for a day."""
    tallies: dict[int, Tally] = defaultdict(Tally)
    for (tenant_id, _), tally in scan_counts(queryset, ranges, by_tenant=True).items():
        tallies[tenant_id].add(tally)
    for tenant_id, tally in scan_latency(queryset, ranges, by_tenant=True).items():
        tallies[tenant_id].add(tally)
    return dict(tallies)
