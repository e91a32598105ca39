"""Fill the Retractions card's rollup tables: `manage.py rollup_metrics --since 2024-01-01`."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from metrics.services.card import ONE_DAY, utc_today
from metrics.services.rollup import days_between, days_to_roll_up, rollup_days


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Recompute the daily (and monthly) retraction rollups, UTC days from --since to "
        "--until (default: yesterday). Without --since: what the nightly schedule does "
        "(the last three days and every day not rolled up yet). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_day, help="First UTC day, YYYY-MM-DD.")
        parser.add_argument("--until", type=_day, help="Last UTC day (default: yesterday).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        yesterday = utc_today() - ONE_DAY
        until = options["until"] or yesterday
        if until > yesterday:
            raise CommandError(f"--until must be a past UTC day (at most {yesterday}).")
        if options["since"] is not None:
            if options["since"] > until:
                raise CommandError("--since must not be after --until.")
            days = days_between(options["since"], until)
        else:
            days = [d for d in days_to_roll_up() if d <= until]
        counted = 0
        with tqdm(
            total=len(days), unit="day", disable=options["no_progress"], file=self.stderr._out
        ) as bar:

            def step(day: date, attempts: int) -> None:
                nonlocal counted
                counted += attempts
                bar.set_postfix_str(str(day), refresh=False)
                bar.update(1)

            rollup_days(days, progress=step)
        self.stdout.write(f"Rolled up {len(days)} day(s), {counted} attempt(s).")
