"""Rollups of retraction attempts: per tenant, UTC month, day and first hours of a day.

One row holds a tenant's tally for a month, a day, or the first `hours` hours of
a day (an hour "prefix"): counts by outcome, failure reason, read state and mode,
and the two time-to-retract histograms (one column per bucket of
`metrics.services.buckets`). The card adds and subtracts a few of these rows
instead of scanning attempts; see metrics/README.md.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from mailboxes.access import TenantScopedQuerySet
from mailboxes.models import Tenant
from metrics.services.tally import COUNT_FIELDS, DELIVERY_FIELDS, TALLY_FIELDS


class Span(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


WHOLE = 24  # hours: a whole day (and, on month rows, the whole month)


class RetractionRollup(models.Model):
    """One tenant's finished retractions over a UTC month, day, or a day's first hours.

    Day rows come 24 a day and tenant: `hours` = h covers [00:00, h:00) UTC of
    `day`, so h = 24 is the whole day, and the hours [a, b) are row b minus row a.
    Columns: see Tally.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    span = models.CharField(max_length=8, choices=Span.choices)
    day = models.DateField(help_text="First UTC day of the span.")
    hours = models.PositiveSmallIntegerField(
        default=WHOLE,
        help_text="Day rows: the hours from midnight UTC covered (24: the whole day). "
        "Month rows: 24.",
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "hours", "day", "tenant"], name="rollup_unique_hours"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "span", "hours", "day"], name="rollup_tenant_span_hours"
            ),
            # The card's daily chart reads only these two counters of a year of day
            # rows: from the index alone, without visiting the wide rows.
            models.Index(
                fields=["span", "hours", "day", "tenant", "succeeded", "failed"],
                name="rollup_daily_series",
            ),
        ]

    def __str__(self) -> str:
        hours = "" if self.hours == WHOLE else f" 00:00-{self.hours:02d}:00"
        return f"{self.tenant_id} {self.span} {self.day}{hours}"


def _column_help(name: str) -> str:
    if name in COUNT_FIELDS:
        return ""
    kind = "delivery" if name in DELIVERY_FIELDS else "verdict"
    return f"Succeeded attempts whose time from {kind} falls in bucket {name[-2:]}."


for _name in TALLY_FIELDS:
    RetractionRollup.add_to_class(
        _name, models.PositiveIntegerField(default=0, help_text=_column_help(_name))
    )


class RollupPeriod(models.Model):
    """A day or month that is rolled up for every tenant (rows exist only for tenants with data).

    The card takes a span from the rollup only when it is marked here; the marker
    and the rows are written in one transaction. A day marked with fewer than 24
    hours (today, rolled up every hour) has rows for its first `hours` hours only.
    """

    span = models.CharField(max_length=8, choices=Span.choices)
    day = models.DateField(help_text="First UTC day of the span.")
    hours = models.PositiveSmallIntegerField(
        default=WHOLE, help_text="Days: the hours from midnight UTC rolled up (24: the whole day)."
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts counted in the span.")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "span"]
        constraints = [models.UniqueConstraint(fields=["span", "day"], name="rollup_period_unique")]

    def __str__(self) -> str:
        hours = "" if self.hours == WHOLE else f" (00:00-{self.hours:02d}:00)"
        return f"{self.get_span_display()} {self.day}{hours}"
