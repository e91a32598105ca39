"""Events reach a real receiver on 127.0.0.1: signed, retried with backoff, given up, logged."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.access import Role
from mailboxes.vocabulary import Disposition, FailureReason, PolicyAction
from retraction.models import AttemptStatus, RetractionAttempt, RetractionPolicy
from retraction.services.decide import message_reclassify
from retraction.services.policies import policy_update
from tests.factories import grant, make_tenant, make_user
from tests.retraction.helpers import delivered
from tests.webhooks.factories import make_endpoint
from webhooks import delivery as sender
from webhooks import events, signing, tasks
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import webhook_create, webhook_ping

pytestmark = pytest.mark.django_db

PHISH = "<webhook-campaign@evil.test>"


@pytest.fixture
def debug(settings):
    """The demo's rules: a receiver on 127.0.0.1 over plain HTTP is allowed."""
    settings.DEMO = True


@pytest.fixture
def tenant(debug):
    return make_tenant("Contoso", domains=["contoso.example"])


@pytest.fixture
def admin_user(tenant):
    user = make_user("adm")
    grant(user, tenant, Role.ADMIN)
    return user


def create(capture, admin_user, tenant, siem, **fields):
    with capture(execute=True):
        return webhook_create(
            tenant=tenant, actor=admin_user, name="SOC", url=siem.url, via="test", **fields
        )


