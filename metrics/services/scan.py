"""The live computation: tallies straight from RetractionAttempt rows, in two GROUP BY queries.

The rollup calls the same functions for whole hours, so a rolled-up hour holds
exactly what a live scan of that hour returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from mailboxes.models import Message
from mailboxes.vocabulary import Action
from metrics.services.buckets import LATENCY_EDGES
from metrics.services.sql import (
    Range,
    TenantScope,
    as_date,
    column,
    fetch,
    param_datetime,
    seconds_sql,
    table,
    utc_date_sql,
    utc_hour_sql,
)
from metrics.services.tally import Tally
from retraction.models import AttemptStatus, Mode, RetractionAttempt

# What the card counts: finished retractions. Cancelled attempts never ran; an undo
# (action "inbox") puts a copy back and is not a retraction.
COUNTED_STATUSES = (AttemptStatus.SUCCEEDED, AttemptStatus.FAILED)
PENDING_STATUSES = (AttemptStatus.QUEUED, AttemptStatus.RUNNING)
NOT_RETRACTIONS = (Action.INBOX,)
RETRACTION_ACTIONS = tuple(a for a in Action.values if a not in NOT_RETRACTIONS)

# What a tally can be keyed by, besides nothing: the tenant, the UTC day, the UTC hour.
KEYS = ("tenant", "day", "hour")
Key = tuple[Any, ...]


def bucket_sql(seconds: str, lo: int = 0, hi: int = len(LATENCY_EDGES)) -> str:
    """SQL for the bucket (see buckets.LATENCY_EDGES) of a seconds column: a nested CASE
    that bisects the bounds, about six comparisons a row."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi + 1) // 2  # bucket >= mid exactly when seconds >= LATENCY_EDGES[mid - 1]
    below, above = bucket_sql(seconds, lo, mid - 1), bucket_sql(seconds, mid, hi)
    return f"CASE WHEN {seconds} < {LATENCY_EDGES[mid - 1]} THEN {below} ELSE {above} END"


class _Query:
    """The FROM and WHERE of a scan: counted attempts of the scope, completed within ranges."""

    def __init__(self, scope: TenantScope, ranges: Sequence[Range], by: Sequence[str]) -> None:
        unknown = set(by) - set(KEYS)
        if unknown:
            raise ValueError(f"cannot key a scan by {sorted(unknown)}")
        self.connection = c = scope.connection
        self.by = tuple(by)

        def col(name: str) -> str:
            return f"a.{column(c, RetractionAttempt, name)}"

        self.col = col
        completed = col("completed_at")
        keys = {
            "tenant": col("tenant"),
            "day": utc_date_sql(c, completed),
            "hour": utc_hour_sql(c, completed),
        }
        self.keys = [keys[k] for k in self.by]
        tenant_sql, self.params = scope.where(col("tenant"))
        spans = []
        for start, end in ranges:
            spans.append(f"({completed} >= %s AND {completed} < %s)")
            self.params += [param_datetime(c, start), param_datetime(c, end)]
        self.params += [*COUNTED_STATUSES, *NOT_RETRACTIONS]
        self.where = (
            f"{tenant_sql} AND ({' OR '.join(spans)})"
            f" AND {col('status')} IN (%s, %s)"
            f" AND {col('action')} NOT IN ({', '.join(['%s'] * len(NOT_RETRACTIONS))})"
        )
        self.table = f"{table(c, RetractionAttempt)} a"

    def key(self, values: Sequence[Any]) -> Key:
        return tuple(
            as_date(v) if name == "day" else v for name, v in zip(self.by, values, strict=True)
        )


