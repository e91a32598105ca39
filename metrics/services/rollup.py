"""Filling the rollup tables: one UTC day at a time, by the hour, idempotent, months when complete.

`rollup_day` recomputes one past day for every tenant in one transaction: it
scans the day live, hour by hour (`scan.scan`, the very computation the card
uses for what it does not take from here), deletes the day's rows, inserts the
new ones and marks the day. A day has up to 24 rows a tenant: the first hour,
the first two, ... the whole day, so the card reads any run of whole hours as
the difference of two rows. In the same transaction the day's month is brought
in line: a past month whose every day is marked gets month rows (the sum of its
day rows), any other month has none.

`rollup_recent` (every hour) does the same for the hours of today that are
over, so that today's card scans minutes, not a day of attempts.
"""

from __future__ import annotations

import time as _time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from metrics.models import WHOLE, RetractionRollup, RollupPeriod, Span
from metrics.services.card import (
    ONE_DAY,
    ONE_HOUR,
    month_days,
    month_start,
    utc_midnight,
    utc_today,
)
from metrics.services.scan import scan
from metrics.services.sql import TenantScope
from metrics.services.tally import TALLY_FIELDS, Tally
from retraction.models import RetractionAttempt

# The nightly run also recomputes the last days before yesterday: an attempt whose
# transaction committed after midnight may carry a completed_at of the day before.
RECHECK_DAYS = 2
# An hour is rolled up once it has been over this long: the engine sets an
# attempt's completed_at just before the transaction that records it commits.
SETTLE = timedelta(minutes=5)


def rollup_day(day: date, *, now: datetime | None = None) -> int:
    """Recompute `day` (UTC, before today) for every tenant; returns the attempts counted."""
    if day >= utc_today(now):
        raise ValueError(f"{day} is not over yet (UTC); only past days are rolled up")
    return _roll(day, WHOLE, now=now)


def _roll(day: date, hours: int, *, now: datetime | None = None) -> int:
    """Recompute the first `hours` hours of `day` for every tenant, in one transaction."""
    start = utc_midnight(day)
    with transaction.atomic():
        _lock(day)
        by_hour = scan(
            TenantScope.all_tenants(), [(start, start + hours * ONE_HOUR)], by=("tenant", "hour")
        )
        hourly: dict[int, dict[int, Tally]] = defaultdict(dict)
        for (tenant_id, hour), tally in by_hour.items():
            hourly[tenant_id][hour] = tally
        rows, attempts = [], 0
        for tenant_id, tallies in hourly.items():
            running = Tally()
            for hour in range(hours):
                if hour in tallies:
                    running.add(tallies[hour])
                if not running.is_empty():
                    rows.append(
                        RetractionRollup(
                            tenant_id=tenant_id,
                            span=Span.DAY,
                            day=day,
                            hours=hour + 1,
                            **running.fields(),
                        )
                    )
            attempts += running.total
        RetractionRollup.objects.all_tenants().filter(span=Span.DAY, day=day).delete()
        # Rows of one `hours` next to each other: the card reads one `hours` of a day
        # for every tenant, a page or two instead of a page a tenant.
        rows.sort(key=lambda row: (-row.hours, row.tenant_id))
        RetractionRollup.objects.bulk_create(rows)
        _mark(Span.DAY, day, attempts, hours)
        if hours == WHOLE:
            _refresh_month(month_start(day), now=now)
    return attempts


def _lock(day: date) -> None:
    """Hold the day's mark until the transaction ends: one recomputation of a day at a time."""
    RollupPeriod.objects.select_for_update().get_or_create(
        span=Span.DAY, day=day, defaults={"hours": 0}
    )


def _mark(span: str, day: date, attempts: int, hours: int = WHOLE) -> None:
    RollupPeriod.objects.update_or_create(
        span=span,
        day=day,
        defaults={"attempts": attempts, "hours": hours, "computed_at": timezone.now()},
    )


