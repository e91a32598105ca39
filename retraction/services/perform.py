"""Performing: claim queued attempts, run them through the provider layer, record outcomes."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Field, Model, QuerySet
from django.utils import timezone

from mailboxes.models import (
    AuthorizationStatus,
    Delivery,
    DeliveryStatus,
    MailboxKind,
    Message,
    Tenant,
)
from mailboxes.providers import provider_for
from mailboxes.providers.base import ACTION_TARGET_FOLDER, Outcome, ProviderError, WorkItem
from mailboxes.vocabulary import Action, FailureReason, ReadState
from retraction.models import AttemptStatus, RetractionAttempt
from webhooks.events import attempts_finished

log = logging.getLogger(__name__)

# After a tenant's authorization failed, its attempts fail fast (no provider call)
# for this long; then one real try finds out whether consent was restored.
UNAUTHORIZED_BACKOFF = timedelta(minutes=5)


# Besides the ids it was handed, a run takes other queued attempts that are not part
# of a job (jobs come in chunks already grouped by mailbox, see tasks.dispatch_attempts;
# verdicts and requests arrive one message at a time). Claims stay conditional, so
# nothing runs twice; the tasks that carried them find nothing left to claim.
# - When it holds fewer than a chunk, the oldest queued attempts up to a chunk: a
#   burst of single-copy verdicts is performed together, not one task after another.
# - Then the queued copies in the mailboxes it is about to visit: all of a mailbox's
#   copies share one look-up round and one move round, instead of a task each (and
#   two workers never split a mailbox's 4 concurrent requests between them).
# A mailbox's extra copies ride in the same $batch calls (10 copies in a mailbox cost
# 3-4 calls instead of 2), so CLAIM_LIMIT attempts spread 10 to a mailbox cost about
# as many calls as a chunk of 500 single copies: a run stays well inside Q_CLUSTER's
# timeout, and a big campaign still gives every worker a run.
CLAIM_TOP_UP = 500
CLAIM_LIMIT = 2_500


def attempts_claim(attempt_ids: Sequence[int]) -> list[RetractionAttempt]:
    """Atomically take queued attempts for this run; nobody else can take them after."""
    token = uuid.uuid4().hex
    values = {
        "status": AttemptStatus.RUNNING,
        "claim_token": token,
        "started_at": timezone.now(),
        "tries": F("tries") + 1,
    }
    attempts = RetractionAttempt.objects.all_tenants()
    queued = attempts.filter(status=AttemptStatus.QUEUED)
    mine = attempts.filter(claim_token=token)
    gather = queued.filter(job__isnull=True)
    with transaction.atomic():  # one write transaction for the three claims
        claimed = queued.filter(pk__in=list(attempt_ids)).update(**values)
        # Also when an earlier run took all of this task's attempts: the attempts queued
        # since then would otherwise wait for their own tasks, behind this one in the queue.
        if claimed < CLAIM_TOP_UP:
            claimed += _claim_more(gather, CLAIM_TOP_UP - claimed, values)
        if claimed:
            # The mailboxes as literal lists: PostgreSQL ran the same filter written as
            # subqueries on the claim token once per queued row (seconds per run).
            visiting = set(mine.values_list("tenant_id", "delivery__recipient"))
            same_mailboxes = gather.filter(
                tenant_id__in={tenant for tenant, _ in visiting},
                delivery__recipient__in={recipient for _, recipient in visiting},
            )
            claimed += _claim_more(same_mailboxes, CLAIM_LIMIT - claimed, values)
    if not claimed:
        return []
    attempts = list(mine.select_related("delivery", "delivery__mailbox").order_by("pk"))
    # A campaign is one message and one tenant for hundreds of copies: load each once,
    # not a joined copy per row.
    _attach(attempts, "message", Message.objects.all_tenants())
    _attach(attempts, "tenant", Tenant.objects.all())
    return attempts


def _attach(attempts: list[RetractionAttempt], name: str, queryset: QuerySet) -> None:
    """Set each attempt's `name` relation from one query for the distinct ids."""
    attname = RetractionAttempt._meta.get_field(name).attname
    found = queryset.in_bulk({getattr(a, attname) for a in attempts})
    for attempt in attempts:
        setattr(attempt, name, found[getattr(attempt, attname)])


