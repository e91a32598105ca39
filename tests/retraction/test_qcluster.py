"""The engine with real `qcluster` processes: ORM broker and Redis broker, kill and resume."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django_q.conf import Conf

from mailboxes.access import Role
from mailboxes.models import Delivery, Mailbox, MailboxKind, Message
from mailboxes.vocabulary import Disposition, FailureReason
from retraction.models import FINISHED_STATUSES, AttemptStatus, JobState, RetractionAttempt
from retraction.services.decide import message_reclassify
from retraction.services.jobs import job_create
from retraction.services.manual import retraction_undo
from retraction.services.sweep import attempts_sweep
from retraction.tasks import dispatch_attempts
from tests.factories import grant, make_user
from tests.qcluster import QCluster
from tests.retraction.helpers import delivered, folder_of, outcomes

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["orm", "redis"])
def broker(request, monkeypatch) -> Iterator[str]:
    """Point this process's django-q2 at the broker under test; yield the REDIS_URL (or "")."""
    name = f"clawback-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(Conf, "CLUSTER_NAME", name)
    monkeypatch.setattr(Conf, "PREFIX", name)
    monkeypatch.setitem(settings.Q_CLUSTER, "name", name)
    if request.param == "orm":
        yield ""
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis at 127.0.0.1:6379 is required for the Redis broker tests")
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    yield REDIS_URL
    client.delete(name)


@pytest.fixture
def cluster(broker) -> Iterator[QCluster]:
    process = QCluster(redis_url=broker)
    process.wait_ready()
    yield process
    process.stop()


@pytest.fixture
def analyst(tenants):
    user = make_user("ana")
    grant(user, tenants.alpha, Role.ANALYST)
    grant(user, tenants.beta, Role.ANALYST)
    return user


