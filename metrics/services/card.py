"""The Retractions card: one computation for the admin home page and the metrics API.

Definitions (also in metrics/README.md):

- **Interval**: half-open [start, end), any UTC offset. An attempt belongs to the
  interval in which it *finished*: its `completed_at`.
- **Counted** (the `total`): retraction attempts that succeeded or failed. Cancelled
  attempts never ran and are not counted; undo attempts (action `inbox`, back to the
  inbox) are not retractions and are not counted either.
- **success_rate / fail_rate**: succeeded / total and failed / total (None when total
  is 0). **failures_by_reason**: for every failure reason, its count and its share of
  the *total*, so the shares add up to fail_rate. A failed attempt without a known
  reason counts under "other".
- **read / unread / read_unknown**: the copy's read state when the attempt ran (unknown:
  the copy was not found); **auto / manual**: the attempt's mode. Both over the total.
- **time_to_retract**: over *succeeded* attempts, the time from delivery
  (`Message.received_at`) and from the verdict (auto: `Message.disposition_changed_at`,
  or `requested_at` if the disposition changed again after the attempt was queued;
  manual: `requested_at`, the analyst's request) to `completed_at`. p50/p95 are read
  from fixed histogram buckets (buckets.percentile): the upper bound of the bucket
  holding the nearest-rank percentile.
- **in_progress**: retraction attempts requested within the interval that are still
  queued or running now. Shown beside the total, never in it: once finished they
  count in the interval of their completed_at.
- **daily**: succeeded and failed per UTC day that the interval touches.

Whole UTC days before today that the nightly rollup has marked come from the rollup
tables (whole months from month rows); the rest (the partial days at the interval's
edges, today, days not rolled up yet) is computed live. Both sides use the same
buckets and counts, so the card equals `retractions_card(..., use_rollup=False)`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connections
from django.db.models import Q, Sum
from django.utils import timezone

from metrics.models import RetractionRollup, RollupPeriod, Span
from metrics.services.buckets import percentile, percentile_is_open
from metrics.services.scan import (
    NOT_RETRACTIONS,
    PENDING_STATUSES,
    Range,
    scan_counts,
    scan_latency,
)
from metrics.services.tally import REASON_LABELS, REASONS, TALLY_FIELDS, Tally
from retraction.models import RetractionAttempt

ONE_DAY = timedelta(days=1)
PERCENTILES = (50, 95)


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_days(first: date) -> list[date]:
    n = calendar.monthrange(first.year, first.month)[1]
    return [first + timedelta(days=i) for i in range(n)]


@dataclass(frozen=True)
class Plan:
    """How an interval is computed: month rows, day rows, and live ranges."""

    months: tuple[date, ...]
    days: tuple[date, ...]  # rolled days outside those months
    rolled_days: tuple[date, ...]  # every day taken from the rollup (months' days too)
    live: tuple[Range, ...]


def whole_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days lying entirely within [start, end)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.date() if start == utc_midnight(start.date()) else start.date() + ONE_DAY
    last = end.date()  # [last 00:00, end) is partial or empty
    return [first + timedelta(days=i) for i in range((last - first).days)]


def plan_interval(
    start: datetime,
    end: datetime,
    *,
    today: date,
    day_marks: set[date],
    month_marks: set[date],
) -> Plan:
    """Split [start, end) into rolled-up months and days (past, marked) and live ranges."""
    rolled = [d for d in whole_days(start, end) if d < today and d in day_marks]
    rolled_set = set(rolled)
    months = sorted(
        m
        for m in {month_start(d) for d in rolled}
        if m in month_marks and rolled_set.issuperset(month_days(m))
    )
    in_months = {d for m in months for d in month_days(m)}
    days = [d for d in rolled if d not in in_months]
    # Live: the complement of the rolled days within [start, end), merged.
    live: list[Range] = []
    cursor = start.astimezone(UTC)
    for day in rolled:
        lo = utc_midnight(day)
        if cursor < lo:
            live.append((cursor, lo))
        cursor = max(cursor, lo + ONE_DAY)
    end_utc = end.astimezone(UTC)
    if cursor < end_utc:
        live.append((cursor, end_utc))
    return Plan(tuple(months), tuple(days), tuple(rolled), tuple(live))


@dataclass
class Card:
    """The card's numbers for one interval and set of tenants."""

    start: datetime
    end: datetime
    tenant_id: int | None
    tally: Tally
    in_progress: int
    daily: list[tuple[date, int, int]]
    plan: Plan

    @property
    def total(self) -> int:
        return self.tally.total

    def share(self, count: int) -> float | None:
        return count / self.total if self.total else None

    def latency(self, counts: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {f"p{p}": percentile(counts, p) for p in PERCENTILES}
        out["samples"] = sum(counts)
        out["open_ended"] = [f"p{p}" for p in PERCENTILES if percentile_is_open(counts, p)]
        return out

    def as_dict(self) -> dict[str, Any]:
        """The card as the API returns it (and the admin page shows it)."""
        c = self.tally.counts
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "tenant": self.tenant_id,
            "total": self.total,
            "succeeded": c["succeeded"],
            "failed": c["failed"],
            "success_rate": self.share(c["succeeded"]),
            "fail_rate": self.share(c["failed"]),
            "failures_by_reason": {
                reason: {
                    "label": REASON_LABELS[reason],
                    "count": c[f"failed_{reason}"],
                    "share": self.share(c[f"failed_{reason}"]),
                }
                for reason in REASONS
            },
            "read": c["read"],
            "unread": c["unread"],
            "read_unknown": c["read_unknown"],
            "auto": c["auto"],
            "manual": c["manual"],
            "time_to_retract": {
                "from_delivery": self.latency(self.tally.delivery),
                "from_verdict": self.latency(self.tally.verdict),
            },
            "in_progress": self.in_progress,
            "daily": [
                {"date": day.isoformat(), "succeeded": s, "failed": f} for day, s, f in self.daily
            ],
            "rolled_up_days": len(self.plan.rolled_days),
        }