def _claim_more(candidates: QuerySet, limit: int, values: dict) -> int:
    """Claim up to `limit` of `candidates`, oldest first, skipping rows others are claiming.

    Runs inside the caller's transaction. SKIP LOCKED on PostgreSQL: two runs gathering
    never wait on (or deadlock over) each other's rows; SQLite has one writer anyway.
    """
    if limit <= 0:
        return 0
    chosen = candidates.select_for_update(skip_locked=True, of=("self",)).order_by("pk")
    return (
        RetractionAttempt.objects.all_tenants()
        .filter(pk__in=chosen.values("pk")[:limit], status=AttemptStatus.QUEUED)
        .update(**values)
    )


def attempts_perform(attempt_ids: Sequence[int]) -> int:
    """Claim and perform attempts, grouped per tenant, tenants concurrently."""
    attempts = attempts_claim(attempt_ids)
    if not attempts:
        return 0
    by_tenant: dict[int, list[RetractionAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_tenant[attempt.tenant_id].append(attempt)
    groups = list(by_tenant.values())
    workers = min(len(groups), settings.RETRACTION_TENANT_CONCURRENCY)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(_run_tenant, groups))
    for group, outcomes in zip(groups, results, strict=True):
        _record(group, outcomes)
    return len(attempts)


def _run_tenant(attempts: list[RetractionAttempt]) -> list[Outcome]:
    """Provider calls for one tenant's attempts (no database access: runs in a thread)."""
    tenant = attempts[0].tenant
    outcomes: dict[int, Outcome] = {}
    items: list[WorkItem] = []
    for attempt in attempts:
        early = _outcome_without_provider(tenant, attempt)
        if early is not None:
            outcomes[attempt.pk] = early
        else:
            items.append(
                WorkItem(
                    mailbox=attempt.delivery.recipient,
                    internet_message_id=attempt.message.internet_message_id,
                    action=Action(attempt.action),
                    key=attempt.pk,
                )
            )
    if items:
        try:
            provider = provider_for(tenant)
            results = provider.perform_many(items)
        except ProviderError as exc:
            results = [
                Outcome(key=i.key, ok=False, reason=exc.reason, detail=exc.detail) for i in items
            ]
        except Exception as exc:  # a bug or an unexpected library error: record, don't lose
            log.exception("retraction for tenant %s failed", tenant.pk)
            detail = f"{type(exc).__name__}: {exc}"
            results = [
                Outcome(key=i.key, ok=False, reason=FailureReason.PROVIDER_ERROR, detail=detail)
                for i in items
            ]
        outcomes.update({o.key: o for o in results})
    return [outcomes[a.pk] for a in attempts]


def _outcome_without_provider(tenant: Tenant, attempt: RetractionAttempt) -> Outcome | None:
    """Decide the attempts that need no provider call."""
    mailbox = attempt.delivery.mailbox
    if mailbox is not None and mailbox.kind == MailboxKind.GROUP:
        return Outcome(
            key=attempt.pk,
            ok=False,
            reason=FailureReason.NOT_A_MAILBOX,
            detail="Distribution list: its members' copies are retracted separately.",
        )
    if not attempt.message.internet_message_id:
        return Outcome(
            key=attempt.pk,
            ok=False,
            reason=FailureReason.NOT_FOUND,
            detail=attempt.message.not_retractable_reason,
        )
    checked = tenant.authorization_checked_at
    if (
        tenant.authorization_status == AuthorizationStatus.UNAUTHORIZED
        and checked is not None
        and timezone.now() - checked < UNAUTHORIZED_BACKOFF
    ):
        return Outcome(
            key=attempt.pk,
            ok=False,
            reason=FailureReason.NOT_AUTHORIZED,
            detail=f"Tenant not authorized: {tenant.authorization_error}"[:500],
        )
    return None


def _user_got_there_first(attempt: RetractionAttempt, outcome: Outcome) -> bool:
    """The copy was already out of sight, put further away by the user or a mailbox rule.

    The clients report such a copy as left alone ("already there"); it is only a
    success when it sits exactly where the action would put it, or Clawback
    itself moved it there before. Otherwise the user deleted or junked it first:
    not_found, as DESIGN.md defines it.
    """
    if not (outcome.ok and outcome.already_there) or attempt.action in (
        Action.INBOX,
        Action.HARD_DELETE,
    ):
        return False
    target = ACTION_TARGET_FOLDER[Action(attempt.action)]
    return (
        outcome.folder_before not in ("", target)
        and attempt.delivery.status != DeliveryStatus.RETRACTED
    )


def _record(attempts: list[RetractionAttempt], outcomes: Iterable[Outcome]) -> None:
    now = timezone.now()
    deliveries: list[Delivery] = []
    unauthorized: Outcome | None = None
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        if _user_got_there_first(attempt, outcome):
            outcome.ok = False
            outcome.reason = FailureReason.NOT_FOUND
            outcome.detail = (
                "Already moved out of the inbox by the user or a rule "
                f"(in {outcome.folder_before})."
            )
        attempt.status = AttemptStatus.SUCCEEDED if outcome.ok else AttemptStatus.FAILED
        attempt.reason = "" if outcome.ok else (outcome.reason or FailureReason.PROVIDER_ERROR)
        attempt.read_state = outcome.read_state or ReadState.UNKNOWN
        attempt.provider_message_id = outcome.provider_message_id or ""
        attempt.detail = (outcome.detail or ("already there" if outcome.already_there else ""))[
            :2000
        ]
        attempt.completed_at = now
        delivery = attempt.delivery
        if outcome.ok:
            delivery.status = (
                DeliveryStatus.RESTORED
                if attempt.action == Action.INBOX
                else DeliveryStatus.RETRACTED
            )
            if outcome.provider_message_id:
                delivery.provider_message_id = outcome.provider_message_id
        else:
            delivery.status = DeliveryStatus.FAILED
            if (
                outcome.reason == FailureReason.NOT_AUTHORIZED
                and outcome.detail
                and not (outcome.detail.startswith("Tenant not authorized"))
            ):
                unauthorized = outcome
        deliveries.append(delivery)
    with transaction.atomic():
        _update_rows(
            RetractionAttempt,
            attempts,
            ["status", "reason", "read_state", "provider_message_id", "detail", "completed_at"],
        )
        _update_rows(Delivery, deliveries, ["status", "provider_message_id"])
        attempts_finished(attempts)  # webhooks: no query unless a tenant has one
        tenant = attempts[0].tenant
        if unauthorized is not None:
            Tenant.objects.filter(pk=tenant.pk).update(
                authorization_status=AuthorizationStatus.UNAUTHORIZED,
                authorization_checked_at=now,
                authorization_error=unauthorized.detail[:2000],
            )
        from retraction.services.jobs import jobs_finish_if_done

        jobs_finish_if_done({a.job_id for a in attempts if a.job_id})
        lists = [a.pk for a in attempts if a.reason == FailureReason.NOT_A_MAILBOX]
        if lists:
            from retraction.tasks import dispatch_group_expansion

            transaction.on_commit(lambda: dispatch_group_expansion(lists))


def _update_rows(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Save `fields` of every object: one prepared UPDATE ... WHERE pk, run per row.

    QuerySet.bulk_update builds a CASE WHEN per field and row; for a chunk of 500
    attempts that expression building cost more CPU than the provider calls (py-spy:
    most of a worker's time in a campaign). executemany keeps it to one statement.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    where = f"{quote(meta.pk.column)} = %s"
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608 - names from the model
    # Most values repeat (statuses, the completion time, empty strings): each distinct
    # value is prepared for the database once (preparing them all cost a fifth of a
    # worker's CPU in a campaign).
    prepared: list[dict[Any, Any]] = [{} for _ in columns]
    textual = [f.get_internal_type() in ("CharField", "TextField") for f in columns]

    def prepare(n: int, field: Field, value: Any) -> Any:
        if textual[n] and isinstance(value, str):
            return value  # what get_db_prep_save returns for a str, without the calls
        try:
            return prepared[n][value]
        except KeyError:
            result = prepared[n][value] = field.get_db_prep_save(value, connection)
            return result
        except TypeError:  # unhashable
            return field.get_db_prep_save(value, connection)

    rows = [
        [prepare(n, f, getattr(obj, f.attname)) for n, f in enumerate(columns)] + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