def wait_finished(ids_or_qs, timeout: float = 60, process: QCluster | None = None) -> None:
    qs = (
        RetractionAttempt.objects.all_tenants().filter(pk__in=ids_or_qs)
        if isinstance(ids_or_qs, list)
        else ids_or_qs
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not qs.exclude(status__in=FINISHED_STATUSES).exists() and qs.exists():
            return
        time.sleep(0.2)
    detail = process.output() if process else ""
    raise AssertionError(
        f"attempts still open after {timeout}s: {list(qs.values('status'))}\n{detail}"
    )


def test_it_retracts_undoes_and_explains_failures_through_a_real_cluster(
    tenants, shared_emulator, cluster, analyst
):
    emu = shared_emulator
    phish = "<qcluster-1@evil.test>"
    emu.state.deliver("alpha", phish, ["contractor@alpha.example"], "x", "x@evil.test")
    alpha = delivered(
        emu,
        tenants.alpha,
        phish,
        ["adele@alpha.example", "sales@alpha.example", "megan@alpha.example"],
        members={"sales@alpha.example": ["alex@alpha.example"]},
    )
    Delivery.objects.create(
        tenant=tenants.alpha, message=alpha, recipient="contractor@alpha.example"
    )
    emu.state.user_delete("megan@alpha.example", phish, how="purge")
    beta = delivered(emu, tenants.beta, phish, ["diego@beta.example", "johanna@beta.example"])

    message_reclassify(actor=analyst, message=alpha, disposition=Disposition.MALICIOUS)
    message_reclassify(actor=analyst, message=beta, disposition=Disposition.SUSPICIOUS)
    wait_finished(RetractionAttempt.objects.all_tenants(), process=cluster)

    assert folder_of(emu, "adele@alpha.example", phish) == "trash"
    assert folder_of(emu, "alex@alpha.example", phish) == "trash"
    assert folder_of(emu, "diego@beta.example", phish) == "junk"
    result = outcomes(alpha)
    assert result["sales@alpha.example"] == (AttemptStatus.FAILED, FailureReason.NOT_A_MAILBOX)
    assert result["megan@alpha.example"] == (AttemptStatus.FAILED, FailureReason.NOT_FOUND)
    assert result["contractor@alpha.example"] == (
        AttemptStatus.FAILED,
        FailureReason.NOT_A_MAILBOX,
    )

    undo = retraction_undo(actor=analyst, tenant=tenants.beta, messages=[beta])
    wait_finished([a.pk for a in undo], process=cluster)
    assert folder_of(emu, "diego@beta.example", phish) == "inbox"
    assert folder_of(emu, "johanna@beta.example", phish) == "inbox"

    emu.state.revoke("beta")
    again = delivered(emu, tenants.beta, "<qcluster-2@evil.test>", ["diego@beta.example"])
    message_reclassify(actor=analyst, message=again, disposition=Disposition.MALICIOUS)
    wait_finished(RetractionAttempt.objects.filter(message=again), process=cluster)
    assert outcomes(again)["diego@beta.example"][1] == FailureReason.NOT_AUTHORIZED


def _campaign(emu, tenant, copies: int, mailboxes: int) -> list[Message]:
    """`copies` deliveries spread over `mailboxes` new mailboxes, in emulator and database."""
    addresses = [f"user{i:05d}@alpha.example" for i in range(mailboxes)]
    emu.state.add_mailboxes("alpha", [{"address": a, "kind": "user"} for a in addresses])
    Mailbox.objects.bulk_create(
        [Mailbox(tenant=tenant, address=a, kind=MailboxKind.USER) for a in addresses]
    )
    boxes = {m.address: m for m in Mailbox.objects.for_tenant(tenant).filter(address__in=addresses)}
    per_message = copies // mailboxes and mailboxes
    messages = []
    for n in range(copies // per_message):
        msgid = f"<bulk-{n}@evil.test>"
        emu.state.deliver("alpha", msgid, addresses, "Bulk", "x@evil.test")
        message = Message.objects.create(tenant=tenant, internet_message_id=msgid, subject="Bulk")
        Delivery.objects.bulk_create(
            [
                Delivery(tenant=tenant, message=message, recipient=a, mailbox=boxes[a])
                for a in addresses
            ]
        )
        messages.append(message)
    return messages


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_it_loses_nothing_and_runs_nothing_twice_when_the_cluster_is_killed_mid_job(
    tenants, shared_emulator, broker, analyst, settings
):
    emu = shared_emulator
    # Two workers share mailboxes and each keeps its own 4-per-mailbox limit; without the
    # emulator's limit no 429 muddies the count of moves below.
    emu.state.set_knobs({"latency_ms": 15, "concurrency_limit": 0})
    messages = _campaign(emu, tenants.alpha, copies=2000, mailboxes=200)
    emu.state.clear_stats()
    first = QCluster(redis_url=broker)
    first.wait_ready()
    try:
        job = job_create(
            actor=analyst,
            tenant=tenants.alpha,
            action="trash",
            message_ids=[m.pk for m in messages],
        )
        attempts = RetractionAttempt.objects.all_tenants().filter(job=job)
        deadline = time.monotonic() + 60
        # Kill once some work is done and some is in a worker's hands (a run records its
        # 500 outcomes at once: right after, both workers may be between runs).
        while (
            attempts.filter(status=AttemptStatus.SUCCEEDED).count() < 300
            or not attempts.filter(status=AttemptStatus.RUNNING).exists()
        ):
            assert time.monotonic() < deadline, first.output()
            time.sleep(0.02)
    finally:
        first.kill()
    assert attempts.count() == 2000
    interrupted = attempts.filter(status=AttemptStatus.RUNNING).count()
    assert interrupted > 0, "the kill came too late to interrupt anything"

    # The sweeper (scheduled every minute) finds the dead worker's attempts once they
    # are older than Q_TIMEOUT + Q_RETRY, when no request of the dead worker can still be
    # on its way. Here: wait until the provider has answered them all, then sweep.
    deadline = time.monotonic() + 10
    while emu.state.stats()["in_flight"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    settings.RETRACTION_STALE_AFTER = 0
    settings.RETRACTION_REDISPATCH_AFTER = 0
    second = QCluster(redis_url=broker)
    second.wait_ready()
    try:
        attempts_sweep()
        wait_finished(attempts, timeout=120, process=second)
    finally:
        second.stop()

    assert attempts.filter(status=AttemptStatus.SUCCEEDED).count() == 2000
    assert RetractionAttempt.objects.all_tenants().count() == 2000  # none created twice
    moved = emu.state.stats()["by_kind_status"].get("graph.messages.move", {})
    assert moved == {"201": 2000}  # each copy moved once: a re-run found it already in the trash
    # Only the attempts the dead worker held were run again, each exactly once more.
    assert attempts.filter(tries=2).count() == interrupted
    assert attempts.filter(tries__gt=2).count() == 0
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_it_never_runs_an_attempt_twice_with_two_clusters(
    tenants, shared_emulator, broker, analyst
):
    emu = shared_emulator
    emu.state.set_knobs({"latency_ms": 5, "concurrency_limit": 0})
    messages = _campaign(emu, tenants.alpha, copies=400, mailboxes=100)
    emu.state.clear_stats()
    clusters = [QCluster(redis_url=broker), QCluster(redis_url=broker)]
    try:
        for c in clusters:
            c.wait_ready()
        ids = list(Delivery.objects.filter(message__in=messages).values_list("pk", flat=True))
        attempts = [
            RetractionAttempt(
                tenant=tenants.alpha,
                message_id=d.message_id,
                delivery=d,
                mode="manual",
                action="junk",
            )
            for d in Delivery.objects.filter(pk__in=ids)
        ]
        created = RetractionAttempt.objects.bulk_create(attempts)
        attempt_ids = [a.pk for a in created]
        # The same work handed out three times, in chunks both clusters will race for.
        for _ in range(3):
            dispatch_attempts(attempt_ids)
        wait_finished(attempt_ids, timeout=120, process=clusters[0])
    finally:
        for c in clusters:
            c.stop()
    rows = RetractionAttempt.objects.all_tenants().filter(pk__in=attempt_ids)
    assert set(rows.values_list("tries", flat=True)) == {1}
    assert rows.filter(status=AttemptStatus.SUCCEEDED).count() == 400
    assert emu.state.stats()["by_kind_status"].get("graph.messages.move", {}) == {"201": 400}
