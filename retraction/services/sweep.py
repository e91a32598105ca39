"""The sweeper: nothing queued is forgotten, nothing claimed by a dead worker is lost."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from retraction.models import AttemptStatus, JobState, RetractionAttempt, RetractionJob


def attempts_sweep() -> int:
    """Re-queue stale running attempts and re-dispatch queued ones nobody picked up.

    A running attempt older than the cluster's retry window belongs to a worker
    that died (the broker would have re-delivered a live task by then). Re-running
    it is safe: the copy is located again, and one already moved is reported as
    "already there". Queued attempts older than a grace period are dispatched
    again (their task may have been lost with a broker restart); claims are
    conditional, so a duplicate task finds nothing to claim. Jobs still pending
    after the grace period are dispatched again for the same reason (discovery
    claims its job conditionally too).
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.RETRACTION_STALE_AFTER)
    grace_before = now - timedelta(seconds=settings.RETRACTION_REDISPATCH_AFTER)
    attempts = RetractionAttempt.objects.all_tenants()
    with transaction.atomic():
        requeued = attempts.filter(
            status=AttemptStatus.RUNNING, started_at__lt=stale_before
        ).update(status=AttemptStatus.QUEUED, claim_token="")
    forgotten = list(
        attempts.filter(status=AttemptStatus.QUEUED, requested_at__lt=grace_before)
        .order_by("pk")
        .values_list("pk", flat=True)[:50_000]
    )
    if forgotten:
        from retraction.tasks import dispatch_attempts

        dispatch_attempts(forgotten)
    unstarted = list(
        RetractionJob.objects.all_tenants()
        .filter(state=JobState.PENDING, created_at__lt=grace_before)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    if unstarted:
        from retraction.tasks import dispatch_job

        for job_id in unstarted:
            dispatch_job(job_id)
    return requeued + len(forgotten) + len(unstarted)
