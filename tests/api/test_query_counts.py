"""List endpoints cost the same number of queries for 2 rows as for 6 (no N+1)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.access import Role
from mailboxes.audit import audit_record
from mailboxes.models import DeliveryStatus, DispositionChange, MailboxKind
from retraction.models import AttemptStatus, Mode, RetractionAttempt, RetractionJob
from tests.api.helpers import ApiTestCase, Route, api_routes
from tests.api.test_isolation import EXPORTS, SUMMARIES
from tests.factories import grant, make_group, make_mailbox, make_message, make_tenant
from tests.webhooks.factories import make_delivery, make_endpoint

_seq = itertools.count(1)


def add_tenant(case: ApiTestCase) -> None:
    n = next(_seq)
    tenant = make_tenant(f"Extra {n}", domains=[f"extra{n}.example"])
    grant(case.alice, tenant, Role.VIEWER)
    make_group(tenant, "all", [make_mailbox(tenant, "u1"), make_mailbox(tenant, "u2")])


def add_mailbox(case: ApiTestCase) -> None:
    n = next(_seq)
    members = [make_mailbox(case.alpha, f"m{n}-{i}") for i in range(3)]
    make_group(case.alpha, f"list{n}", members)


def add_message(case: ApiTestCase) -> None:
    n = next(_seq)
    shared = make_mailbox(case.alpha, f"s{n}", MailboxKind.SHARED)
    group = case.alpha_objects["group"]
    message = make_message(case.alpha, [shared, (case.alpha_objects["mailbox"], group)])
    message.deliveries.filter(mailbox=shared).update(status=DeliveryStatus.RETRACTED)
    DispositionChange.objects.create(
        tenant=case.alpha,
        message=message,
        previous="NONE",
        disposition="MALICIOUS",
        changed_by=case.bob,
        source="api",
    )
    add_attempts(case, message)


def add_attempts(case: ApiTestCase, message: Any = None) -> None:
    message = message or case.alpha_objects["message"]
    for delivery in message.deliveries.all():
        RetractionAttempt.objects.create(
            tenant=case.alpha,
            message=message,
            delivery=delivery,
            mode=Mode.MANUAL,
            action="junk",
            status=AttemptStatus.SUCCEEDED,
            requested_by=case.bob,
            completed_at=timezone.now(),
        )


def add_job(case: ApiTestCase) -> None:
    message = make_message(
        case.alpha, [case.alpha_objects["mailbox"], case.alpha_objects["shared"]]
    )
    job = RetractionJob.objects.create(
        tenant=case.alpha, action="trash", message_ids=[message.pk], requested_by=case.bob
    )
    for delivery, status in zip(
        message.deliveries.all(), [AttemptStatus.SUCCEEDED, AttemptStatus.QUEUED], strict=True
    ):
        RetractionAttempt.objects.create(
            tenant=case.alpha,
            message=message,
            delivery=delivery,
            job=job,
            mode=Mode.MANUAL,
            action="trash",
            status=status,
            requested_by=case.bob,
        )


def add_audit_event(case: ApiTestCase) -> None:
    audit_record(actor=case.bob, action="test.grown", tenant=case.alpha, target=case.alpha)


def add_webhook(case: ApiTestCase) -> None:
    make_endpoint(case.alpha, name=f"siem {next(_seq)}", enabled=False)


def add_webhook_delivery(case: ApiTestCase) -> None:
    make_delivery(case.alpha_objects["webhook"])


# Route key -> how to add one more row (with its related rows) visible to alice.
GROW: dict[str, Callable[[ApiTestCase], None]] = {
    "tenant": add_tenant,
    "mailbox": add_mailbox,
    "message": add_message,
    "policy": add_tenant,  # a new tenant comes with its five policies
    "retraction": add_attempts,
    "retraction-job": add_job,
    "audit-event": add_audit_event,
    "webhook": add_webhook,
    "webhook-delivery": add_webhook_delivery,
}


class QueryCountTests(ApiTestCase):
    def count(self, url: str) -> tuple[int, int]:
        self.client.get(url)  # warm up caches (content types, session)
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return len(queries), len(response.json().get("results", [response.json()]))

    def assert_constant(self, url: str, grow: Callable[[ApiTestCase], None]) -> None:
        self.client.force_login(self.alice)
        for _ in range(2):
            grow(self)
        few, few_rows = self.count(url)
        for _ in range(4):
            grow(self)
        many, many_rows = self.count(url)
        self.assertGreater(many_rows, few_rows, "the second request must list more rows")
        self.assertEqual(
            many, few, f"{url}: {few} queries for {few_rows} rows, {many} for {many_rows}"
        )

    def test_it_has_a_row_builder_for_every_list_endpoint(self) -> None:
        lists = {r.key for r in api_routes() if not r.is_detail and "get" in r.methods}
        lists -= SUMMARIES  # one summary, not a list: tests/metrics guards its query count
        self.assertEqual(lists - set(GROW), set(), "add these endpoints to GROW")

    def test_it_keeps_list_query_counts_constant(self) -> None:
        routes: list[Route] = [
            r
            for r in api_routes()
            if not r.is_detail
            and "get" in r.methods
            and r.key not in SUMMARIES
            and r.name not in EXPORTS
        ]
        for route in routes:
            with self.subTest(route=str(route)):
                self.assert_constant(route.url(), GROW[route.key])

    def test_it_keeps_message_detail_query_count_constant(self) -> None:
        message = self.alpha_objects["message"]
        url = f"/api/v1/messages/{message.pk}/"
        self.client.force_login(self.alice)
        self.client.get(url)
        with CaptureQueriesContext(connection) as few:
            self.client.get(url)
        for _ in range(3):
            add_attempts(self, message)
        with CaptureQueriesContext(connection) as many:
            body = self.client.get(url).json()
        self.assertEqual(len(body["action_log"]), 1 + 3 * 4)
        self.assertEqual(len(many), len(few))

    def test_it_lists_messages_in_a_bounded_number_of_queries(self) -> None:
        self.client.force_login(self.alice)
        add_message(self)
        # session + user + page + deliveries prefetch, and nothing per row.
        with self.assertNumQueries(4):
            self.client.get("/api/v1/messages/")
