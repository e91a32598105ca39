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
