"""django-q2 entry points for retraction work (thin: they take ids and call services)."""

from __future__ import annotations

from collections.abc import Sequence

# Attempts are performed in chunks so one task stays well inside Q_CLUSTER timeout.
CHUNK = 500


def dispatch_attempts(attempt_ids: Sequence[int]) -> None:
    """Hand queued attempts to the cluster, a chunk per task, a mailbox's copies together."""
    from django_q.tasks import async_task

    for chunk in chunks_by_mailbox(attempt_ids):
        async_task("retraction.tasks.perform_attempts", chunk, group="retraction")


def chunks_by_mailbox(attempt_ids: Sequence[int]) -> list[list[int]]:
    """Chunks of at most CHUNK attempts that keep each mailbox's attempts together.

    All of a mailbox's copies then share one look-up round and one move round, and
    two workers are never in one mailbox at once (each would keep its own 4-request
    limit and together earn 429s). A mailbox is split only when it alone exceeds a chunk.
    """
    ids = list(attempt_ids)
    if len(ids) <= CHUNK:
        return [ids] if ids else []
    from retraction.models import RetractionAttempt

    mailboxes: dict[tuple[int, str], list[int]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = (
            RetractionAttempt.objects.all_tenants()
            .filter(pk__in=ids[start : start + CHUNK])
            .values_list("tenant_id", "delivery__recipient", "pk")
        )
        for tenant_id, recipient, pk in rows:
            mailboxes.setdefault((tenant_id, recipient.lower()), []).append(pk)
    chunks: list[list[int]] = []
    current: list[int] = []
    for key in sorted(mailboxes):
        group = sorted(mailboxes[key])
        if current and len(current) + len(group) > CHUNK:
            chunks.append(current)
            current = []
        while len(group) > CHUNK:
            chunks.append(group[:CHUNK])
            group = group[CHUNK:]
        current += group
    if current:
        chunks.append(current)
    found = {pk for group in mailboxes.values() for pk in group}
    unseen = [pk for pk in ids if pk not in found]  # not visible here: hand them on as given
    chunks += [unseen[start : start + CHUNK] for start in range(0, len(unseen), CHUNK)]
    return chunks


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
