"""Bulk retraction jobs: discover every copy a message list or a search matches, then retract."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from mailboxes.access import Role, ShellOperator, require_role, stored_user
from mailboxes.audit import audit_record
from mailboxes.models import Delivery, Message, Tenant
from retraction.models import (
    JOB_OPEN_STATES,
    AttemptStatus,
    JobState,
    Mode,
    RetractionAttempt,
    RetractionJob,
)
from retraction.services.decide import attempts_insert
from retraction.services.manual import check_action_allowed

DISCOVERY_CHUNK = 1000


def job_create(
    *,
    actor: Any,
    tenant: Tenant,
    action: str,
    message_ids: list[int] | None = None,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the API's word
    confirm_hard_delete: bool = False,
    via: str = "",
) -> RetractionJob:
    """Create a job (analyst role); discovery and retraction run in the background."""
    check_action_allowed(
        actor=actor, tenant=tenant, action=action, confirm_hard_delete=confirm_hard_delete
    )
    if not message_ids and not filter:
        raise ValidationError({"message_ids": ["Give message_ids or a filter."]})
    if message_ids and filter:
        raise ValidationError({"filter": ["Give message_ids or a filter, not both."]})
    with transaction.atomic():
        job = RetractionJob.objects.create(
            tenant=tenant,
            action=action,
            message_ids=sorted(set(message_ids or [])),
            filter=filter or {},
            requested_by=stored_user(actor),
        )
        audit_record(
            actor=actor,
            action="retraction_job.created",
            tenant=tenant,
            target=job,
            data={"action": action, "messages": len(job.message_ids), "filter": job.filter},
            via=via,
        )
        from retraction.tasks import dispatch_job

        transaction.on_commit(lambda: dispatch_job(job.pk))
    return job


def _job_messages(job: RetractionJob) -> Any:
    messages = Message.objects.for_tenant(job.tenant_id).retractable()
    if job.message_ids:
        return messages.filter(pk__in=job.message_ids)
    from mailboxes.filters import filter_messages

    # `messages` is already the job's tenant; the user only bounds a "tenant" parameter.
    return filter_messages(messages, job.filter, user=ShellOperator("retraction job"))


def job_discover(job_id: int) -> list[int]:
    """Create one attempt per copy the job covers; returns the attempt ids to perform."""
    claimed = (
        RetractionJob.objects.all_tenants()
        .filter(pk=job_id, state=JobState.PENDING)
        .update(state=JobState.DISCOVERING)
    )
    if not claimed:
        return []
    job = RetractionJob.objects.all_tenants().select_related("tenant").get(pk=job_id)
    try:
        deliveries = (
            Delivery.objects.for_tenant(job.tenant_id)
            .filter(message__in=_job_messages(job).values("pk"))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        like = RetractionAttempt(
            tenant_id=job.tenant_id,
            job=job,
            mode=Mode.MANUAL,
            action=job.action,
            requested_by_id=job.requested_by_id,
            requested_at=timezone.now(),
        )
        ids: list[int] = []
        batch: list[int] = []
        for delivery_id in deliveries.iterator(chunk_size=DISCOVERY_CHUNK):
            batch.append(delivery_id)
            if len(batch) >= DISCOVERY_CHUNK:
                ids += _save_batch(job, batch, like)
                batch = []
        ids += _save_batch(job, batch, like)
    except ValidationError as exc:
        _finish(job, JobState.FAILED, error="; ".join(exc.messages))
        return []
    RetractionJob.objects.all_tenants().filter(pk=job.pk, state=JobState.DISCOVERING).update(
        state=JobState.PROCESSING
    )
    if not ids:
        _finish(job, JobState.COMPLETED)
    return ids


def _save_batch(job: RetractionJob, delivery_ids: list[int], like: RetractionAttempt) -> list[int]:
    if not delivery_ids:
        return []
    with transaction.atomic():
        # A cancelled job stops discovering.
        if RetractionJob.objects.all_tenants().filter(pk=job.pk, state=JobState.CANCELLED).exists():
            return []
        created = attempts_insert(delivery_ids, like=like)
        RetractionJob.objects.all_tenants().filter(pk=job.pk).update(
            discovered=job.discovered + len(created)
        )
        job.discovered += len(created)
    return created


def job_counts(job: RetractionJob) -> dict[str, int]:
    """Live counters: discovered, succeeded, failed, pending (queued or running), cancelled."""
    agg = (
        RetractionAttempt.objects.for_tenant(job.tenant_id)
        .filter(job=job)
        .aggregate(
            succeeded=Count("pk", filter=Q(status=AttemptStatus.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=AttemptStatus.FAILED)),
            pending=Count("pk", filter=Q(status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING])),
            cancelled=Count("pk", filter=Q(status=AttemptStatus.CANCELLED)),
        )
    )
    return {"discovered": job.discovered, **agg}


def job_cancel(*, job: RetractionJob, actor: Any, via: str = "") -> RetractionJob:
    """Cancel a job: queued attempts are cancelled, running ones finish."""
    require_role(actor, job.tenant_id, Role.ANALYST)
    with transaction.atomic():
        changed = (
            RetractionJob.objects.for_tenant(job.tenant_id)
            .filter(pk=job.pk, state__in=JOB_OPEN_STATES)
            .update(state=JobState.CANCELLED, finished_at=timezone.now())
        )
        if not changed:
            raise ValidationError({"state": [f"The job is already {job.state}."]})
        RetractionAttempt.objects.for_tenant(job.tenant_id).filter(
            job=job, status=AttemptStatus.QUEUED
        ).update(status=AttemptStatus.CANCELLED, completed_at=timezone.now())
        audit_record(
            actor=actor, action="retraction_job.cancelled", tenant=job.tenant, target=job, via=via
        )
    job.refresh_from_db()
    return job


def jobs_finish_if_done(job_ids: Iterable[int]) -> None:
    """Mark processing jobs completed once none of their attempts is queued or running."""
    for job_id in job_ids:
        still_open = RetractionAttempt.objects.all_tenants().filter(
            job_id=job_id, status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING]
        )
        if not still_open.exists():
            RetractionJob.objects.all_tenants().filter(pk=job_id, state=JobState.PROCESSING).update(
                state=JobState.COMPLETED, finished_at=timezone.now()
            )


def _finish(job: RetractionJob, state: str, error: str = "") -> None:
    RetractionJob.objects.all_tenants().filter(pk=job.pk, state__in=JOB_OPEN_STATES).update(
        state=state, error=error, finished_at=timezone.now()
    )
