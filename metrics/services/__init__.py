"""The Retractions card and its rollups.

- `card.retractions_card`: the card for a user, an interval and optionally one tenant;
- `rollup.rollup_days` / `rollup.rollup_recent`: fill the rollup tables (nightly, hourly);
- `scan`: the live computation both of them share; `buckets`, `tally`: their arithmetic;
- `sql`: the tenant scope and engine differences of the hand-written SQL they run.

(No imports here: metrics.models needs `tally` while the app registry loads.)
"""
