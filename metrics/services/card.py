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

Whole UTC days and hours before now that the rollup has marked come from the
rollup table (whole months from month rows, whole days from day rows, the whole
hours at an interval's ragged edges as the difference of two "first hours of the
day" rows); the rest (the minutes before the first whole hour and after the last,
the current hour, hours not rolled up yet) is computed live. Both sides use the
same buckets and counts, so the card equals `retractions_card(..., use_rollup=False)`.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from metrics.models import WHOLE, RetractionRollup, RollupPeriod, Span
from metrics.services.buckets import percentile, percentile_is_open
from metrics.services.scan import (
    NOT_RETRACTIONS,
    PENDING_STATUSES,
    scan_counts,
    scan_latency,
)
from metrics.services.sql import (
    Range,
    TenantScope,
    as_date,
    column,
    fetch,
    param_date,
    param_datetime,
    small_queries,
    table,
)
from metrics.services.tally import REASON_LABELS, REASONS, TALLY_FIELDS, Tally
from retraction.models import RetractionAttempt

ONE_DAY = timedelta(days=1)
ONE_HOUR = timedelta(hours=1)
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
    """How an interval is computed: month rows, day rows, hour rows and live ranges."""

    months: tuple[date, ...]
    days: tuple[date, ...]  # whole days from day rows, outside those months
    rolled_days: tuple[date, ...]  # every whole day taken from the rollup (months' days too)
    # Day rows covering a day's first hours, to add (+1) or take away (-1): the
    # whole hours [a, b) of a day that is not whole in the interval are b - a.
    hours: tuple[tuple[date, int, int], ...]
    live: tuple[Range, ...]


