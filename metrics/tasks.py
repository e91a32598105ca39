"""django-q2 entry points for the metrics rollup (thin: they call metrics.services.rollup)."""

from __future__ import annotations

from django.conf import settings

# Stay well inside the cluster's task timeout; what is left is continued by a new task.
BUDGET_FRACTION = 0.5


def rollup_nightly() -> int:
    """Scheduled every night: roll up yesterday, recheck the days before, fill any gaps.

    Safe to run twice (each day is recomputed whole). A backlog larger than one
    task's time budget (the first run over a long history) continues in a follow-up
    task instead of outliving the cluster's timeout.
    """
    from django_q.tasks import async_task

    from metrics.services.rollup import days_to_roll_up, rollup_days

    days = days_to_roll_up()
    budget = settings.Q_CLUSTER.get("timeout", 120) * BUDGET_FRACTION
    done = rollup_days(days, budget_seconds=budget)
    if len(done) < len(days):
        async_task("metrics.tasks.rollup_nightly", group="metrics")
    return len(done)


def rollup_hourly() -> int:
    """Scheduled every hour: roll up today's hours that are over (and yesterday, if not yet).

    What keeps the card's live scan to minutes of attempts rather than a day's. Past
    days missing from the rollup (a new installation, the cluster down for a night)
    are filled too, newest first, within half the task timeout: the next run goes on.
    Safe to run twice.
    """
    from metrics.services.rollup import missing_days, rollup_days, rollup_recent, settled_day

    done = rollup_recent()
    budget = settings.Q_CLUSTER.get("timeout", 120) * BUDGET_FRACTION
    missing = sorted(missing_days(before=settled_day()), reverse=True)
    return len(done) + len(rollup_days(missing, budget_seconds=budget))