def scan_counts(
    scope: TenantScope, ranges: Sequence[Range], *, by: Sequence[str] = ()
) -> dict[Key, Tally]:
    """Counts (no histograms) of the attempts completed within `ranges`, keyed by `by`."""
    tallies: dict[Key, Tally] = defaultdict(Tally)
    if not ranges:
        return tallies
    q = _Query(scope, ranges, by)
    fields = [q.col(name) for name in ("status", "reason", "mode", "read_state")]
    group = ", ".join([*q.keys, *fields])
    # Names from the models' _meta and constants; every value is a parameter.
    sql = f"SELECT {group}, COUNT(*) FROM {q.table} WHERE {q.where} GROUP BY {group}"  # noqa: S608
    n_keys = len(q.by)
    for row in fetch(scope, sql, q.params):
        status, reason, mode, read_state, n = row[n_keys:]
        tallies[q.key(row[:n_keys])].add_attempts(
            status=status, reason=reason, mode=mode, read_state=read_state, n=n
        )
    return tallies


def scan_latency(
    scope: TenantScope, ranges: Sequence[Range], *, by: Sequence[str] = ()
) -> dict[Key, Tally]:
    """Time-to-retract histograms (no counts) of the attempts that succeeded within `ranges`.

    From delivery: the message's `received_at`. From the verdict: for auto attempts
    the message's last disposition change, unless it changed again after the attempt
    was queued (then the stored time names a later verdict, and `requested_at`,
    written in the same transaction as the causing change, stands in); for manual
    attempts the request itself.
    """
    tallies: dict[Key, Tally] = defaultdict(Tally)
    if not ranges:
        return tallies
    q = _Query(scope, ranges, by)
    c, col = q.connection, q.col

    def msg(name: str) -> str:
        return f"m.{column(c, Message, name)}"

    completed, requested = col("completed_at"), col("requested_at")
    changed = msg("disposition_changed_at")
    verdict = (
        f"CASE WHEN {col('mode')} = %s AND {changed} <= {requested} "
        f"THEN {changed} ELSE {requested} END"
    )
    keys = [f"{sql} AS k{i}" for i, sql in enumerate(q.keys)]
    inner = ", ".join(
        [
            *keys,
            f"{seconds_sql(c, completed, msg('received_at'))} AS from_delivery",
            f"{seconds_sql(c, completed, verdict)} AS from_verdict",
        ]
    )
    outer = [f"k{i}" for i in range(len(q.keys))]
    outer += [bucket_sql("from_delivery"), bucket_sql("from_verdict")]
    positions = ", ".join(str(i + 1) for i in range(len(outer)))
    # Seconds computed once a row in the CTE; bucketed and counted outside it.
    # MATERIALIZED: a plain subquery is flattened, and each CASE level would compute
    # the seconds again (three times slower on SQLite).
    sql = (
        f"WITH latency AS MATERIALIZED (SELECT {inner} FROM {q.table}"  # noqa: S608
        f" JOIN {table(c, Message)} m ON m.{column(c, Message, 'id')} = {col('message')}"
        f" WHERE {q.where} AND {col('status')} = %s)"
        f" SELECT {', '.join(outer)}, COUNT(*) FROM latency GROUP BY {positions}"
    )
    params = [Mode.AUTO, *q.params, AttemptStatus.SUCCEEDED]
    n_keys = len(q.by)
    for row in fetch(scope, sql, params):
        delivery_bucket, verdict_bucket, n = row[n_keys:]
        tallies[q.key(row[:n_keys])].add_latency(
            delivery_bucket=delivery_bucket, verdict_bucket=verdict_bucket, n=n
        )
    return tallies


def scan(
    scope: TenantScope, ranges: Sequence[Range], *, by: Sequence[str] = ()
) -> dict[Key, Tally]:
    """Whole tallies (counts and histograms) keyed by `by`: what a rollup row stores."""
    tallies: dict[Key, Tally] = defaultdict(Tally)
    for key, tally in scan_counts(scope, ranges, by=by).items():
        tallies[key].add(tally)
    for key, tally in scan_latency(scope, ranges, by=by).items():
        tallies[key].add(tally)
    return dict(tallies)