def whole_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days lying entirely within [start, end)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.date() if start == utc_midnight(start.date()) else start.date() + ONE_DAY
    last = end.date()  # [last 00:00, end) is partial or empty
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _merge(ranges: list[Range]) -> tuple[Range, ...]:
    merged: list[Range] = []
    for lo, hi in ranges:
        if lo >= hi:
            continue
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def plan_interval(
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    day_marks: Mapping[date, int],
    month_marks: set[date],
) -> Plan:
    """Split [start, end) into rolled-up months, days and hours, and live ranges.

    `day_marks`: the hours of each day rolled up (24: the whole day); a day or
    hour is used only once it is over at `now`.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    today = utc_today(now)
    # Never an hour of today that is not over (by the clock the card is asked for).
    hours_over = (now.astimezone(UTC) - utc_midnight(today)) // ONE_HOUR
    whole: list[date] = []
    hours: list[tuple[date, int, int]] = []
    live: list[Range] = []
    day, last = start.date(), (end - timedelta(microseconds=1)).date()
    while day <= last:
        midnight = utc_midnight(day)
        lo, hi = max(start, midnight), min(end, midnight + ONE_DAY)
        first = -((midnight - lo) // ONE_HOUR)  # the first whole hour in [lo, hi)
        rolled = 0 if day > today else day_marks.get(day, 0)
        if day == today:
            rolled = min(rolled, hours_over)
        upto = min((hi - midnight) // ONE_HOUR, rolled)
        if first == 0 and upto == WHOLE:
            whole.append(day)
        elif first < upto:
            hours.append((day, upto, 1))
            if first:
                hours.append((day, first, -1))
            live += [(lo, midnight + first * ONE_HOUR), (midnight + upto * ONE_HOUR, hi)]
        else:
            live.append((lo, hi))
        day += ONE_DAY
    whole_set = set(whole)
    months = sorted(
        m
        for m in {month_start(d) for d in whole}
        if m in month_marks and whole_set.issuperset(month_days(m))
    )
    in_months = {d for m in months for d in month_days(m)}
    days = [d for d in whole if d not in in_months]
    return Plan(tuple(months), tuple(days), tuple(whole), tuple(hours), _merge(live))


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


class _Rollups:
    """SQL over the rollup rows a plan names, for one tenant scope."""

    def __init__(self, scope: TenantScope, plan: Plan) -> None:
        self.scope = scope
        self.plan = plan
        c = self.connection = scope.connection
        self.table = table(c, RetractionRollup)
        self.span, self.day, self.hours = (
            column(c, RetractionRollup, name) for name in ("span", "day", "hours")
        )

    def col(self, name: str) -> str:
        return column(self.connection, RetractionRollup, name)

    def _dates(self, *days: date) -> list[Any]:
        return [param_date(self.connection, d) for d in days]

    def _rows(self, span: str, hours: int, condition: str) -> str:
        return f"({self.span} = %s AND {self.hours} = %s AND {condition})"

    def hour_terms(self, sign: int | None = None) -> tuple[list[str], list[Any]]:
        """Conditions for the plan's hour rows (of one sign, or all)."""
        terms, params = [], []
        for day, hours, s in self.plan.hours:
            if sign is None or s == sign:
                terms.append(self._rows(Span.DAY, hours, f"{self.day} = %s"))
                params += [Span.DAY, hours, *self._dates(day)]
        return terms, params

    def tally(self) -> Tally:
        """The plan's rollup rows summed (hour rows with their signs), in one query."""
        plan = self.plan
        terms, params = self.hour_terms()
        for first, last in runs(plan.days):
            terms.append(self._rows(Span.DAY, WHOLE, f"{self.day} >= %s AND {self.day} <= %s"))
            params += [Span.DAY, WHOLE, *self._dates(first, last)]
        if plan.months:
            marks = ", ".join(["%s"] * len(plan.months))
            terms.append(self._rows(Span.MONTH, WHOLE, f"{self.day} IN ({marks})"))
            params += [Span.MONTH, WHOLE, *self._dates(*plan.months)]
        if not terms:
            return Tally()
        negative, negative_params = self.hour_terms(-1)
        sign = f"CASE WHEN {' OR '.join(negative)} THEN -1 ELSE 1 END" if negative else "1"
        scope, scope_params = self.scope.where(self.col("tenant"))
        sums = ", ".join(f"SUM({self.col(name)})" for name in TALLY_FIELDS)
        sql = (
            f"SELECT {sign}, {sums} FROM {self.table}"  # noqa: S608
            f" WHERE {scope} AND ({' OR '.join(terms)}) GROUP BY 1"
        )
        tally = Tally()
        for row_sign, *values in fetch(self.scope, sql, [*negative_params, *scope_params, *params]):
            tally.add(
                Tally.from_fields(dict(zip(TALLY_FIELDS, values, strict=True))), sign=row_sign
            )
        return tally

    def daily(self) -> dict[date, tuple[int, int]]:
        """Succeeded and failed per day, for the days and hours the plan takes from here.

        Two parts: every day row from the first whole day to the last (from the
        `rollup_daily_series` index alone: a plain range, no OR), and the hour rows.
        Hour rows belong to the interval's first and last days and to days rolled up
        only in part, none of which has a whole-day row inside the range.
        """
        plan = self.plan
        weights: dict[tuple[date, int], int] = {(d, WHOLE): 1 for d in plan.rolled_days}
        for day, hours, sign in plan.hours:
            weights[(day, hours)] = sign
        if not weights:
            return {}
        scope, scope_params = self.scope.where(self.col("tenant"))
        select = (
            f"SELECT {self.day}, {self.hours}, SUM({self.col('succeeded')}),"  # noqa: S608
            f" SUM({self.col('failed')}) FROM {self.table} WHERE {scope} AND"
        )
        group = f"GROUP BY {self.day}, {self.hours}"
        parts, params = [], []
        if plan.rolled_days:
            condition = f"{self.day} >= %s AND {self.day} <= %s"
            parts.append(f"{select} {self._rows(Span.DAY, WHOLE, condition)} {group}")
            params += [*scope_params, Span.DAY, WHOLE]
            params += self._dates(plan.rolled_days[0], plan.rolled_days[-1])
        terms, term_params = self.hour_terms()
        if terms:
            parts.append(f"{select} ({' OR '.join(terms)}) {group}")
            params += [*scope_params, *term_params]
        out: dict[date, tuple[int, int]] = {}
        for value, hours, succeeded, failed in fetch(self.scope, " UNION ALL ".join(parts), params):
            day = as_date(value)
            weight = weights.get((day, hours))
            if weight:  # a day in the range that the interval only touches: not from here
                s, f = out.get(day, (0, 0))
                out[day] = (s + weight * succeeded, f + weight * failed)
        return out


