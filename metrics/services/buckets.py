"""Time-to-retract histograms: fixed buckets, and percentiles read from them.

The rollup and the live computation put every latency into the same fixed
buckets (in SQL, see `scan.bucket_sql`), and both read percentiles from
bucket counts with `percentile`. Rolled-up days and live hours therefore add up
to exactly what a live computation over the whole interval gives, which raw
percentiles (not additive) could never do.

Bucket `i` holds latencies in [LATENCY_EDGES[i-1], LATENCY_EDGES[i]) seconds;
bucket 0 also holds negative values (clock skew), the last one everything from
one year on. The bounds are round numbers a person reads at a glance, about
1.5x apart.
"""

from __future__ import annotations

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

LATENCY_EDGES: tuple[int, ...] = (
    1, 2, 3, 5, 10, 15, 20, 30, 45,
    MINUTE, 90, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE, 450, 10 * MINUTE, 15 * MINUTE,
    20 * MINUTE, 30 * MINUTE, 45 * MINUTE,
    HOUR, 5400, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 8 * HOUR, 12 * HOUR, 18 * HOUR,
    DAY, 36 * HOUR, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 60 * DAY,
    90 * DAY, 180 * DAY, 365 * DAY,
)  # fmt: skip
N_BUCKETS = len(LATENCY_EDGES) + 1


def bucket_of(seconds: float) -> int:
    """The bucket of a latency (the Python twin of the SQL expression, for tests)."""
    return sum(1 for edge in LATENCY_EDGES if seconds >= edge)


def percentile(counts: list[int] | tuple[int, ...], p: int) -> int | None:
    """The p-th percentile (nearest rank) as the upper bound of its bucket, in seconds.

    The smallest bound b such that at least p % of the latencies are below b
    (for the last, open bucket: its lower bound, one year). None without data.
    """
    n = sum(counts)
    if n == 0:
        return None
    rank = (p * n + 99) // 100  # ceil(p/100 * n), in integers
    seen = 0
    for i, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return LATENCY_EDGES[min(i, len(LATENCY_EDGES) - 1)]
    raise AssertionError("unreachable: rank <= n")


def percentile_is_open(counts: list[int] | tuple[int, ...], p: int) -> bool:
    """Whether the percentile falls in the last, open bucket (one year or more)."""
    n = sum(counts)
    if n == 0:
        return False
    rank = (p * n + 99) // 100
    return sum(counts[:-1]) < rank


def format_duration(seconds: int | None, *, open_ended: bool = False) -> str:
    """A bucket bound for people: "< 2 min", "< 1.5 h", "≥ 365 d"; "—" without data."""
    if seconds is None:
        return "—"
    unit, value = "s", float(seconds)
    for name, size in (("d", DAY), ("h", HOUR), ("min", MINUTE)):
        if seconds >= size:
            unit, value = name, seconds / size
            break
    text = f"{value:.1f}".removesuffix(".0")
    return f"≥ {text} {unit}" if open_ended else f"< {text} {unit}"
