"""Handing queued attempts to django-q2: once per transaction, on its commit, never lost."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from mailboxes.ingest.service import ingest_verdicts
from mailboxes.vocabulary import Disposition
from retraction.models import AttemptStatus, RetractionAttempt
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def verdicts(tenant, count: int, disposition: str = Disposition.MALICIOUS, tag: str = "m"):
    domain = tenant.domains[0]
    return [
        {
            "tenant": tenant.pk,
            "internet_message_id": f"<{tag}-{n}@evil.example>",
            "recipients": [f"user{n}@{domain}", f"user{n + 1}@{domain}"],
            "disposition": disposition,
        }
        for n in range(count)
    ]


def dispatched_ids() -> list[int]:
    """The attempt ids in the perform tasks waiting in the ORM broker's queue."""
    ids = []
    for row in OrmQ.objects.all():
        task = SignedPackage.loads(row.payload)
        assert task["func"] == "retraction.tasks.perform_attempts"
        ids += task["args"][0]
    return ids


@pytest.fixture
def tenant(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    return make_tenant("Acme", domains=["acme.example"])


@pytest.fixture
def root():
    return make_user("root", superuser=True)


def test_a_verdict_list_is_dispatched_as_one_task_after_the_commit(tenant, root):
    report = ingest_verdicts(actor=root, payload=verdicts(tenant, 40))

    assert all(r.status == "created" for r in report.results)
    queued = RetractionAttempt.objects.all_tenants().filter(status=AttemptStatus.QUEUED)
    assert queued.count() == 80
    assert OrmQ.objects.count() == 1  # not 40 tasks, one per message
    assert sorted(dispatched_ids()) == sorted(queued.values_list("pk", flat=True))


def test_a_rolled_back_transaction_dispatches_nothing_and_the_next_one_everything(tenant, root):
    with pytest.raises(RuntimeError), transaction.atomic():
        ingest_verdicts(actor=root, payload=verdicts(tenant, 3, tag="lost"))
        raise RuntimeError("the caller fails after queuing")

    assert RetractionAttempt.objects.all_tenants().count() == 0
    assert OrmQ.objects.count() == 0

    ingest_verdicts(actor=root, payload=verdicts(tenant, 3, tag="kept"))

    kept = RetractionAttempt.objects.all_tenants().values_list("pk", flat=True)
    assert len(kept) == 6
    assert sorted(dispatched_ids()) == sorted(kept)


def test_separate_transactions_dispatch_separately(tenant, root):
    ingest_verdicts(actor=root, payload=verdicts(tenant, 1, tag="first"))
    ingest_verdicts(actor=root, payload=verdicts(tenant, 1, tag="second"))

    assert OrmQ.objects.count() == 2
    assert len(dispatched_ids()) == 4


def test_attempts_insert_copies_the_template_for_its_own_tenants_deliveries_only(tenant, root):
    from django.utils import timezone

    from mailboxes.models import Delivery
    from mailboxes.vocabulary import Action
    from retraction.models import Mode
    from retraction.services.decide import attempts_insert

    other = make_tenant("Other", domains=["other.example"])
    ingest_verdicts(actor=root, payload=verdicts(tenant, 2, Disposition.NONE, tag="mine"))
    ingest_verdicts(actor=root, payload=verdicts(other, 1, Disposition.NONE, tag="theirs"))
    deliveries = list(Delivery.objects.all_tenants().values_list("pk", "tenant_id", "message_id"))
    like = RetractionAttempt(
        tenant_id=tenant.pk,
        mode=Mode.MANUAL,
        action=Action.JUNK,
        requested_by=root,
        requested_at=timezone.now(),
    )

    ids = attempts_insert([pk for pk, _, _ in deliveries], like=like)

    created = RetractionAttempt.objects.all_tenants().filter(pk__in=ids)
    mine = {(pk, message) for pk, owner, message in deliveries if owner == tenant.pk}
    assert {(a.delivery_id, a.message_id) for a in created} == mine  # not the other tenant's
    assert {(a.tenant_id, a.mode, a.action, a.status, a.requested_by_id) for a in created} == {
        (tenant.pk, Mode.MANUAL, Action.JUNK, AttemptStatus.QUEUED, root.pk)
    }