def rollup_marks(scope: TenantScope, first: date, last: date) -> tuple[dict[date, int], set[date]]:
    """The rolled-up days (with their hours) and months from `first`'s month to `last`."""
    c = scope.connection

    def col(name: str) -> str:
        return column(c, RollupPeriod, name)

    sql = (
        f"SELECT {col('span')}, {col('day')}, {col('hours')} FROM {table(c, RollupPeriod)}"  # noqa: S608
        f" WHERE {col('day')} >= %s AND {col('day')} <= %s"
    )
    days: dict[date, int] = {}
    months: set[date] = set()
    for span, day, hours in fetch(
        scope, sql, [param_date(c, month_start(first)), param_date(c, last)]
    ):
        if span == Span.MONTH:
            months.add(as_date(day))
        else:
            days[as_date(day)] = hours
    return days, months


def count_in_progress(scope: TenantScope, start: datetime, end: datetime) -> int:
    """Retraction attempts requested within [start, end) and still queued or running."""
    c = scope.connection

    def col(name: str) -> str:
        return column(c, RetractionAttempt, name)

    where, params = scope.where(col("tenant"))
    sql = (
        f"SELECT COUNT(*) FROM {table(c, RetractionAttempt)} WHERE {where}"  # noqa: S608
        f" AND {col('status')} IN (%s, %s)"
        f" AND {col('requested_at')} >= %s AND {col('requested_at')} < %s"
        f" AND {col('action')} NOT IN ({', '.join(['%s'] * len(NOT_RETRACTIONS))})"
    )
    params += [
        *PENDING_STATUSES,
        param_datetime(c, start),
        param_datetime(c, end),
        *NOT_RETRACTIONS,
    ]
    return fetch(scope, sql, params)[0][0]


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
    now = now or timezone.now()
    tenant_id = getattr(tenant, "pk", tenant)
    scope = TenantScope.for_user(user, tenant_id)

    with small_queries(scope):
        day_marks: dict[date, int] = {}
        month_marks: set[date] = set()
        first = start.astimezone(UTC).date()
        last = min(end.astimezone(UTC).date(), utc_today(now))
        if use_rollup and first <= last:
            day_marks, month_marks = rollup_marks(scope, first, last)
        plan = plan_interval(start, end, now=now, day_marks=day_marks, month_marks=month_marks)

        rollups = _Rollups(scope, plan)
        tally = rollups.tally()
        per_day: dict[date, list[int]] = {d: [0, 0] for d in _series_days(start, end)}
        for day, (succeeded, failed) in rollups.daily().items():
            per_day[day][0] += succeeded
            per_day[day][1] += failed
        for (day,), counts in scan_counts(scope, plan.live, by=("day",)).items():
            tally.add(counts)
            per_day[day][0] += counts.counts["succeeded"]
            per_day[day][1] += counts.counts["failed"]
        for latency in scan_latency(scope, plan.live).values():
            tally.add(latency)
        in_progress = count_in_progress(scope, start, end)

    return Card(
        start=start,
        end=end,
        tenant_id=tenant_id,
        tally=tally,
        in_progress=in_progress,
        daily=[(day, s, f) for day, (s, f) in per_day.items()],
        plan=plan,
    )