def verify_like_the_readme(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's recipe from webhooks/README.md, written out with hashlib/hmac only."""
    timestamp = headers["X-Clawback-Timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(f"sha256={expected.hexdigest()}", headers["X-Clawback-Signature"])


def test_it_posts_audit_events_signed_with_the_endpoints_secret(
    siem, sync_queue, tenant, admin_user, django_capture_on_commit_callbacks
):
    endpoint, secret = create(django_capture_on_commit_callbacks, admin_user, tenant, siem)
    policy = RetractionPolicy.objects.get(tenant=tenant, disposition=Disposition.BULK)
    with django_capture_on_commit_callbacks(execute=True):
        policy_update(policy=policy, actor=admin_user, action=PolicyAction.JUNK, via="test")

    assert [post.headers["X-Clawback-Event"] for post in siem.received] == [
        "webhook.created",
        "policy.updated",
    ]
    post = siem.received[1]
    assert verify_like_the_readme(secret, post.headers, post.body)
    assert signing.verify(
        secret,
        timestamp=post.headers["X-Clawback-Timestamp"],
        body=post.body,
        header=post.headers["X-Clawback-Signature"],
    )
    assert not verify_like_the_readme("whsec_wrong", post.headers, post.body)
    assert not verify_like_the_readme(secret, post.headers, post.body + b" ")
    (event,) = post.events
    row = WebhookDelivery.objects.get(event_type="policy.updated")
    assert post.headers["X-Clawback-Delivery"] == str(row.pk)
    assert post.headers["Content-Type"] == "application/json"
    assert event["id"] == str(row.event_id) and event["delivery"] == row.pk
    assert event["type"] == "policy.updated"
    assert event["tenant"] == {"id": tenant.pk, "slug": "contoso", "name": "Contoso"}
    assert event["occurred_at"].endswith("Z")
    data = event["data"]
    assert (data["actor"], data["action"], data["via"]) == ("adm", "policy.updated", "test")
    assert data["target"]["type"] == "retraction.retractionpolicy"
    assert data["details"]["after"] == {"action": "junk", "enabled": True}
    assert secret not in post.body.decode()
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None and endpoint.failing_since is None


def test_it_streams_every_finished_retraction_attempt(
    siem, sync_queue, tenants, shared_emulator, django_capture_on_commit_callbacks, settings
):
    settings.DEMO = True
    analyst = make_user("ana")
    grant(analyst, tenants.alpha, Role.ANALYST)
    make_endpoint(tenants.alpha, siem.url, event_types=["retraction.*"])
    make_endpoint(tenants.beta, siem.url, name="beta siem", enabled=False)
    message = delivered(
        shared_emulator,
        tenants.alpha,
        PHISH,
        ["adele@alpha.example", "sales@alpha.example"],
        members={"sales@alpha.example": ["alex@alpha.example", "megan@alpha.example"]},
    )
    shared_emulator.state.mark_read("alex@alpha.example", PHISH, True)

    with django_capture_on_commit_callbacks(execute=True):
        message_reclassify(
            actor=analyst, message=message, disposition=Disposition.MALICIOUS, via="test"
        )

    finished = [e for e in siem.events() if e["type"] == events.ATTEMPT_FINISHED]
    assert {e["type"] for e in siem.events()} == {events.ATTEMPT_FINISHED}  # the filter
    by_recipient = {e["data"]["recipient"]: e["data"] for e in finished}
    assert sorted(by_recipient) == [
        "adele@alpha.example",
        "alex@alpha.example",
        "megan@alpha.example",
        "sales@alpha.example",
    ]
    assert len(finished) == 4
    alex = by_recipient["alex@alpha.example"]
    assert (alex["status"], alex["action"], alex["mode"]) == (
        AttemptStatus.SUCCEEDED,
        "trash",
        "auto",
    )
    assert (alex["read_state"], alex["was_read"], alex["reason"]) == ("read", True, "")
    assert alex["internet_message_id"] == PHISH and alex["message_id"] == message.pk
    assert alex["timings"]["completed_at"].endswith("Z")
    assert alex["timings"]["seconds_requested_to_completed"] >= 0
    assert by_recipient["adele@alpha.example"]["was_read"] is False
    sales = by_recipient["sales@alpha.example"]
    assert (sales["status"], sales["reason"]) == (AttemptStatus.FAILED, FailureReason.NOT_A_MAILBOX)
    assert all(e["tenant"]["slug"] == "alpha" for e in finished)
    rows = WebhookDelivery.objects.for_tenant(tenants.alpha)
    assert rows.count() == 4 and set(rows.values_list("status", flat=True)) == {"succeeded"}
    assert not WebhookDelivery.objects.for_tenant(tenants.beta).exists()


def test_it_retries_after_a_server_error_and_then_succeeds(
    siem, sync_queue, tenant, admin_user, django_capture_on_commit_callbacks
):
    endpoint, _ = create(
        django_capture_on_commit_callbacks, admin_user, tenant, siem, event_types=["none.*"]
    )
    siem.statuses = [500]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        ping = webhook_ping(endpoint=endpoint, actor=admin_user, via="test")

    ping.refresh_from_db()
    assert (ping.status, ping.attempts, ping.last_status_code) == ("failed", 1, 500)
    assert "HTTP 500 collector unavailable" in ping.last_error
    wait = ping.next_attempt_at - before
    assert timedelta(seconds=24) <= wait <= timedelta(seconds=37)  # 30 s ± 20 % jitter
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None

    assert sender.deliveries_send_due() == 0  # not due yet
    assert sender.deliveries_send_due(now=ping.next_attempt_at) == 1

    ping.refresh_from_db()
    assert (ping.status, ping.attempts, ping.last_status_code) == ("succeeded", 2, 200)
    assert ping.delivered_at is not None and ping.next_attempt_at is None
    assert [p.headers["X-Clawback-Event"] for p in siem.received] == ["webhook.ping"] * 2
    assert siem.received[0].events[0]["id"] == siem.received[1].events[0]["id"]  # same event
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at is not None


def test_it_backs_off_then_gives_up_when_the_receiver_always_fails(
    siem, sync_queue, tenant, admin_user, django_capture_on_commit_callbacks
):
    endpoint, _ = create(
        django_capture_on_commit_callbacks, admin_user, tenant, siem, event_types=["none.*"]
    )
    siem.default = 503
    with django_capture_on_commit_callbacks(execute=True):
        ping = webhook_ping(endpoint=endpoint, actor=admin_user, via="test")
    waits = []
    for _ in range(20):
        ping.refresh_from_db()
        if ping.status == DeliveryStatus.GAVE_UP:
            break
        waits.append(ping.next_attempt_at - timezone.now())
        sender.deliveries_send_due(now=ping.next_attempt_at)

    assert (ping.status, ping.attempts) == (DeliveryStatus.GAVE_UP, sender.MAX_ATTEMPTS)
    assert ping.next_attempt_at is None and ping.last_status_code == 503
    assert len(siem.received) == sender.MAX_ATTEMPTS == 10
    for wait, base in zip(waits, sender.RETRY_DELAYS, strict=True):
        assert base * 0.75 <= wait <= base * 1.25, (wait, base)
    assert sender.deliveries_send_due(now=timezone.now() + timedelta(days=2)) == 0


def test_it_gives_up_when_the_next_try_would_be_a_day_after_the_event(siem, tenant, debug):
    endpoint = make_endpoint(tenant, siem.url)
    siem.default = 500
    old = WebhookDelivery.objects.create(
        tenant=tenant,
        endpoint=endpoint,
        event_id="2f1c2b9e-8c57-4a8a-9bd7-d0c7a1f1f001",
        event_type="webhook.ping",
        payload={"id": "2f1c2b9e-8c57-4a8a-9bd7-d0c7a1f1f001", "type": "webhook.ping"},
        status=DeliveryStatus.FAILED,
        attempts=7,
        next_attempt_at=timezone.now(),
        created_at=timezone.now() - timedelta(hours=23),
    )
    assert sender.deliveries_send_due() == 1
    old.refresh_from_db()
    assert (old.status, old.attempts) == (DeliveryStatus.GAVE_UP, 8)


def test_it_counts_a_timeout_as_a_failed_try(siem, tenant, debug, monkeypatch):
    monkeypatch.setattr(sender, "TIMEOUT", (2, 0.5))
    endpoint = make_endpoint(tenant, siem.url)
    siem.hang = True
    delivery = events.ping(endpoint, actor_label="test")

    assert sender.deliveries_send_due() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_status_code is None
    assert delivery.last_error == "timed out (read, 0.5 s)"
    assert siem.url not in delivery.last_error


def test_it_reports_a_refused_connection_without_the_url(tenant, debug):
    # A port nobody listens on: bind one, close it.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = make_endpoint(tenant, f"http://127.0.0.1:{port}/hook?token=s3cr3t-token")
    delivery = events.ping(endpoint, actor_label="test")
    sender.deliveries_send_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "connection failed (refused, reset or unreachable)"


def test_it_claims_a_delivery_for_one_run_only(tenant):
    endpoint = make_endpoint(tenant)
    delivery = events.ping(endpoint, actor_label="test")
    now = timezone.now()

    first = sender.deliveries_claim(now)
    second = sender.deliveries_claim(now)

    assert [d.pk for d in first] == [delivery.pk]
    assert second == []
    # A run that died leaves it due again once the lease is over.
    again = sender.deliveries_claim(now + sender.LEASE + timedelta(seconds=1))
    assert [d.pk for d in again] == [delivery.pk]


def test_it_batches_a_burst_of_events_per_endpoint(siem, tenant, debug):
    endpoint = make_endpoint(tenant, siem.url)
    for _ in range(sender.BATCH_SIZE + 5):
        events.ping(endpoint, actor_label="test")

    assert sender.deliveries_send_due() == sender.BATCH_SIZE + 5

    assert [len(p.events) for p in siem.received] == [sender.BATCH_SIZE, 5]
    ids = [int(i) for p in siem.received for i in p.headers["X-Clawback-Delivery"].split(",")]
    assert ids == sorted(ids) and len(set(ids)) == sender.BATCH_SIZE + 5
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_it_sends_nothing_to_a_refused_address(tenant, settings):
    settings.DEMO = False  # production rules: no loopback
    endpoint = make_endpoint(tenant, "http://127.0.0.1:9/hook")
    delivery = events.ping(endpoint, actor_label="test")
    sender.deliveries_send_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "loopback" in delivery.last_error


def test_it_costs_no_query_when_no_tenant_has_a_webhook(tenant):
    other = make_tenant("Fabrikam", domains=["fabrikam.example"])
    attempts = [RetractionAttempt(tenant=tenant) for _ in range(500)]
    events.attempts_finished(attempts)  # fills the cache
    with CaptureQueriesContext(connection) as nobody:
        assert events.attempts_finished(attempts) == 0
    assert len(nobody) == 0
    make_endpoint(other, enabled=True)  # someone else's webhook
    events.attempts_finished(attempts)
    with CaptureQueriesContext(connection) as elsewhere:
        assert events.attempts_finished(attempts) == 0
    assert len(elsewhere) == 0


def test_it_sends_disabled_endpoints_nothing_but_pings(siem, tenant, admin_user, debug):
    endpoint = make_endpoint(tenant, siem.url, enabled=False)
    policy = RetractionPolicy.objects.get(tenant=tenant, disposition=Disposition.BULK)
    policy_update(policy=policy, actor=admin_user, action=PolicyAction.JUNK)
    assert not WebhookDelivery.objects.exists()
    webhook_ping(endpoint=endpoint, actor=admin_user)
    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["webhook.ping"]


def test_it_never_breaks_the_callers_write_when_an_event_cannot_be_built(tenant, caplog):
    make_endpoint(tenant)
    broken = RetractionAttempt(tenant=tenant)  # no message or delivery to describe

    assert events.attempts_finished([broken]) == 0

    assert "webhook events could not be queued" in caplog.text
    assert not WebhookDelivery.objects.exists()
    assert RetractionPolicy.objects.for_tenant(tenant).count() == 5  # the connection still works


def test_it_schedules_the_sender_every_minute_for_retries(siem, tenant, debug):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="Webhook deliveries")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "webhooks.tasks.deliver_due",
        Schedule.MINUTES,
        1,
    )
    endpoint = make_endpoint(tenant, siem.url)
    due = events.ping(endpoint, actor_label="test")
    WebhookDelivery.objects.filter(pk=due.pk).update(status="failed", attempts=3)

    assert tasks.deliver_due() == 1

    due.refresh_from_db()
    assert (due.status, due.attempts) == ("succeeded", 4)
