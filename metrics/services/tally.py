"""A tally of counted attempts: the additive numbers behind the card and the rollup rows.

Everything here adds up: a tally of two intervals is the sum of their tallies.
Rates and percentiles are derived from a tally at the very end, never summed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailboxes.vocabulary import FailureReason, ReadState
from metrics.services.buckets import N_BUCKETS
from retraction.models import AttemptStatus, Mode

# Failure reasons in the order users see them; "other" catches a failed attempt
# without a known reason (the engine always records one; this keeps sums honest).
REASONS: tuple[str, ...] = (*FailureReason.values, "other")
REASON_LABELS: dict[str, str] = {
    **{r.value: str(r.label) for r in FailureReason},
    "other": "Other or unrecorded reason",
}

COUNT_FIELDS: tuple[str, ...] = (
    "succeeded",
    "failed",
    *(f"failed_{reason}" for reason in REASONS),
    "read",
    "unread",
    "read_unknown",
    "auto",
    "manual",
)
DELIVERY_FIELDS: tuple[str, ...] = tuple(f"delivery_b{i:02d}" for i in range(N_BUCKETS))
VERDICT_FIELDS: tuple[str, ...] = tuple(f"verdict_b{i:02d}" for i in range(N_BUCKETS))
TALLY_FIELDS: tuple[str, ...] = COUNT_FIELDS + DELIVERY_FIELDS + VERDICT_FIELDS

_READ_FIELD = {ReadState.READ: "read", ReadState.UNREAD: "unread"}
_MODE_FIELD = {Mode.AUTO: "auto", Mode.MANUAL: "manual"}


@dataclass
class Tally:
    """Counts of finished retraction attempts (succeeded + failed) and latency histograms."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))
    delivery: list[int] = field(default_factory=lambda: [0] * N_BUCKETS)
    verdict: list[int] = field(default_factory=lambda: [0] * N_BUCKETS)

    @property
    def total(self) -> int:
        return self.counts["succeeded"] + self.counts["failed"]

    def add_attempts(self, *, status: str, reason: str, mode: str, read_state: str, n: int):
        """Count `n` attempts that share these values (status succeeded or failed)."""
        c = self.counts
        if status == AttemptStatus.SUCCEEDED:
            c["succeeded"] += n
        else:
            c["failed"] += n
            c[f"failed_{reason if reason in FailureReason.values else 'other'}"] += n
        c[_READ_FIELD.get(read_state, "read_unknown")] += n
        # An unknown mode cannot happen (choices); count it as manual rather than lose it.
        c[_MODE_FIELD.get(mode, "manual")] += n

    def add_latency(self, *, delivery_bucket: int, verdict_bucket: int, n: int) -> None:
        self.delivery[delivery_bucket] += n
        self.verdict[verdict_bucket] += n

    def add(self, other: Tally, sign: int = 1) -> Tally:
        """Add `other` (sign -1: take it away, for the difference of two rollup rows)."""
        for name, value in other.counts.items():
            self.counts[name] += sign * value
        for i in range(N_BUCKETS):
            self.delivery[i] += sign * other.delivery[i]
            self.verdict[i] += sign * other.verdict[i]
        return self

    def copy(self) -> Tally:
        return Tally(dict(self.counts), list(self.delivery), list(self.verdict))

    def fields(self) -> dict[str, int]:
        """The tally as rollup columns."""
        return {
            **self.counts,
            **dict(zip(DELIVERY_FIELDS, self.delivery, strict=True)),
            **dict(zip(VERDICT_FIELDS, self.verdict, strict=True)),
        }

    @classmethod
    def from_fields(cls, row: dict[str, Any]) -> Tally:
        """A tally from rollup columns (or their SUMs: None counts as 0)."""
        return cls(
            counts={name: row.get(name) or 0 for name in COUNT_FIELDS},
            delivery=[row.get(name) or 0 for name in DELIVERY_FIELDS],
            verdict=[row.get(name) or 0 for name in VERDICT_FIELDS],
        )

    def is_empty(self) -> bool:
        return self.total == 0