def runs(days: tuple[date, ...]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) pairs: a few ranges instead of a long IN list."""
    out: list[tuple[date, date]] = []
    for day in days:
        if out and out[-1][1] + ONE_DAY == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def sum_rollups(rows: Any) -> Tally:
    """The sum of some rollup rows, as one tally.

    One SUM per column in hand-written SQL around the queryset's own (scoped) SQL:
    the ORM spends longer building a hundred Sum() expressions than SQLite spends
    adding up a year of rows.
    """
    sql, params = rows.values("pk").query.sql_with_params()
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    columns = [RetractionRollup._meta.get_field(name).column for name in TALLY_FIELDS]
    select = ", ".join(f"SUM({quote(column)})" for column in columns)
    table = quote(RetractionRollup._meta.db_table)
    # Names from the model's _meta, the subquery from the ORM; every value is a parameter.
    query = f"SELECT {select} FROM {table} WHERE {quote('id')} IN ({sql})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        values = cursor.fetchone()
    return Tally.from_fields(dict(zip(TALLY_FIELDS, values, strict=True)))


def _series_days(start: datetime, end: datetime) -> list[date]:
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def retractions_card(
    *,
    user: Any,
    start: datetime,
    end: datetime,
    tenant: Any = None,
    now: datetime | None = None,
    use_rollup: bool = True,
) -> Card:
    """The Retractions card for the tenants `user` may see (or the one `tenant` among them).

    `start`/`end` are aware datetimes, start < end. A tenant the user may not see
    gives an empty card (the API refuses it before getting here). With
    `use_rollup=False` everything is computed live (tests, the benchmark).
    """
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("start and end must be aware datetimes")
    if not start < end:
        raise ValueError("start must be before end")
    tenant_id = getattr(tenant, "pk", tenant)
    attempts = RetractionAttempt.objects.for_user(user)
    rollups = RetractionRollup.objects.for_user(user)
    if tenant_id is not None:
        attempts, rollups = attempts.for_tenant(tenant_id), rollups.for_tenant(tenant_id)

    today = utc_today(now)
    day_marks: set[date] = set()
    month_marks: set[date] = set()
    candidates = [d for d in whole_days(start, end) if d < today] if use_rollup else []
    if candidates:
        marks = RollupPeriod.objects.filter(
            day__gte=month_start(candidates[0]), day__lte=candidates[-1]
        ).values_list("span", "day")
        for span, day in marks:
            (month_marks if span == Span.MONTH else day_marks).add(day)
    plan = plan_interval(start, end, today=today, day_marks=day_marks, month_marks=month_marks)

    tally = Tally()
    per_day: dict[date, list[int]] = {d: [0, 0] for d in _series_days(start, end)}
    if plan.months or plan.days:
        spans = Q(span=Span.MONTH, day__in=plan.months) if plan.months else Q()
        for first, last in runs(plan.days):
            spans |= Q(span=Span.DAY, day__gte=first, day__lte=last)
        tally.add(sum_rollups(rollups.filter(spans)))
    if plan.rolled_days:
        rolled = set(plan.rolled_days)
        series = (
            rollups.filter(
                span=Span.DAY, day__gte=plan.rolled_days[0], day__lte=plan.rolled_days[-1]
            )
            .values("day")
            .annotate(succeeded=Sum("succeeded"), failed=Sum("failed"))
            .order_by()
        )
        for row in series:
            if row["day"] in rolled:
                per_day[row["day"]][0] += row["succeeded"]
                per_day[row["day"]][1] += row["failed"]
    for (_, day), counts in scan_counts(attempts, plan.live, by_day=True).items():
        tally.add(counts)
        per_day[day][0] += counts.counts["succeeded"]
        per_day[day][1] += counts.counts["failed"]
    for latency in scan_latency(attempts, plan.live).values():
        tally.add(latency)

    in_progress = (
        attempts.filter(status__in=PENDING_STATUSES, requested_at__gte=start, requested_at__lt=end)
        .exclude(action__in=NOT_RETRACTIONS)
        .count()
    )
    return Card(
        start=start,
        end=end,
        tenant_id=tenant_id,
        tally=tally,
        in_progress=in_progress,
        daily=[(day, s, f) for day, (s, f) in per_day.items()],
        plan=plan,
    )
