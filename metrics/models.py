"""Rollups of retraction attempts: per tenant and UTC day (and month), filled every night.

One row holds a tenant's tally for a day or a whole month: counts by outcome,
failure reason, read state and mode, and the two time-to-retract histograms
(one column per bucket of `metrics.services.buckets`). The card sums a few of
these rows instead of scanning attempts; see metrics/README.md.
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


class RetractionRollup(models.Model):
    """One tenant's finished retractions over one UTC day or month (columns: see Tally)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    span = models.CharField(max_length=8, choices=Span.choices)
    day = models.DateField(help_text="First UTC day of the span.")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["span", "day", "tenant"], name="rollup_unique")
        ]
        indexes = [models.Index(fields=["tenant", "span", "day"], name="rollup_tenant_span_day")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.span} {self.day}"


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
    and the rows are written in one transaction.
    """

    span = models.CharField(max_length=8, choices=Span.choices)
    day = models.DateField(help_text="First UTC day of the span.")
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts counted in the span.")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "span"]
        constraints = [models.UniqueConstraint(fields=["span", "day"], name="rollup_period_unique")]

    def __str__(self) -> str:
        return f"{self.get_span_display()} {self.day}"