def _refresh_month(first: date, *, now: datetime | None = None) -> None:
    """Month rows for a past, completely marked month; none for any other."""
    days = month_days(first)
    rows = RetractionRollup.objects.all_tenants()
    rows.filter(span=Span.MONTH, day=first).delete()
    marked = RollupPeriod.objects.filter(
        span=Span.DAY, hours=WHOLE, day__gte=first, day__lte=days[-1]
    ).count()
    if days[-1] >= utc_today(now) or marked < len(days):
        RollupPeriod.objects.filter(span=Span.MONTH, day=first).delete()
        return
    sums = (
        rows.filter(span=Span.DAY, hours=WHOLE, day__gte=first, day__lte=days[-1])
        .values("tenant_id")
        .annotate(**{f"sum_{name}": Sum(name) for name in TALLY_FIELDS})
        .order_by()
    )
    tallies = {
        row["tenant_id"]: Tally.from_fields({n: row[f"sum_{n}"] for n in TALLY_FIELDS})
        for row in sums
    }
    RetractionRollup.objects.bulk_create(
        RetractionRollup(tenant_id=tenant_id, span=Span.MONTH, day=first, **tally.fields())
        for tenant_id, tally in tallies.items()
    )
    _mark(Span.MONTH, first, sum(t.total for t in tallies.values()))


def _settled(now: datetime | None = None) -> datetime:
    """Until when (UTC) attempts have surely committed."""
    return (now or timezone.now()).astimezone(UTC) - SETTLE


def settled_day(now: datetime | None = None) -> date:
    """The UTC day the hourly run works on: today, or yesterday in the first minutes."""
    return _settled(now).date()


def rollup_recent(*, now: datetime | None = None) -> list[tuple[date, int]]:
    """Roll up the hours of today that are over (by SETTLE), and finish yesterday.

    Returns the (day, hours) recomputed. A day already rolled up whole is left
    alone (the nightly run rechecks it).
    """
    cutoff = _settled(now)
    day, hours = cutoff.date(), cutoff.hour
    marks = dict(
        RollupPeriod.objects.filter(span=Span.DAY, day__in=[day - ONE_DAY, day]).values_list(
            "day", "hours"
        )
    )
    done = []
    if marks.get(day - ONE_DAY) != WHOLE:
        rollup_day(day - ONE_DAY, now=now)
        done.append((day - ONE_DAY, WHOLE))
    if hours and marks.get(day) != WHOLE:
        _roll(day, hours, now=now)
        done.append((day, hours))
    return done


def rollup_days(
    days: Iterable[date],
    *,
    now: datetime | None = None,
    progress: Callable[[date, int], None] | None = None,
    budget_seconds: float | None = None,
) -> list[date]:
    """Roll up `days` in the order given; returns the days done (fewer if the budget ran out)."""
    deadline = None if budget_seconds is None else _time.monotonic() + budget_seconds
    done = []
    for day in days:
        if deadline is not None and done and _time.monotonic() > deadline:
            break
        attempts = rollup_day(day, now=now)
        done.append(day)
        if progress is not None:
            progress(day, attempts)
    return done


def days_between(since: date, until: date) -> list[date]:
    """Every day from `since` to `until`, both included."""
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def days_to_roll_up(*, now: datetime | None = None) -> list[date]:
    """What the nightly run recomputes, newest first: the last RECHECK_DAYS + 1 days, and
    every earlier day since the first finished attempt that is not marked yet."""
    yesterday = utc_today(now) - ONE_DAY
    recent = days_between(yesterday - timedelta(days=RECHECK_DAYS), yesterday)
    return sorted({*recent, *missing_days(before=recent[0])}, reverse=True)


def missing_days(*, before: date) -> list[date]:
    """Days before `before`, since the first finished attempt, not rolled up whole."""
    first = RetractionAttempt.objects.all_tenants().aggregate(first=Min("completed_at"))["first"]
    if first is None:
        return []
    since = first.astimezone(UTC).date()
    if since >= before:
        return []
    marked = set(
        RollupPeriod.objects.filter(
            span=Span.DAY, hours=WHOLE, day__gte=since, day__lt=before
        ).values_list("day", flat=True)
    )
    return [d for d in days_between(since, before - ONE_DAY) if d not in marked]
