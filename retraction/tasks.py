"""django-q2 entry points for retraction work (thin: they take ids and call services)."""

from __future__ import annotations

from collections.abc import Sequence

# Attempts are performed in chunks so one task stays well inside Q_CLUSTER timeout.
CHUNK = 500


def dispatch_attempts(attempt_ids: Sequence[int]) -> None:
    """Hand queued attempts to the cluster, a chunk per task."""
    from django_q.tasks import async_task

    for start in range(0, len(attempt_ids), CHUNK):
        async_task(
            "retraction.tasks.perform_attempts",
            list(attempt_ids[start : start + CHUNK]),
            group="retraction",
        )


def perform_attempts(attempt_ids: list[int]) -> int:
    """Claim and perform the given attempts; returns how many this run performed."""
    from retraction.services.perform import attempts_perform

    return attempts_perform(attempt_ids)


def dispatch_job(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("retraction.tasks.run_job", job_id, group="retraction-job")


def run_job(job_id: int) -> int:
    """Discover a job's copies, then hand them to the workers."""
    from retraction.services.jobs import job_discover

    ids = job_discover(job_id)
    dispatch_attempts(ids)
    return len(ids)


def sweep() -> int:
    """Scheduled: re-queue attempts whose worker died, re-dispatch forgotten ones."""
    from retraction.services.sweep import attempts_sweep

    return attempts_sweep()


def dispatch_group_expansion(attempt_ids: Sequence[int]) -> None:
    from django_q.tasks import async_task

    async_task("retraction.tasks.expand_groups", list(attempt_ids), group="retraction")


def expand_groups(attempt_ids: list[int]) -> int:
    """Retract the members' copies of distribution lists (asking the directory if needed)."""
    from retraction.services.groups import groups_expand

    return groups_expand(attempt_ids)
