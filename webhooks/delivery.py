"""Sending: claim due deliveries, POST them signed in batches, record how it went.

A run claims up to CLAIM_LIMIT due deliveries with a conditional update (a lease:
`next_attempt_at` moves LEASE into the future and `claim_token` marks the run), so
two workers never send the same delivery at once; a worker that dies leaves them
due again when the lease ends (at-least-once: receivers dedupe on the event id).

Per endpoint, the run's deliveries go out in POSTs of up to BATCH_SIZE events of
one type, oldest first, one endpoint per thread (HTTP only; the database is read
and written by the calling thread). 2xx is success. Anything else (another
status, a redirect, a timeout, a refused address) fails the POST: its deliveries
are retried after RETRY_DELAYS (with jitter), and the endpoint's other batches of
the run wait for the same time instead of hammering a receiver that is down. A
delivery is given up after MAX_ATTEMPTS, or when its next try would fall more than
GIVE_UP_AFTER after the event.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mailboxes import crypto
from webhooks import signing
from webhooks.addresses import RefusedAddress, check_destination
from webhooks.models import OPEN_STATUSES, DeliveryStatus, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

CLAIM_LIMIT = 500
BATCH_SIZE = 100
LEASE = timedelta(minutes=5)
TIMEOUT = (5, 10)  # connect, read (seconds)
SENDERS = 8  # endpoints served side by side
# Wait after the n-th failed try (n = 1..9); the 10th failure gives up.
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=6),
    timedelta(hours=8),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
GIVE_UP_AFTER = timedelta(hours=24)
JITTER = (0.8, 1.2)
USER_AGENT = "Clawback-Webhooks/1"


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try, with jitter."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return base * random.uniform(*JITTER)  # noqa: S311 - spreading retries, not security


# --- Claiming ----------------------------------------------------------------------------


def deliveries_claim(now: datetime, limit: int = CLAIM_LIMIT) -> list[WebhookDelivery]:
    """Atomically take up to `limit` due deliveries for this run, oldest due first."""
    token = uuid.uuid4().hex
    deliveries = WebhookDelivery.objects.all_tenants()
    due = deliveries.filter(status__in=OPEN_STATUSES, next_attempt_at__lte=now)
    with transaction.atomic():
        # SKIP LOCKED on PostgreSQL: two runs never wait on (or deadlock over) each
        # other's rows; the conditional update makes the claim exclusive either way.
        chosen = due.select_for_update(skip_locked=True, of=("self",)).order_by(
            "next_attempt_at", "pk"
        )
        claimed = due.filter(pk__in=chosen.values("pk")[:limit]).update(
            claim_token=token, next_attempt_at=now + LEASE
        )
    if not claimed:
        return []
    return list(
        deliveries.filter(claim_token=token).select_related("endpoint", "tenant").order_by("pk")
    )


# --- Sending (no database access: runs in threads) ------------------------------------------


@dataclass
class Post:
    """One POST: deliveries of one endpoint and one event type."""

    deliveries: list[WebhookDelivery]
    ok: bool = False
    tried: bool = False
    status_code: int | None = None
    error: str = ""


@dataclass
class Target:
    endpoint_id: int
    url: str
    secret: str
    posts: list[Post] = field(default_factory=list)
    error: str = ""  # the endpoint could not be used at all (unreadable secret, ...)


def body_of(deliveries: Sequence[WebhookDelivery]) -> bytes:
    events = [{**d.payload, "delivery": d.pk} for d in deliveries]
    return json.dumps({"events": events}, separators=(",", ":"), sort_keys=True).encode()


def headers_for(secret: str, post: Post, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Clawback-Event": post.deliveries[0].event_type,
        "X-Clawback-Delivery": ",".join(str(d.pk) for d in post.deliveries),
        "X-Clawback-Timestamp": timestamp,
        "X-Clawback-Signature": signing.signature(secret, timestamp, body),
    }


def describe(exc: Exception, target: Target) -> str:
    """A short error text that names neither the secret nor the URL (it may hold a token)."""
    if isinstance(exc, requests.Timeout):
        kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
        seconds = TIMEOUT[0] if kind == "connect" else TIMEOUT[1]
        return f"timed out ({kind}, {seconds} s)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: the receiver's certificate was not accepted"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed (refused, reset or unreachable)"
    text = f"{type(exc).__name__}: {exc}"
    return _clean(text, target)


def _clean(text: str, target: Target) -> str:
    for secret in (target.secret, target.url):
        if secret:
            text = text.replace(secret, "…")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return crypto.redact(text)[:300]


def send(target: Target) -> Target:
    """POST the target's batches in order; after a failure the rest wait."""
    if target.error:
        return target
    try:
        check_destination(target.url)
    except RefusedAddress as exc:
        target.error = _clean(str(exc), target)
        return target
    with requests.Session() as session:
        session.trust_env = False  # no proxy or CA bundle from the environment
        for post in target.posts:
            post.tried = True
            body = body_of(post.deliveries)
            try:
                response = session.post(
                    target.url,
                    data=body,
                    headers=headers_for(target.secret, post, body),
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                post.error = describe(exc, target)
                return target
            except Exception as exc:  # a library bug must not lose the run's results
                log.exception("webhook endpoint %s: unexpected error", target.endpoint_id)
                post.error = describe(exc, target)
                return target
            post.status_code = response.status_code
            post.ok = 200 <= response.status_code < 300
            if not post.ok:
                snippet = response.text[:200] if response.content else ""
                post.error = _clean(f"HTTP {response.status_code} {snippet}".strip(), target)
                return target
    return target


# --- A run -----------------------------------------------------------------------------------


def targets_for(deliveries: list[WebhookDelivery]) -> tuple[list[Target], list[WebhookDelivery]]:
    """Group by endpoint, then into POSTs by event type; orphans have no endpoint left."""
    by_endpoint: dict[int, list[WebhookDelivery]] = defaultdict(list)
    orphans = []
    for delivery in deliveries:
        if delivery.endpoint_id is None:
            orphans.append(delivery)
        else:
            by_endpoint[delivery.endpoint_id].append(delivery)
    targets = []
    for rows in by_endpoint.values():
        endpoint = rows[0].endpoint
        target = Target(endpoint_id=endpoint.pk, url=endpoint.url, secret="")
        try:
            target.secret = endpoint.get_secret()
        except (crypto.CredentialsUnreadable, KeyError):
            target.error = "the signing secret cannot be decrypted with the configured keys"
        by_type: dict[str, list[WebhookDelivery]] = defaultdict(list)
        for delivery in rows:
            by_type[delivery.event_type].append(delivery)
        for group in sorted(by_type.values(), key=lambda g: g[0].pk):
            for start in range(0, len(group), BATCH_SIZE):
                target.posts.append(Post(deliveries=group[start : start + BATCH_SIZE]))
        targets.append(target)
    return targets, orphans


def deliveries_send_due(now: datetime | None = None) -> int:
    """One run: claim, send, record. Returns how many deliveries it claimed."""
    now = now or timezone.now()
    claimed = deliveries_claim(now)
    if not claimed:
        return 0
    targets, orphans = targets_for(claimed)
    if targets:
        with ThreadPoolExecutor(max_workers=min(len(targets), SENDERS)) as pool:
            targets = list(pool.map(send, targets))
    with transaction.atomic():
        for target in targets:
            _record(target, now)
        if orphans:
            _give_up([d.pk for d in orphans], "the endpoint was deleted")
    return len(claimed)


def _record(target: Target, now: datetime) -> None:
    done = timezone.now()
    rows = WebhookDelivery.objects.all_tenants()
    endpoints = WebhookEndpoint.objects.all_tenants().filter(pk=target.endpoint_id)
    succeeded = [d.pk for p in target.posts if p.ok for d in p.deliveries]
    if succeeded:
        rows.filter(pk__in=succeeded).update(
            status=DeliveryStatus.SUCCEEDED,
            attempts=F("attempts") + 1,
            next_attempt_at=None,
            delivered_at=done,
            last_error="",
            last_status_code=next(p.status_code for p in target.posts if p.ok),
        )
    failed = next((p for p in target.posts if p.tried and not p.ok), None)
    if failed is None and target.error:
        # Nothing could be tried: count it against the first batch, like a failed POST.
        failed = target.posts[0]
        failed.error = target.error
    retry_at = None
    if failed is not None:
        retry_at = _fail(failed, done)
        endpoints.filter(failing_since__isnull=True).update(failing_since=done)
        log.warning("webhook endpoint %s failed: %s", target.endpoint_id, failed.error)
    elif succeeded:
        endpoints.update(last_success_at=done, failing_since=None)
    # Batches after a failure were not tried: they wait for the same time, uncounted.
    waiting = [d for p in target.posts if not p.tried and p is not failed for d in p.deliveries]
    if waiting:
        resume = retry_at or now
        too_old = {d.pk for d in waiting if resume - d.created_at > GIVE_UP_AFTER}
        if too_old:
            _give_up(list(too_old), f"not sent within 24 hours: {failed.error}")
        rest = [d.pk for d in waiting if d.pk not in too_old]
        if rest:
            rows.filter(pk__in=rest).update(next_attempt_at=resume)


def _fail(post: Post, done: datetime) -> datetime:
    """Count a failed try on the POST's deliveries; returns when they are tried again."""
    attempts = max(d.attempts for d in post.deliveries) + 1
    retry_at = done + retry_delay(attempts)
    give_up = {
        d.pk
        for d in post.deliveries
        if d.attempts + 1 >= MAX_ATTEMPTS or retry_at - d.created_at > GIVE_UP_AFTER
    }
    retry = [d.pk for d in post.deliveries if d.pk not in give_up]
    rows = WebhookDelivery.objects.all_tenants()
    common = {
        "attempts": F("attempts") + 1,
        "last_status_code": post.status_code,
        "last_error": post.error[:300],
    }
    if retry:
        rows.filter(pk__in=retry).update(
            status=DeliveryStatus.FAILED, next_attempt_at=retry_at, **common
        )
    if give_up:
        rows.filter(pk__in=give_up).update(
            status=DeliveryStatus.GAVE_UP, next_attempt_at=None, **common
        )
    return retry_at


def _give_up(pks: list[int], why: str) -> None:
    WebhookDelivery.objects.all_tenants().filter(pk__in=pks, status__in=OPEN_STATUSES).update(
        status=DeliveryStatus.GAVE_UP, next_attempt_at=None, last_error=why[:300]
    )
