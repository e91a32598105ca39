"""The Retractions card and its rollups.

- `card.retractions_card`: the card for a user, an interval and optionally one tenant;
- `rollup.rollup_days` / `rollup.rollup_nightly`: fill the rollup tables;
- `scan`: the live computation both of them share; `buckets`, `tally`: their arithmetic.

(No imports here: metrics.models needs `tally` while the app registry loads.)
"""
