"""Filling the rollup tables: one UTC day at a time, idempotent, months when complete.

`rollup_day` recomputes one past day for every tenant in one transaction: it
deletes the day's rows, scans the day live (`scan.scan_by_tenant`, the very
computation the card uses for the days it does not take from here), inserts the
new rows and marks the day. In the same transaction the day's month is brought
in line: a past month whose every day is marked gets month rows (the sum of its
day rows), any other month has none.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Min, Sum
from django.utils import timezone

from metrics.models import RetractionRollup, RollupPeriod, Span
from metrics.services.card import ONE_DAY, month_days, month_start, utc_midnight, utc_today
from metrics.services.scan import scan_by_tenant
from metrics.services.tally import TALLY_FIELDS, Tally
from retraction.models import RetractionAttempt

# The nightly run also recomputes the last days before yesterday: an attempt whose
# transaction committed after midnight may carry a completed_at of the day before.
RECHECK_DAYS = 2


def rollup_day(day: date, *, now: datetime | None = None) -> int:
    """Recompute `day` (UTC, before today) for every tenant; returns the attempts counted."""
    if day >= utc_today(now):
        raise ValueError(f"{day} is not over yet (UTC); only past days are rolled up")
    start = utc_midnight(day)
    with transaction.atomic():
        tallies = scan_by_tenant(
            RetractionAttempt.objects.all_tenants(), [(start, start + ONE_DAY)]
        )
        RetractionRollup.objects.all_tenants().filter(span=Span.DAY, day=day).delete()
        RetractionRollup.objects.bulk_create(
            RetractionRollup(tenant_id=tenant_id, span=Span.DAY, day=day, **tally.fields())
            for tenant_id, tally in tallies.items()
            if not tally.is_empty()
        )
        attempts = sum(t.total for t in tallies.values())
        _mark(Span.DAY, day, attempts)
        _refresh_month(month_start(day), now=now)
    return attempts


def _mark(span: str, day: date, attempts: int) -> None:
    RollupPeriod.objects.update_or_create(
        span=span, day=day, defaults={"attempts": attempts, "computed_at": timezone.now()}
    )


def _refresh_month(first: date, *, now: datetime | None = None) -> None:
    """Month rows for a past, completely marked month; none for any other."""
    days = month_days(first)
    rows = RetractionRollup.objects.all_tenants()
    rows.filter(span=Span.MONTH, day=first).delete()
    marked = RollupPeriod.objects.filter(span=Span.DAY, day__gte=first, day__lte=days[-1]).count()
    if days[-1] >= utc_today(now) or marked < len(days):
        RollupPeriod.objects.filter(span=Span.MONTH, day=first).delete()
        return
    sums = (
        rows.filter(span=Span.DAY, day__gte=first, day__lte=days[-1])
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
    first = RetractionAttempt.objects.all_tenants().aggregate(first=Min("completed_at"))["first"]
    missing: list[date] = []
    if first is not None:
        since = first.astimezone(utc_midnight(yesterday).tzinfo).date()
        if since < recent[0]:
            marked = set(
                RollupPeriod.objects.filter(
                    span=Span.DAY, day__gte=since, day__lt=recent[0]
                ).values_list("day", flat=True)
            )
            missing = [d for d in days_between(since, recent[0] - ONE_DAY) if d not in marked]
    return sorted({*recent, *missing}, reverse=True)
